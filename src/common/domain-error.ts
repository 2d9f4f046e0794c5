import type { ProblemCode } from './problem-details.schema.js';

/**
 * What went wrong, in terms the API's clients understand, independent of HTTP. The problem filter
 * maps each kind to a status; the code is stable and part of the contract.
 */
export type DomainErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'precondition_failed'
  | 'unprocessable'
  | 'rate_limited'
  | 'unavailable';

/** A field-level validation message. */
export interface FieldError {
  field: string;
  message: string;
}

export abstract class DomainError extends Error {
  abstract readonly code: ProblemCode;
  abstract readonly kind: DomainErrorKind;
  /** Field-level details, for `invalid` errors. */
  readonly errors?: readonly FieldError[];
  /** Per-check results, for a failed health probe. */
  readonly checks?: Readonly<Record<string, unknown>>;
}

/** The request itself is malformed: its body, query or path parameters. */
export class RequestValidationError extends DomainError {
  readonly code = 'VALIDATION_FAILED';
  readonly kind = 'invalid';
  constructor(
    message: string,
    override readonly errors: readonly FieldError[] = [],
  ) {
    super(message);
  }
}
