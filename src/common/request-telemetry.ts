import { type Context, type Span, SpanStatusCode } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';

/**
 * What the observability hooks keep about a request between its arrival and its end; read here by the
 * problem filter, which puts the trace id in error bodies and records server errors on the span.
 */
export interface RequestTelemetry {
  readonly startedAt: number;
  readonly method: string;
  readonly route: string;
  readonly span?: Span;
  /** The context with the server span, in which the handler runs; sampled requests only. */
  readonly context?: Context;
  /** A server error was recorded on the span, with its exception: its status is set already. */
  errorRecorded?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    telemetry: RequestTelemetry | null;
  }
}

/** The trace id of the request's server span, for the problem details body; none when tracing is off. */
export function traceIdOf(request: FastifyRequest): string | undefined {
  return request.telemetry?.span?.spanContext().traceId;
}

/** Records a server error, with its exception, on the request's span. */
export function recordErrorOnSpan(request: FastifyRequest, error: unknown): void {
  const telemetry = request.telemetry;
  if (!telemetry?.span) return;
  if (error instanceof Error) telemetry.span.recordException(error);
  telemetry.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : 'error' });
  telemetry.errorRecorded = true;
}
