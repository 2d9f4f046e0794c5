import { applyDecorators } from '@nestjs/common';
import {
  ApiExtraModels,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  ApiSchema,
  getSchemaPath,
  type HeaderObject,
  type ReferenceObject,
} from '@nestjs/swagger';
import type { FieldError } from './domain-error.js';
import type { ProblemDetails } from './problem-details.filter.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/**
 * Every `code` a problem can carry: the document's `ProblemCode` enum is made from this list, and each
 * place that emits a code takes the `ProblemCode` type, so an unlisted code does not compile. Clients
 * switch on these; add one here when the service learns a new way to fail, and never rename one.
 * test/problem-codes.e2e-spec.ts compares this list, as served, with the codes found in the source.
 */
export const PROBLEM_CODES = [
  // 400
  'VALIDATION_FAILED',
  'MALFORMED_BODY',
  'MALFORMED_URL',
  'MALFORMED_REQUEST',
  'INVALID_CURSOR',
  'INVALID_PRECONDITION',
  // 401, 403, 404, 405
  'UNAUTHENTICATED',
  'ADMIN_DISABLED',
  'ITEM_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  // 408, 409, 412, 413, 414, 415, 422, 429, 431
  'REQUEST_TIMEOUT',
  'ITEM_ALREADY_EXISTS',
  'IDEMPOTENCY_KEY_IN_USE',
  'ITEM_VERSION_MISMATCH',
  'BODY_TOO_LARGE',
  'URI_TOO_LONG',
  'UNSUPPORTED_MEDIA_TYPE',
  'IDEMPOTENCY_KEY_MISMATCH',
  'RATE_LIMITED',
  'HEADERS_TOO_LARGE',
  // any 4xx the framework raises that none of the codes above is for
  'CLIENT_ERROR',
  // 500, 503
  'INTERNAL_ERROR',
  'STORE_UNAVAILABLE',
  'NOT_LIVE',
  'NOT_READY',
  'NOT_STARTED',
] as const;

/** A problem's `code`: one of PROBLEM_CODES. */
export type ProblemCode = (typeof PROBLEM_CODES)[number];

/** The OpenAPI shape of a FieldError. */
@ApiSchema({ name: 'FieldError' })
export class FieldErrorSchema implements FieldError {
  @ApiProperty({ description: 'The field, as named in the request.', example: 'name' })
  field!: string;

  @ApiProperty({ example: 'name must be 1-200 Unicode characters after trimming, with no unpaired surrogate' })
  message!: string;
}

/** The OpenAPI shape of every error response: RFC 9457 problem details with this API's members. */
@ApiSchema({ name: 'Problem' })
export class ProblemDetailsSchema implements ProblemDetails {
  @ApiProperty({
    description: 'A URN naming the kind of problem; stable, one per `code`.',
    example: 'urn:items-service:problem:item-not-found',
  })
  type!: string;

  @ApiProperty({ description: 'The HTTP reason phrase of `status`.', example: 'Not Found' })
  title!: string;

  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599, example: 404 })
  status!: number;

  @ApiProperty({ description: 'What went wrong, for a person.', example: 'Item "a1" does not exist.' })
  detail!: string;

  @ApiPropertyOptional({ description: 'The request path (cut at 128 characters).', example: '/items/a1' })
  instance?: string;

  @ApiProperty({
    enum: PROBLEM_CODES,
    enumName: 'ProblemCode',
    description: 'What went wrong, for a program: stable and part of the contract; switch on this.',
    example: 'ITEM_NOT_FOUND',
  })
  code!: ProblemCode;

  @ApiProperty({ description: 'The X-Request-Id of the request: quote it when reporting a problem.' })
  request_id!: string;

  @ApiPropertyOptional({ description: 'The trace of the request, when tracing is on.', pattern: '^[0-9a-f]{32}$' })
  trace_id?: string;

  @ApiPropertyOptional({ type: [FieldErrorSchema], description: 'Field by field, for VALIDATION_FAILED.' })
  errors?: FieldErrorSchema[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'object' },
    description: 'A failed health probe: each check with its status, and why it is down.',
  })
  checks?: Record<string, unknown>;
}

