import { DomainError } from '../common/domain-error.js';
import type { Item } from './item.js';
import { itemEtag } from './item-etag.js';

/**
 * A parsed If-Match or If-None-Match header: `*`, or the entity-tags it lists, each as its quoted
 * opaque-tag (`"3.abc"`) without the W/ prefix, for the comparison its header calls for.
 */
export type EntityTagCondition = '*' | readonly string[];

/** A conditional header that is neither `*` nor a list of entity-tags: the client's error, not a 412. */
export class InvalidPreconditionError extends DomainError {
  readonly code = 'INVALID_PRECONDITION';
  readonly kind = 'invalid';
  constructor(header: string) {
    super(`${header} must be "*" or a comma-separated list of entity-tags ("..." or W/"...").`);
  }
}

/** entity-tag = [ W/ ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3). */
const ENTITY_TAG = /(W\/)?("[\x21\x23-\x7e\x80-\xff]*")/y;

interface EntityTag {
  weak: boolean;
  /** The quoted opaque-tag. */
  opaque: string;
}

/**
 * Reads one of the two headers as `*` or a list (RFC 9110 §5.6.1: commas with optional whitespace,
 * empty elements ignored, an empty list too); undefined when absent. Anything else throws
 * InvalidPreconditionError, so that a client's mistake is not taken for a changed item.
 */
function parseCondition(name: string, header: string | undefined): '*' | EntityTag[] | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  let separated = true;
  for (let at = 0; at < header.length;) {
    const char = header[at];
    if (char === ' ' || char === '\t' || char === ',') {
      separated ||= char === ',';
      at++;
      continue;
    }
    ENTITY_TAG.lastIndex = at;
    const match = separated ? ENTITY_TAG.exec(header) : null;
    if (!match) throw new InvalidPreconditionError(name);
    tags.push({ weak: match[1] !== undefined, opaque: match[2]! });
    separated = false;
    at = ENTITY_TAG.lastIndex;
  }
  // `#entity-tag` allows an empty list: it names no tag, so it never matches (a 200 or a 412), as a
  // client sending `If-None-Match: ${etag ?? ''}` expects.
  return tags;
}

/**
 * If-Match (RFC 9110 §13.1.1): undefined when absent. Strong comparison: a weak tag never matches, so
 * it is dropped here (a well-formed If-Match of weak tags alone is a 412, not a 400).
 */
export function parseIfMatch(header: string | undefined): EntityTagCondition | undefined {
  const condition = parseCondition('If-Match', header);
  if (condition === undefined || condition === '*') return condition;
  return condition.filter((tag) => !tag.weak).map((tag) => tag.opaque);
}

/** If-None-Match (RFC 9110 §13.1.2): undefined when absent. Weak comparison: W/ is ignored. */
export function parseIfNoneMatch(header: string | undefined): EntityTagCondition | undefined {
  const condition = parseCondition('If-None-Match', header);
  if (condition === undefined || condition === '*') return condition;
  return condition.map((tag) => tag.opaque);
}

/** Whether the item's current tag is one the condition names (or any, for `*`). */
export function conditionMatches(condition: EntityTagCondition, item: Item): boolean {
  return condition === '*' || condition.includes(itemEtag(item));
}
