import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { EventLoopHealth } from './event-loop.health.js';
import { HealthChecks } from './health-checks.js';
import { HealthController } from './health.controller.js';
import { healthMetricProviders } from './health.metrics.js';
import { LifecycleHealth } from './lifecycle.health.js';
import { StoreHealth } from './store.health.js';

/** /healthz, /readyz and /startupz. */
@Module({})
export class HealthModule {
  /** `items`: the module that exports the repository port (ItemsModule.forRoot, as the app imports it). */
  static forRoot(items: DynamicModule): DynamicModule {
    return {
      module: HealthModule,
      // Terminus would log an error on every failing probe (each second while draining); the controller
      // logs changes instead.
      imports: [TerminusModule.forRoot({ logger: false }), items],
      controllers: [HealthController],
      providers: [EventLoopHealth, StoreHealth, LifecycleHealth, HealthChecks, ...healthMetricProviders],
    };
  }
}
