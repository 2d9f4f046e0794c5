import { diag, DiagLogLevel } from '@opentelemetry/api';
import type { AppConfig } from '../config/app-config.js';

/** Name of the tracer and the `service.name` when OTEL_SERVICE_NAME does not give one. */
export const SERVICE_NAME = 'items-service';

/** The running tracer provider, as main.ts and the shutdown see it. */
export interface Tracing {
  /** From now on the SDK's own warnings and errors (a failed export, dropped spans) go to this log. */
  logTo(logger: DiagSink): void;
  /** Flushes and stops the exporter; a step of the shutdown once the store has closed. */
  shutdown(): Promise<void>;
}

/** Where the SDK's problems are reported: the app's logger once it exists. */
export interface DiagSink {
  warn(message: object): void;
  error(message: object): void;
}

/** The injection token of the running Tracing (main.ts starts it before Nest loads). */
export const TRACING = Symbol('Tracing');

export const TRACING_OFF: Tracing = { logTo: () => undefined, shutdown: () => Promise.resolve() };

/**
 * Registers the OpenTelemetry tracer provider, before Nest loads (main.ts imports the app only
 * afterwards). Only when tracing is on are the SDK's modules even loaded: with no endpoint, the
 * `@opentelemetry/api` calls stay no-ops and cost next to nothing.
 *
 * No auto-instrumentation: its HTTP instrumentation wraps every request and response (on this machine
 * a typical Nest stack went from ~10k to ~6k req/s with it); the server span is started in a Fastify
 * hook instead (`http-telemetry.ts`), and the store's spans around its operations.
 *
 * The SDK reads the standard variables itself (sampler and its argument, endpoint, headers, timeout,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*); `loadConfig` has checked them.
 */
export async function startTracing(config: AppConfig): Promise<Tracing> {
  if (!config.tracing.enabled) return TRACING_OFF;
  // Without a diag logger the SDK says nothing when exports fail (a wrong token, a collector down).
  // Until the app's logger exists, a JSON line on stderr.
  let sink: DiagSink = {
    warn: (line) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...line })}\n`),
    error: (line) => process.stderr.write(`${JSON.stringify({ level: 'error', ...line })}\n`),
  };
  const report =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]) =>
      sink[level]({ msg: 'opentelemetry', detail: [message, ...args.map(describe)].join(' ') });
  diag.setLogger(
    { error: report('error'), warn: report('warn'), info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );
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
  return {
    logTo: (logger) => (sink = logger),
    shutdown: () => provider.shutdown(),
  };
}

/** The SDK hands over errors as plain objects (name, message, code, stack): the first three suffice. */
function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  const { name, message, code } = (value ?? {}) as { name?: unknown; message?: unknown; code?: string | number };
  if (typeof message === 'string')
    return `${typeof name === 'string' ? `${name}: ` : ''}${message}${code === undefined ? '' : ` (${String(code)})`}`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
