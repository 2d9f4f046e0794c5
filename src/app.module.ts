import { type DynamicModule, Module } from '@nestjs/common';
import type { Configuration } from './config/config.module.js';
import { HealthModule } from './health/health.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { ItemsModule } from './items/items.module.js';
import type { InFlightRequests } from './lifecycle/in-flight-requests.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { RateLimitModule } from './rate-limit/rate-limit.module.js';

@Module({})
export class AppModule {
  static forRoot({ config, module: configModule }: Configuration, inFlight: InFlightRequests): DynamicModule {
    return {
      module: AppModule,
      imports: [
        configModule,
        ObservabilityModule.forRoot(config, inFlight),
        LifecycleModule,
        RateLimitModule.forRoot(config),
        ItemsModule,
        HealthModule,
      ],
    };
  }
}
