import { type DynamicModule, Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import type { AppConfig } from '../config/app-config.js';
import { ITEMS_CONDITION_OBSERVER } from '../items/condition-observer.js';
import { STORE_OBSERVER } from '../items/json-file/store-observer.js';
import { ITEMS_REPOSITORY_DECORATOR, type ItemsRepositoryDecorator } from '../items/items.repository.js';
import { ITEMS_DATABASE_OBSERVER } from '../items/postgres/items-database.js';
import { InstrumentedItemsRepository } from './instrumented-items.repository.js';
import { HttpTelemetry } from './http-telemetry.js';
import { LogLevelController } from './log-level.controller.js';
import { LoggingModule } from './logging.module.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsServer } from './metrics-server.js';
import { ensureDefaultMetrics, metricProviders } from './metrics.js';
import { poolMetricProviders } from './pool-metrics.js';
import { StoreTelemetry } from './store-telemetry.js';
import { TelemetryShutdown } from './telemetry-shutdown.js';
import { TRACING, TRACING_OFF, type Tracing } from './tracing.js';

/**
 * Logs, metrics and traces for the whole app: the HTTP hooks, the store's telemetry, `/metrics` (on
 * the API's port, or alone on METRICS_PORT), the run-time log level, and the shutdown's last steps.
 */
@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(config: AppConfig, tracing: Tracing = TRACING_OFF): DynamicModule {
    const { enabled } = config.metrics;
    if (enabled) ensureDefaultMetrics();
    const ownPort = config.metrics.port !== undefined;
    return {
      module: ObservabilityModule,
      imports: [
        LoggingModule.forRoot(config),
        ...(enabled && !ownPort
          ? [PrometheusModule.register({ controller: MetricsController, defaultMetrics: { enabled: false } })]
          : []),
      ],
      controllers: [LogLevelController],
      providers: [
        { provide: TRACING, useValue: tracing },
        ...metricProviders,
        ...(config.store.driver === 'postgres' ? poolMetricProviders : []),
        HttpTelemetry,
        StoreTelemetry,
        { provide: STORE_OBSERVER, useExisting: StoreTelemetry },
        { provide: ITEMS_DATABASE_OBSERVER, useExisting: StoreTelemetry },
        { provide: ITEMS_CONDITION_OBSERVER, useExisting: StoreTelemetry },
        {
          provide: ITEMS_REPOSITORY_DECORATOR,
          useFactory:
            (telemetry: StoreTelemetry): ItemsRepositoryDecorator =>
            (repository) =>
              new InstrumentedItemsRepository(repository, telemetry),
          inject: [StoreTelemetry],
        },
        ...(ownPort ? [MetricsServer] : []),
        TelemetryShutdown,
      ],
      exports: [
        HttpTelemetry,
        StoreTelemetry,
        STORE_OBSERVER,
        ITEMS_DATABASE_OBSERVER,
        ITEMS_REPOSITORY_DECORATOR,
        ITEMS_CONDITION_OBSERVER,
      ],
    };
  }
}
