/**
 * What a valid item is: the one definition that the API's validation, the store's writer and the
 * store's loader all use, so that they can never disagree. (They once did: the API counted a name's
 * length in code points and the loader in UTF-16 units, so a name of 101 emoji was acknowledged and
 * then stopped the next start-up.)
 *
 * Lengths are Unicode code points: what JSON Schema's `maxLength` counts (so the OpenAPI document says
 * the same thing), what PostgreSQL's `varchar(n)` counts, and closer to what a person calls a
 * character than UTF-16 units or bytes.
 */

/** Ids a client may choose: URL-safe without escaping (RFC 3986 unreserved characters). */
export const ITEM_ID_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;
export const ITEM_NAME_MAX_LENGTH = 200;

export const ID_RULE = 'id must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "~" or "-"';
export const NAME_RULE = `name must be 1-${ITEM_NAME_MAX_LENGTH} Unicode characters after trimming, with no unpaired surrogate`;

/** Says how a name is counted, where the OpenAPI document describes it. */
export const NAME_LENGTH_UNIT =
  'Leading and trailing white space is trimmed. The length is counted in Unicode code points (an emoji such as ' +
  'U+1F600 counts 1, a base letter plus a combining mark counts 2), not UTF-16 units or bytes. A string that is ' +
  'not valid Unicode (an unpaired surrogate escape such as "\\ud800") is refused.';

/** Code points in a string: a surrogate pair counts once, as anything else does. */
export function codePointLength(value: string): number {
  let length = value.length;
  for (let i = 0; i < value.length - 1; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length--;
        i++;
      }
    }
  }
  return length;
}

/** True when the name (already trimmed, as stored) is one the service accepts. */
export function isValidName(name: string): boolean {
  // isWellFormed: JSON can carry an unpaired surrogate ("\ud800"), which is no Unicode text at all.
  return name.isWellFormed() && name.length >= 1 && codePointLength(name) <= ITEM_NAME_MAX_LENGTH;
}

/** True when the id is one a client may choose (and the store may hold). */
export function isValidId(id: string): boolean {
  return ITEM_ID_PATTERN.test(id);
}

/**
 * The rules an item's content must follow, for an item whose shape is already right (see the store's
 * format check): undefined when it follows them, else the rule it breaks. These are the rules that may
 * tighten from one version to the next; a stored item that breaks them is still loaded and served.
 */
export type ItemRules = (item: { readonly id: string; readonly name: string }) => string | undefined;

export const itemRuleViolation: ItemRules = (item) => {
  if (!isValidId(item.id)) return ID_RULE;
  if (!isValidName(item.name)) return NAME_RULE;
  return undefined;
};
