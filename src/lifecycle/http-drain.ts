import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import { setImmediate, setTimeout as delay } from 'node:timers/promises';
import { shutdownConfig } from '../config/config.namespaces.js';
import { EXIT_CODES } from './exit-codes.js';
import { InFlightRequests } from './in-flight-requests.js';
import { Lifecycle } from './lifecycle.js';

/**
 * How long a connection with no request in progress may stay open once the server has stopped
 * accepting. Closing it at once would reset a keep-alive client whose next request is already on the
 * wire, or a connection accepted a moment ago whose first request has not been read yet; within this
 * grace they get their answer, with `Connection: close`.
 */
const IDLE_CONNECTION_GRACE_MS = 1_000;

/**
 * The HTTP half of the shutdown (docs/ARCHITECTURE.md, "Shutdown"), in a `beforeApplicationShutdown`
 * hook that runs before Terminus's (shutdown.module.ts):
 * 1. readiness fails at once, everything else keeps serving;
 * 2. after the drain delay (none after a fatal error), stop accepting connections and ask every client
 *    to close its connection after its response;
 * 3. wait for in-flight requests up to the timeout, then cut what is left, say so, and raise the exit
 *    code to 75.
 * Nest then closes the (already closed) Fastify instance and runs `onApplicationShutdown`: the store
 * closes, then traces and logs flush.
 *
 * Why here and not in Nest's own server close (`dispose()`, between the two hooks): Nest closes the
 * server only after every `beforeApplicationShutdown` hook, and Terminus's hook fails every probe,
 * liveness included, from then on; Fastify's close would answer 503 to requests on kept-alive
 * connections, close idle ones at once, and wait for in-flight requests without a timeout.
 */
@Injectable()
export class HttpDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Shutdown');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly lifecycle: Lifecycle,
    private readonly inFlight: InFlightRequests,
    @Inject(shutdownConfig.KEY) private readonly options: ConfigType<typeof shutdownConfig>,
  ) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const { lifecycle, inFlight, logger } = this;
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    lifecycle.beginDraining();
    // An app that never listened (a script, a spec) has nothing to drain.
    if (!server?.listening) return;
    const failure = lifecycle.failure;
    const drainDelayMs = failure ? 0 : this.options.drainDelayMs;
    logger.log({
      msg: 'shutting down',
      ...(signal ? { signal } : failure ? { cause: 'fatal error' } : {}),
      drain_delay_ms: drainDelayMs,
      timeout_ms: this.options.timeoutMs,
      in_flight: inFlight.count,
    });
    if (drainDelayMs > 0) await delay(drainDelayMs);

    const lateConnections = await acceptBacklog(server);
    lifecycle.beginStopping();
    inFlight.closeConnectionsAfterResponse();
    const closed = stopAccepting(server);
    logger.log({ msg: 'stopped accepting connections', in_flight: inFlight.count, late_connections: lateConnections });

    const cut = await this.waitForConnections(server, closed);
    if (cut) {
      lifecycle.raiseExitCode(EXIT_CODES.shutdownTimeout);
      logger.warn({
        msg: 'shutdown timeout expired: cut the requests still in flight',
        requests_cut: cut.requests,
        connections_closed: cut.connections,
        timeout_ms: this.options.timeoutMs,
      });
    }
  }

  /**
   * Resolves once every connection has closed, or undefined; after the timeout, closes what is left
   * and resolves with what it cut.
   */
  private async waitForConnections(
    server: Server,
    closed: Promise<void>,
  ): Promise<{ requests: number; connections: number } | undefined> {
    const { inFlight } = this;
    const { timeoutMs } = this.options;
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
