import { Inject, Injectable, Logger, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import { flushLogs } from './logging.module.js';
import { MetricsServer } from './metrics-server.js';
import { TRACING, type Tracing } from './tracing.js';

/** How long the last spans get to reach the tracing backend; within main.ts's close budget. */
const TRACING_CLOSE_TIMEOUT_MS = 2_000;

/**
 * The last steps of the shutdown (docs/ARCHITECTURE.md, "Shutdown"), in this order, in one hook so that
 * the order is this one (Nest runs the hooks of one module's providers concurrently). It runs after the
 * store has closed: ObservabilityModule is global, and Nest runs global modules' `onApplicationShutdown`
 * after the others.
 * 1. the metrics port closes (a scrape during the drain still saw the final figures);
 * 2. the last spans are exported (bounded: a tracing backend that is down must not hold the exit up);
 * 3. the closing line, with the exit code the shutdown is heading for;
 * 4. the logs flush, so that the closing line is not lost when the process exits.
 */
@Injectable()
export class TelemetryShutdown implements OnApplicationShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(
    @Inject(TRACING) private readonly tracing: Tracing,
    private readonly lifecycle: Lifecycle,
    @Optional() private readonly metricsServer?: MetricsServer,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.metricsServer?.close();
    await this.closeTracing();
    this.logger.log({
      msg: 'shutdown complete',
      exit_code: this.lifecycle.exitCode,
      duration_ms: this.lifecycle.shutdownDurationMs,
    });
    await flushLogs();
  }

  private async closeTracing(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), TRACING_CLOSE_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([this.tracing.shutdown(), timedOut]);
      if (outcome === 'timeout')
        this.logger.warn({
          msg: 'tracing exporter did not flush in time; spans lost',
          timeout_ms: TRACING_CLOSE_TIMEOUT_MS,
        });
    } catch (err) {
      // Lost spans are no reason to report a failed shutdown: every request was answered.
      this.logger.warn({
        msg: 'tracing exporter failed to flush',
        err: err instanceof Error ? err.message : String(err),
      });
    } finally {
      clearTimeout(timer);
    }
  }
}
