import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
  MethodNotAllowedException,
  NotFoundException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { AllowedMethods } from './allowed-methods.js';
import { DomainError, type DomainErrorKind, type FieldError } from './domain-error.js';
import type { ProblemCode } from './problem-details.schema.js';
import { recordErrorOnSpan, traceIdOf } from './request-telemetry.js';

const STATUS_BY_KIND: Record<DomainErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
};

/** Safe, fixed wording for the framework's own client errors; their messages can quote the input. */
const FRAMEWORK_ERRORS: Record<string, { code: ProblemCode; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', detail: 'The request body is larger than the limit.' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: 'UNSUPPORTED_MEDIA_TYPE',
    detail: 'The request body must be application/json.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'MALFORMED_BODY', detail: 'The request body is empty.' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'MALFORMED_BODY',
    detail: 'The Content-Length header does not match the body.',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'MALFORMED_BODY', detail: 'The request body is not valid JSON.' },
  FST_ERR_BAD_URL: { code: 'MALFORMED_URL', detail: 'The URL is not valid.' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'URI_TOO_LONG', detail: 'A path segment is too long.' },
};

const HTTP_ERRORS: Record<number, { code: ProblemCode; detail: string }> = {
  404: { code: 'ROUTE_NOT_FOUND', detail: 'No such route.' },
  405: { code: 'METHOD_NOT_ALLOWED', detail: 'The route does not support this method.' },
  413: FRAMEWORK_ERRORS.FST_ERR_CTP_BODY_TOO_LARGE!,
  415: FRAMEWORK_ERRORS.FST_ERR_CTP_INVALID_MEDIA_TYPE!,
};

const PROBLEM_TYPE_PREFIX = 'urn:items-service:problem:';

/** `VALIDATION_FAILED` → `urn:items-service:problem:validation-failed`. */
function problemType(code: ProblemCode): string {
  return PROBLEM_TYPE_PREFIX + code.toLowerCase().replaceAll('_', '-');
}
const MAX_INSTANCE_LENGTH = 128;

/** An RFC 9457 problem details body, with the extension members this API adds. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The request path; absent when the request could not be read that far. */
  instance?: string;
  code: ProblemCode;
  request_id: string;
  /** The trace this request belongs to, when tracing is on: what to search the tracing backend for. */
  trace_id?: string;
  errors?: readonly FieldError[];
  /** A failed health probe: each check with its status, and why it is down. */
  checks?: Readonly<Record<string, unknown>>;
}

/**
 * The one place errors become HTTP responses: every error, from a handler, a pipe or Fastify's body
 * parsing, leaves as `application/problem+json`. Anything unexpected is a 500 that says nothing about
 * its cause to the client and is logged with the request id.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemDetailsFilter');

  /** @param allowedMethods what turns a known path's 404 into a 405; without it, every unrouted request is a 404. */
  constructor(private readonly allowedMethods?: AllowedMethods) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    // Fastify routes by method and path at once: a request it could not route is Nest's 404, also when
    // the path exists with other methods.
    const allowed =
      exception instanceof NotFoundException && request.is404 ? this.allowedMethods?.for(request.url) : undefined;
    if (allowed) void reply.header('allow', allowed.join(', '));
    const problem = problemFor(allowed ? new MethodNotAllowedException() : exception, request);
    if (problem.status >= 500) recordErrorOnSpan(request, exception);
    if (problem.status >= 500 && !(exception instanceof DomainError)) {
      this.logger.error({ msg: 'unhandled error', err: exception, request_id: request.id, trace_id: problem.trace_id });
    }
    sendProblem(reply, problem);
  }
}

/** Writes a problem response, with the headers its status calls for. */
export function sendProblem(reply: FastifyReply, problem: ProblemDetails): void {
  if (problem.status === 503) void reply.header('retry-after', '1');
  if (problem.status === 401) void reply.header('www-authenticate', 'Bearer realm="items-service"');
  void reply
    .status(problem.status)
    .header('x-request-id', problem.request_id)
    .header('content-type', 'application/problem+json')
    .send(problem);
}

