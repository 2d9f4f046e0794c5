import { DomainError } from '../common/domain-error.js';

export class ItemNotFoundError extends DomainError {
  readonly code = 'ITEM_NOT_FOUND';
  readonly kind = 'not_found';
  constructor(id: string) {
    super(`Item ${JSON.stringify(id)} does not exist.`);
  }
}

export class ItemAlreadyExistsError extends DomainError {
  readonly code = 'ITEM_ALREADY_EXISTS';
  readonly kind = 'conflict';
  constructor(id: string) {
    super(`Item ${JSON.stringify(id)} already exists.`);
  }
}

/** The client's If-Match does not match the item's current version. */
export class ItemVersionMismatchError extends DomainError {
  readonly code = 'ITEM_VERSION_MISMATCH';
  readonly kind = 'precondition_failed';
  constructor(id: string) {
    super(`Item ${JSON.stringify(id)} has changed since the given ETag; fetch it again.`);
  }
}

/**
 * The store refuses an item its loader would not take as valid (item-rules.ts). The API validates by the
 * same rules first, so a client meets this only through a bug; it is a 400, and nothing is written.
 */
export class InvalidItemError extends DomainError {
  readonly code = 'VALIDATION_FAILED';
  readonly kind = 'invalid';
  constructor(problem: string) {
    super(`The item cannot be stored (${problem}).`);
  }
}

export class InvalidCursorError extends DomainError {
  readonly code = 'INVALID_CURSOR';
  readonly kind = 'invalid';
  constructor() {
    super('The cursor is not one this API returned.');
  }
}

/**
 * The store cannot take writes now (an I/O error, or shutting down). Nothing of the failed write was
 * kept; the client may retry.
 */
export class StoreUnavailableError extends DomainError {
  readonly code = 'STORE_UNAVAILABLE';
  readonly kind = 'unavailable';
  constructor(reason = 'The store cannot accept writes right now; nothing was changed. Retry later.') {
    super(reason);
  }
}
