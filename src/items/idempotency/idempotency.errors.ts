import { DomainError } from '../../common/domain-error.js';

/**
 * Another request with this Idempotency-Key has not finished yet (IETF draft
 * draft-ietf-httpapi-idempotency-key-header, "concurrent requests"): the client retries later and then
 * gets its answer replayed.
 */
export class IdempotencyKeyInUseError extends DomainError {
  readonly code = 'IDEMPOTENCY_KEY_IN_USE';
  readonly kind = 'conflict';
  constructor() {
    super('A request with this Idempotency-Key is still being processed; retry once it has been answered.');
  }
}

/** The Idempotency-Key was used before with another request body: a client bug, never replayed. */
export class IdempotencyKeyMismatchError extends DomainError {
  readonly code = 'IDEMPOTENCY_KEY_MISMATCH';
  readonly kind = 'unprocessable';
  constructor() {
    super('This Idempotency-Key was used with another request body; use a new key for a new request.');
  }
}