/** Maps any thrown value to the problem the client sees. */
export function problemFor(exception: unknown, request: FastifyRequest): ProblemDetails {
  if (exception instanceof DomainError) {
    const status = STATUS_BY_KIND[exception.kind];
    const problem = buildProblem(request, status, exception.code, exception.message, exception.errors);
    if (exception.checks) problem.checks = exception.checks;
    return problem;
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const known = HTTP_ERRORS[status];
    if (known) return buildProblem(request, status, known.code, known.detail);
    return buildProblem(request, status, codeForStatus(status), STATUS_CODES[status] ?? 'Error');
  }
  const clientError = asFrameworkClientError(exception);
  if (clientError) {
    const known = FRAMEWORK_ERRORS[clientError.code ?? ''];
    const status = clientError.statusCode;
    if (known) return buildProblem(request, status, known.code, known.detail);
    return buildProblem(request, status, codeForStatus(status), STATUS_CODES[status] ?? 'Bad request');
  }
  return buildProblem(request, 500, 'INTERNAL_ERROR', 'An unexpected error occurred; quote the request id.');
}

function buildProblem(
  request: FastifyRequest,
  status: number,
  code: ProblemCode,
  detail: string,
  errors?: readonly FieldError[],
): ProblemDetails {
  const path = (request.url ?? '/').split('?', 1)[0]!;
  const problem: ProblemDetails = {
    type: problemType(code),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    instance: path.length > MAX_INSTANCE_LENGTH ? `${path.slice(0, MAX_INSTANCE_LENGTH)}...` : path,
    code,
    request_id: request.id,
  };
  const traceId = traceIdOf(request);
  if (traceId !== undefined) problem.trace_id = traceId;
  if (errors && errors.length > 0) problem.errors = errors;
  return problem;
}

/** What Node's HTTP parser reports before a request exists, as the client is told it. */
const CLIENT_ERRORS: Record<string, { status: number; code: ProblemCode; detail: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'REQUEST_TIMEOUT',
    detail: 'The request was not received in time (HTTP_HEADERS_TIMEOUT, HTTP_REQUEST_TIMEOUT).',
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    code: 'BODY_TOO_LARGE',
    detail: 'The chunk extensions are larger than the limit.',
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'HEADERS_TOO_LARGE',
    detail: 'The request headers are larger than the limit.',
  },
};
const MALFORMED_REQUEST: { status: number; code: ProblemCode; detail: string } = {
  status: 400,
  code: 'MALFORMED_REQUEST',
  detail: 'The request is not valid HTTP/1.1.',
};

/**
 * Fastify's `clientErrorHandler`: a request Node could not parse, or that came too slowly, is answered
 * with a problem like any other before the connection is closed (Fastify's own answer is plain JSON).
 * Returns what was answered, for the logs and metrics; nothing when the client was already gone.
 */
export function sendClientErrorProblem(
  error: Error & { code?: string },
  socket: Socket,
): { status: number; request_id: string } | undefined {
  if (error.code === 'ECONNRESET' || socket.destroyed) return undefined;
  const { status, code, detail } = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED_REQUEST;
  const response = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  // A response already under way cannot be replaced; the connection is only closed.
  if (socket.writable && !response?.headersSent) {
    const problem: ProblemDetails = {
      type: problemType(code),
      title: STATUS_CODES[status]!,
      status,
      detail,
      code,
      request_id: randomUUID(),
    };
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${status} ${problem.title}\r\nContent-Type: application/problem+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${problem.request_id}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
    socket.destroy();
    return { status, request_id: problem.request_id };
  }
  socket.destroy();
  return undefined;
}

/**
 * An error the framework raised with a status no code above is for. Not derived from the status's
 * reason phrase: every code must be one the document lists, so that clients can switch on it.
 */
function codeForStatus(status: number): ProblemCode {
  return status >= 500 ? 'INTERNAL_ERROR' : 'CLIENT_ERROR';
}

interface FrameworkClientError {
  statusCode: number;
  code?: string;
}

/** Fastify's own errors (body parsing, limits) carry a 4xx `statusCode`. */
function asFrameworkClientError(exception: unknown): FrameworkClientError | undefined {
  if (typeof exception !== 'object' || exception === null) return undefined;
  const { statusCode, code } = exception as { statusCode?: unknown; code?: unknown };
  if (typeof statusCode !== 'number' || statusCode < 400 || statusCode > 499) return undefined;
  return { statusCode, code: typeof code === 'string' ? code : undefined };
}
