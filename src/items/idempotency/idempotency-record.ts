import type { Item } from '../item.js';

/**
 * What a POST with an Idempotency-Key leaves in the store beside the item it created, in the same
 * durable write: a retry then finds it after a crash, a restart, or on another replica.
 */
export interface IdempotencyRecord {
  /** SHA-256 (hex) of the caller's scope and the key: neither the key nor an API key is stored. */
  readonly key: string;
  /** SHA-256 (hex) of the request body, canonical JSON: another body under the same key is refused. */
  readonly fingerprint: string;
  /** ISO 8601 UTC; from then on the key is forgotten, and may be used anew. */
  readonly expires_at: string;
}

/** A record as a lookup finds it: with the item as it was created, which a replay answers. */
export interface StoredIdempotencyRecord extends IdempotencyRecord {
  readonly item: Item;
}

/** The form of `key` and `fingerprint`: a SHA-256 digest in lower-case hex. */
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;

/** A record is live until its expiry; an expired one is ignored, and dropped when the store next can. */
export function isLive(record: IdempotencyRecord, now = Date.now()): boolean {
  return Date.parse(record.expires_at) > now;
}
