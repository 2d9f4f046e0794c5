import type { AppConfig } from '../config/app-config.js';

/** Name of the tracer and the `service.name` when OTEL_SERVICE_NAME does not give one. */
export const SERVICE_NAME = 'items-service';

/** Flushes and stops the exporter; the step of the shutdown after the app has closed. */
export interface Tracing {
  shutdown(): Promise<void>;
}

const DISABLED: Tracing = { shutdown: () => Promise.resolve() };

/**
 * Registers the OpenTelemetry tracer provider, before Nest loads (main.ts imports the app only
 * afterwards). Only when tracing is on are the SDK's modules even loaded: with no endpoint, the
 * `@opentelemetry/api` calls stay no-ops and cost next to nothing.
 *
 * No auto-instrumentation: its HTTP instrumentation wraps every request and response (measured here at
 * a third of the throughput); the server span is started in a Fastify hook instead
 * (`http-telemetry.ts`), and the store's spans around its operations.
 *
 * The SDK reads the standard variables itself (sampler and its argument, endpoint, headers, timeout,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*); `loadConfig` has checked them.
 */
export async function startTracing(config: AppConfig): Promise<Tracing> {
  if (!config.tracing.enabled) return DISABLED;
  const [{ NodeTracerProvider, BatchSpanProcessor }, resources, exporterModule] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    config.tracing.protocol === 'http/json'
      ? import('@opentelemetry/exporter-trace-otlp-http')
      : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': SERVICE_NAME, 'service.version': config.app.version }))
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults above.
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new exporterModule.OTLPTraceExporter())],
  });
  // Registers the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  return { shutdown: () => provider.shutdown() };
}
