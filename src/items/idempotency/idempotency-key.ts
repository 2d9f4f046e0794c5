import { createHash } from 'node:crypto';
import { RequestValidationError } from '../../common/domain-error.js';

/** The request header, as the IETF draft (draft-ietf-httpapi-idempotency-key-header) names it. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** Marks a replayed answer. */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

/**
 * A bare key: visible ASCII without `"` or `,`. The draft's form is a quoted sf-string; a bare token is
 * taken too since many clients send one (a UUID). The comma is refused because two header lines
 * arrive joined with ", ": two keys are not one.
 */
const BARE_KEY = /^[\x21\x23-\x2b\x2d-\x7e]+$/;
/** An RFC 8941 sf-string: printable ASCII in quotes, with `\"` and `\\` the only escapes. */
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;

/**
 * The key in an Idempotency-Key header value: `"…"` (the draft's sf-string) or a bare token, 1 to
 * 255 characters once unquoted. Anything else is the client's error (400, naming the header).
 */
export function parseIdempotencyKey(value: string): string {
  const quoted = SF_STRING.exec(value);
  const key = quoted ? quoted[1]!.replace(/\\(["\\])/g, '$1') : BARE_KEY.test(value) ? value : undefined;
  if (key === undefined || key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH)
    throw new RequestValidationError('The Idempotency-Key header is malformed.', [
      {
        field: IDEMPOTENCY_KEY_HEADER,
        message: `${IDEMPOTENCY_KEY_HEADER} must be 1-${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters, as a quoted string ("…") or a bare token without spaces, quotes or commas`,
      },
    ]);
  return key;
}

/**
 * The key as stored: a digest of the caller's scope and the key, so that one caller's key never
 * meets another's, and so that neither the client's key nor its API key is kept.
 */
export function scopedIdempotencyKey(scope: string, key: string): string {
  return sha256(`${scope}\n${key}`);
}

/** The request body's fingerprint: the same JSON, whatever its whitespace or key order, is the same body. */
export function requestFingerprint(body: unknown): string {
  return sha256(canonicalJson(body));
}

/** JSON with object keys sorted, recursively; `undefined` members left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((element) => canonicalJson(element ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
