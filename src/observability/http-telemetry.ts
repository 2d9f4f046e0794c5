import type { ConfigType } from '@nestjs/config';
import { Inject, Injectable } from '@nestjs/common';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import type { Counter, Histogram } from 'prom-client';
import type { RequestTelemetry } from '../common/request-telemetry.js';
import { appConfig, metricsConfig, tracingConfig } from '../config/config.namespaces.js';
import { METRICS } from './metrics.js';
import { SERVICE_NAME } from './tracing.js';

/** The route label of a request that matched no route: one value, whatever path was asked for. */
export const UNMATCHED_ROUTE = 'unmatched';
/**
 * The status label of a request whose connection closed before its response was sent (nginx's 499,
 * "client closed request"): counted, logged and ended like the others, never as the 200 Fastify
 * had not sent yet.
 */
const ABORTED_STATUS = 499;
/** Methods outside this set are one label value, as OpenTelemetry's semantic conventions do. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const OTHER_METHOD = '_OTHER';
/** Polled every few seconds by orchestrators and Prometheus: their request lines are logged at debug. */
const PROBE_ROUTES = new Set(['/healthz', '/readyz', '/startupz', '/metrics']);

interface Series {
  requests: Counter.Internal;
  duration: Histogram.Internal<string>;
}

/**
 * Logs, metrics and the server span of every HTTP request, from a Fastify hook rather than a Nest
 * interceptor or pino-http: an interceptor adds an RxJS pipeline to every request, and pino-http a
 * child logger and full request/response serializers (docs/ARCHITECTURE.md, "A request's path"). One line per request,
 * written when its connection is done with it (response sent, or client gone), with the fields
 * operators search by.
 */
@Injectable()
export class HttpTelemetry {
  private readonly tracer?: Tracer;
  private readonly metricsEnabled: boolean;
  /** Route templates by Fastify's route path: `/items/:id` becomes `/items/{id}`, as in the OpenAPI document. */
  private readonly templates = new Map<string, string>();
  /** Bound label sets, so that recording a request does not hash its labels again. */
  private readonly series = new Map<string, Series>();

  constructor(
    @InjectMetric(METRICS.httpRequests) private readonly requests: Counter<string>,
    @InjectMetric(METRICS.httpDuration) private readonly duration: Histogram<string>,
    @Inject(appConfig.KEY) app: ConfigType<typeof appConfig>,
    @Inject(metricsConfig.KEY) metrics: ConfigType<typeof metricsConfig>,
    @Inject(tracingConfig.KEY) tracing: ConfigType<typeof tracingConfig>,
  ) {
    if (tracing.enabled) this.tracer = trace.getTracer(SERVICE_NAME, app.version);
    this.metricsEnabled = metrics.enabled;
  }

  /** Adds the hooks; before the app's routes are registered (`app.init()`). */
  register(fastify: FastifyInstance): void {
    fastify.decorateRequest('telemetry', null);
    fastify.addHook('onRequest', (request, reply, done) => {
      this.start(request, reply);
      done();
    });
    if (this.tracer) {
      // The handler runs in the server span's context, so that the spans it starts are its children.
      // Not in onRequest: the body is read from socket events, outside any context set there.
      fastify.addHook('preHandler', (request, _reply, done) => {
        const active = request.telemetry?.context;
        if (active) context.with(active, done);
        else done();
      });
    }
  }

  /**
   * A request Node's parser refused before Fastify saw it (malformed, headers too large, too slow),
   * answered by the client error handler: logged with the id its problem body carries, so that a
   * client's report can be found. Not counted: it has no method, route or duration to count it by.
   */
  recordRejected(status: number, requestId: string): void {
    PinoLogger.root.info({
      msg: 'request rejected',
      request_id: requestId,
      route: UNMATCHED_ROUTE,
      status_code: status,
    });
  }

  /**
   * Starts recording a request: from the onRequest hook, and from `frameworkErrors` for a request
   * Fastify refuses before routing (a malformed URL, an over-long path segment), answered outside
   * every hook.
   */
  start(request: FastifyRequest, reply: FastifyReply): void {
    void reply.header('x-request-id', request.id);
    const method = KNOWN_METHODS.has(request.method) ? request.method : OTHER_METHOD;
    const route = this.routeOf(request);
    // On 'close', not in Fastify's onResponse hook: that runs only when the response finished, and a
    // request whose client went away (a load balancer's timeout) must be counted and logged too.
    reply.raw.once('close', () => this.finish(request, reply));
    if (!this.tracer) {
      request.telemetry = { startedAt: performance.now(), method, route };
      return;
    }
    // W3C traceparent/tracestate from the caller: the server span joins the caller's trace.
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = this.tracer.startSpan(
      route === UNMATCHED_ROUTE ? method : `${method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'http.route': route,
          'url.scheme': 'http',
          'items.request_id': request.id,
        },
      },
      parent,
    );
    request.telemetry = {
      startedAt: performance.now(),
      method,
      route,
      span,
      // Only a sampled request needs its context carried into the handler: the store's spans are
      // created under a recording span only (most requests are not sampled, and pay for none of it).
      context: span.isRecording() ? trace.setSpan(parent, span) : undefined,
    };
  }

  private finish(request: FastifyRequest, reply: FastifyReply): void {
    const telemetry: RequestTelemetry | null = request.telemetry;
    if (!telemetry) return;
    const durationMs = performance.now() - telemetry.startedAt;
    // Ended, not finished: a response cut while being sent was still answered, with its status.
    const aborted = !reply.raw.writableEnded;
    const status = aborted ? ABORTED_STATUS : reply.statusCode;
    if (this.metricsEnabled) {
      const series = this.seriesFor(telemetry.method, telemetry.route, status);
      series.requests.inc();
      series.duration.observe(durationMs / 1000);
    }

    const { span } = telemetry;
    const spanContext = span?.spanContext();
    if (span) {
      if (aborted) {
        span.setAttribute('error.type', 'aborted');
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'the connection closed before the response was sent' });
      } else {
        span.setAttribute('http.response.status_code', status);
        // A 4xx is the client's error, not the server's (OpenTelemetry's HTTP semantic conventions).
        // A 5xx's status may be set already, with the exception's name (the problem filter).
        if (status >= 500 && !telemetry.errorRecorded) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    }

    const logger = PinoLogger.root;
    const level = PROBE_ROUTES.has(telemetry.route) ? 'debug' : status >= 500 && !aborted ? 'error' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    const length = reply.getHeader('content-length');
    logger[level]({
      msg: aborted ? 'request aborted' : 'request completed',
      request_id: request.id,
      trace_id: spanContext?.traceId,
      span_id: spanContext?.spanId,
      method: telemetry.method,
      route: telemetry.route,
      status_code: status,
      duration_ms: Math.round(durationMs * 100) / 100,
      bytes: length === undefined || aborted ? 0 : Number(length),
    });
  }

  private routeOf(request: FastifyRequest): string {
    if (request.is404) return UNMATCHED_ROUTE;
    const path = request.routeOptions.url;
    if (!path) return UNMATCHED_ROUTE;
    let template = this.templates.get(path);
    if (template === undefined) {
      template = path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      this.templates.set(path, template);
    }
    return template;
  }

  private seriesFor(method: string, route: string, status: number): Series {
    const key = `${method} ${route} ${status}`;
    let series = this.series.get(key);
    if (!series) {
      const labels = { method, route, status_code: String(status) };
      series = { requests: this.requests.labels(labels), duration: this.duration.labels(labels) };
      this.series.set(key, series);
    }
    return series;
  }
}
