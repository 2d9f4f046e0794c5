import type { INestApplication, LoggerService } from '@nestjs/common';
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import { setImmediate, setTimeout as delay } from 'node:timers/promises';
import { EXIT_CODES } from './exit-codes.js';
import type { InFlightRequests } from './in-flight-requests.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * How long a connection with no request in progress may stay open once the server has stopped
 * accepting. Closing it at once would reset a keep-alive client whose next request is already on the
 * wire, or a connection accepted a moment ago whose first request has not been read yet; within this
 * grace they get their answer, with `Connection: close`.
 */
const IDLE_CONNECTION_GRACE_MS = 1_000;

export type ShutdownReason = { signal: NodeJS.Signals } | { fatal: Error };

/** When several things go wrong, the exit code reports the one the supervisor most needs to see. */
const EXIT_CODE_SEVERITY: readonly number[] = [
  EXIT_CODES.ok,
  EXIT_CODES.failed,
  EXIT_CODES.shutdownTimeout,
  EXIT_CODES.ioError,
];

/** How long the last spans get to reach the tracing backend; within main.ts's 5 s close budget. */
const TRACING_CLOSE_TIMEOUT_MS = 2_000;

export interface GracefulShutdownOptions {
  app: INestApplication;
  lifecycle: Lifecycle;
  inFlight: InFlightRequests;
  logger: LoggerService;
  drainDelayMs: number;
  timeoutMs: number;
  /** Exports the spans still buffered; after the app has closed, so that its last spans are in. */
  closeTracing: () => Promise<void>;
  /** Writes out buffered log lines; the last step, so that the final line is not lost. */
  flushLogs: () => Promise<void>;
}

/**
 * The shutdown sequence (docs/ARCHITECTURE.md, "Shutdown"), run once whatever asks for it (a signal, a fatal
 * store error), resolving with the exit code:
 * 1. readiness fails at once, everything else keeps serving;
 * 2. after the drain delay (none for a fatal error), stop accepting connections and ask every client
 *    to close its connection after its response;
 * 3. wait for in-flight requests up to the timeout, then cut what is left (and say so);
 * 4. `app.close()`: Nest's shutdown hooks, in which the store finishes queued writes and closes;
 * 5. export the last spans (bounded: a tracing backend that is down must not hold the exit up);
 * 6. flush the logs.
 *
 * The HTTP server is stopped here, before `app.close()`, not by Nest: Nest runs the providers'
 * `onModuleDestroy` and `beforeApplicationShutdown` hooks (Terminus fails every check from then on,
 * liveness included) before it closes the server, and it waits for that without a timeout.
 */
export class GracefulShutdown {
  private running?: Promise<number>;
  private code: number = EXIT_CODES.ok;

  constructor(private readonly options: GracefulShutdownOptions) {}

  get started(): boolean {
    return this.running !== undefined;
  }

  /** Starts the shutdown, or joins the one under way; resolves with the exit code. */
  run(reason: ShutdownReason): Promise<number> {
    if ('fatal' in reason) this.raise(EXIT_CODES.ioError);
    this.running ??= this.sequence(reason);
    return this.running;
  }

  /** The exit code as things stand: what to exit with if the sequence cannot finish. */
  get exitCode(): number {
    return this.code;
  }

  /** The longest the sequence can take before it cuts requests; a supervisor's grace must exceed it. */
  get budgetMs(): number {
    return this.options.drainDelayMs + this.options.timeoutMs;
  }