/** The response headers of the API, defined once under components.headers. */
export const HEADER_COMPONENTS: Record<string, HeaderObject> = {
  'X-Request-Id': {
    description: "The request's id (the client's own when it sent a well-formed one); in every log line.",
    schema: { type: 'string' },
    required: true,
  },
  'RateLimit-Limit': {
    description: 'Requests this client may make per window (absent when rate limiting is off).',
    schema: { type: 'integer' },
  },
  'RateLimit-Remaining': { description: 'Requests left in the current window.', schema: { type: 'integer' } },
  'RateLimit-Reset': { description: 'Seconds until the window resets.', schema: { type: 'integer' } },
  ETag: {
    description: 'The version of the item, for If-Match on a later PATCH or DELETE.',
    schema: { type: 'string', example: '"3"' },
    required: true,
  },
  Location: {
    description: 'The path of the new item.',
    schema: { type: 'string', example: '/items/a1' },
    required: true,
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' }, required: true },
  'WWW-Authenticate': {
    description: 'How to authenticate: `Bearer realm="items-service"`.',
    schema: { type: 'string' },
    required: true,
  },
};

type HeaderRefs = Record<string, ReferenceObject>;
const refs = (...names: Array<keyof typeof HEADER_COMPONENTS>): HeaderRefs =>
  Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));

/** Headers a response may carry, by purpose, for `@ApiResponse({ headers })`. */
export const RESPONSE_HEADERS = {
  requestId: refs('X-Request-Id'),
  rateLimit: refs('RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'),
  etag: refs('ETag'),
  location: refs('Location'),
  retryAfter: refs('Retry-After'),
  wwwAuthenticate: refs('WWW-Authenticate'),
} satisfies Record<string, HeaderRefs>;

const PROBLEMS: Record<number, { description: string; headers?: HeaderRefs }> = {
  400: { description: 'The request is malformed: its body, query or path (VALIDATION_FAILED, MALFORMED_BODY...).' },
  401: {
    description: 'An API key is required and was missing or wrong (UNAUTHENTICATED).',
    headers: RESPONSE_HEADERS.wwwAuthenticate,
  },
  403: { description: 'Refused (ADMIN_DISABLED).' },
  404: { description: 'No such item (ITEM_NOT_FOUND).' },
  409: {
    description:
      'The id is taken (ITEM_ALREADY_EXISTS), concurrent writes kept colliding, or a request with this Idempotency-Key is still in flight (IDEMPOTENCY_KEY_IN_USE).',
  },
  412: { description: 'If-Match does not match the current ETag (ITEM_VERSION_MISMATCH): fetch the item again.' },
  413: { description: 'The body is larger than the limit (BODY_TOO_LARGE).' },
  415: { description: 'The body is not JSON (UNSUPPORTED_MEDIA_TYPE).' },
  414: { description: 'The id in the path is far too long (URI_TOO_LONG).' },
  422: { description: 'This Idempotency-Key was used with another request body (IDEMPOTENCY_KEY_MISMATCH).' },
  429: {
    description: "This client's request budget is spent (RATE_LIMITED); retry after Retry-After seconds.",
    headers: { ...RESPONSE_HEADERS.retryAfter, ...RESPONSE_HEADERS.rateLimit },
  },
  500: { description: 'An unexpected error (INTERNAL_ERROR); quote the request id.' },
  503: {
    description:
      'The store does not answer now (STORE_UNAVAILABLE: the JSON file after a failed write, or PostgreSQL unreachable or too slow); nothing was changed, retry after Retry-After.',
    headers: RESPONSE_HEADERS.retryAfter,
  },
};

/** Documents the problem+json responses an operation can give, by status. */
export function ApiProblems(...statuses: Array<keyof typeof PROBLEMS>): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ProblemDetailsSchema),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: PROBLEMS[status]!.description,
        headers: { ...RESPONSE_HEADERS.requestId, ...PROBLEMS[status]!.headers },
        content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: getSchemaPath(ProblemDetailsSchema) } } },
      }),
    ),
  );
}
