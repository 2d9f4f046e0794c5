import type { ConfigType } from '@nestjs/config';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { register } from 'prom-client';
import { httpConfig, metricsConfig } from '../config/config.namespaces.js';

/**
 * `/metrics` on METRICS_PORT, and nothing else there: metrics stay off the API's public port (a
 * Service or NetworkPolicy can expose one and not the other). A bare node:http server, since it serves
 * one read-only path to one client, Prometheus. TelemetryShutdown closes it after the API's server and
 * the store, so that a scrape during the drain still sees the final figures.
 *
 * Not @willsoto/nestjs-prometheus's controller: the module can only mount its controller on this app's
 * own HTTP server, and a second port would take a second Nest application. The metrics themselves are
 * still the module's (its providers register them, in prom-client's default registry); this server
 * only writes out that same registry.
 */
@Injectable()
export class MetricsServer implements OnModuleInit {
  private readonly logger = new Logger('MetricsServer');
  private readonly server: Server;

  constructor(
    @Inject(httpConfig.KEY) private readonly http: ConfigType<typeof httpConfig>,
    @Inject(metricsConfig.KEY) private readonly metrics: ConfigType<typeof metricsConfig>,
  ) {
    this.server = createServer((request, response) => {
      const path = (request.url ?? '').split('?', 1)[0];
      if (path !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: see /metrics\n');
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response
          .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
          .end('Method not allowed: GET or HEAD /metrics\n');
        return;
      }
      register.metrics().then(
        (body) => response.writeHead(200, { 'content-type': register.contentType }).end(body),
        (err: unknown) => {
          this.logger.error({
            msg: 'metrics collection failed',
            err: err instanceof Error ? err.message : String(err),
          });
          response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
        },
      );
    });
    this.server.keepAliveTimeout = http.keepAliveTimeoutMs;
    this.server.headersTimeout = http.headersTimeoutMs;
  }

  async onModuleInit(): Promise<void> {
    const { host } = this.http;
    const port = this.metrics.port!;
    this.server.listen(port, host);
    try {
      await once(this.server, 'listening');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new Error(`METRICS_PORT ${port} cannot be listened on (${code})`, { cause: err });
    }
    this.logger.log({ msg: 'metrics listening', address: `${host}:${port}` });
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