  private async sequence(reason: ShutdownReason): Promise<number> {
    const { app, lifecycle, inFlight, logger } = this.options;
    const started = performance.now();
    lifecycle.beginDraining();
    const drainDelayMs = 'signal' in reason ? this.options.drainDelayMs : 0;
    logger.log({
      msg: 'shutting down',
      ...('signal' in reason ? { signal: reason.signal } : { cause: 'fatal error' }),
      drain_delay_ms: drainDelayMs,
      timeout_ms: this.options.timeoutMs,
      in_flight: inFlight.count,
    });
    if (drainDelayMs > 0) await delay(drainDelayMs);

    const server = app.getHttpServer() as Server;
    const lateConnections = await acceptBacklog(server);
    lifecycle.beginStopping();
    inFlight.closeConnectionsAfterResponse();
    const closed = stopAccepting(server);
    logger.log({ msg: 'stopped accepting connections', in_flight: inFlight.count, late_connections: lateConnections });

    const cut = await this.waitForConnections(server, closed);
    if (cut) {
      this.raise(EXIT_CODES.shutdownTimeout);
      logger.warn({
        msg: 'shutdown timeout expired: cut the requests still in flight',
        requests_cut: cut.requests,
        connections_closed: cut.connections,
        timeout_ms: this.options.timeoutMs,
      });
    }

    try {
      await app.close();
    } catch (err) {
      this.raise(EXIT_CODES.failed);
      logger.error({ msg: 'shutdown step failed', err: err instanceof Error ? err.message : String(err) });
    }
    await this.closeTracing();
    logger.log({
      msg: 'shutdown complete',
      exit_code: this.code,
      duration_ms: Math.round(performance.now() - started),
    });
    await this.options.flushLogs();
    return this.code;
  }

  private async closeTracing(): Promise<void> {
    const { logger } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), TRACING_CLOSE_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([this.options.closeTracing(), timedOut]);
      if (outcome === 'timeout')
        logger.warn({
          msg: 'tracing exporter did not flush in time; spans lost',
          timeout_ms: TRACING_CLOSE_TIMEOUT_MS,
        });
    } catch (err) {
      // Lost spans are no reason to report a failed shutdown: every request was answered.
      logger.warn({ msg: 'tracing exporter failed to flush', err: err instanceof Error ? err.message : String(err) });
    } finally {
      clearTimeout(timer);
    }
  }

  private raise(code: number): void {
    if (EXIT_CODE_SEVERITY.indexOf(code) > EXIT_CODE_SEVERITY.indexOf(this.code)) this.code = code;
  }

  /**
   * Resolves once every connection has closed, or undefined; after the timeout, closes what is left
   * and resolves with what it cut.
   */
  private async waitForConnections(
    server: Server,
    closed: Promise<void>,
  ): Promise<{ requests: number; connections: number } | undefined> {
    const { inFlight, timeoutMs } = this.options;
    const grace = setTimeout(() => inFlight.closeIdleConnections(), Math.min(IDLE_CONNECTION_GRACE_MS, timeoutMs));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<true>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
    try {
      if ((await Promise.race([closed, timedOut])) !== true) return undefined;
      const requests = inFlight.count;
      const connections = await connectionCount(server);
      server.closeAllConnections();
      await closed;
      return { requests, connections };
    } finally {
      clearTimeout(grace);
      clearTimeout(timer);
    }
  }
}

/** A turn of the event loop this short did next to nothing: little can have queued up behind it. */
const QUIET_TURN_MS = 2;
/** Under load no turn is quiet: then the listener closes after this anyway. */
const MAX_BACKLOG_WAIT_MS = 250;

/**
 * Closing the listening socket resets the connections the kernel has completed but the process has
 * not accepted yet; their clients see ECONNRESET for a request they sent in time. A turn of the event
 * loop accepts what is queued when it polls, but connections that arrive while it then runs handlers
 * (milliseconds when busy) wait for the next poll. So turns go on until one is quiet, accepting nothing
 * and taking under QUIET_TURN_MS; the close then runs first in that turn's check phase, right after its
 * poll, which leaves a window of microseconds. Resolves with the connections accepted meanwhile.
 */
async function acceptBacklog(server: Server): Promise<number> {
  let accepted = 0;
  const count = () => accepted++;
  server.on('connection', count);
  try {
    const started = performance.now();
    let last = started;
    for (;;) {
      const before = accepted;
      await setImmediate();
      const now = performance.now();
      const quiet = accepted === before && now - last < QUIET_TURN_MS;
      last = now;
      if (quiet || now - started > MAX_BACKLOG_WAIT_MS) break;
    }
  } finally {
    server.off('connection', count);
  }
  return accepted;
}

/**
 * Stops listening; resolves once the last connection has closed. `http.Server#close` would also close
 * every idle connection at once (see IDLE_CONNECTION_GRACE_MS), and stop enforcing the header and
 * request timeouts, so that a slow client could hold the shutdown up; the base class's `close` only
 * stops listening.
 */
function stopAccepting(server: Server): Promise<void> {
  return new Promise((resolve) => NetServer.prototype.close.call(server, () => resolve()));
}

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, count) => resolve(err ? 0 : count)));
}
