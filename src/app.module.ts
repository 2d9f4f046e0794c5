import { type DynamicModule, Module } from '@nestjs/common';
import type { Configuration } from './config/config.module.js';
import { HealthModule } from './health/health.module.js';
import { ItemsModule } from './items/items.module.js';
import type { InFlightRequests } from './lifecycle/in-flight-requests.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { ShutdownModule } from './lifecycle/shutdown.module.js';
import { ObservabilityModule } from './observability/observability.module.js';
import type { Tracing } from './observability/tracing.js';
import { RateLimitModule } from './rate-limit/rate-limit.module.js';

@Module({})
export class AppModule {
  static forRoot(
    { config, module: configModule }: Configuration,
    inFlight: InFlightRequests,
    tracing?: Tracing,
  ): DynamicModule {
    const items = ItemsModule.forRoot(config.store.driver);
    return {
      module: AppModule,
      imports: [
        // Here, not deeper: its drain must run before Terminus's shutdown hook (shutdown.module.ts).
        ShutdownModule,
        configModule,
        ObservabilityModule.forRoot(config, tracing),
        LifecycleModule.forRoot(inFlight),
        RateLimitModule.forRoot(config),
        items,
        HealthModule.forRoot(items),
      ],
    };
  }
}
