import { DomainError } from './domain-error.js';

/** The body cannot be read as the JSON object the endpoint takes. */
export class MalformedBodyError extends DomainError {
  readonly code = 'MALFORMED_BODY';
  readonly kind = 'invalid';
}
