import assert from '../../test/support/assert.js';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import type { Item } from './item.js';
import { itemEtag } from './item-etag.js';
import { conditionMatches, InvalidPreconditionError, parseIfMatch, parseIfNoneMatch } from './preconditions.js';

const item: Item = {
  id: 'a1',
  name: 'x',
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  version: 3,
};
const etag = itemEtag(item);

describe('If-Match and If-None-Match (RFC 9110 §13.1.1, §13.1.2)', () => {
  it('when a header is absent, then there is no condition', () => {
    assert.equal(parseIfMatch(undefined), undefined);
    assert.equal(parseIfNoneMatch(undefined), undefined);
  });

  it('when a header is * (with whitespace), then any existing item matches', () => {
    assert.equal(parseIfMatch(' * '), '*');
    assert.equal(parseIfNoneMatch('*'), '*');
    assert.ok(conditionMatches('*', item));
  });

  it('when a list has tags, commas, whitespace and empty elements, then each tag is read, W/ kept apart', () => {
    const header = ` "a" ,, W/"b",\t"" ,"!#~\u0080\u00ff" ,`;
    assert.deepEqual(parseIfNoneMatch(header), ['"a"', '"b"', '""', '"!#~\u0080\u00ff"']);
    // If-Match compares strongly: a weak tag can never match, so it is left out.
    assert.deepEqual(parseIfMatch(header), ['"a"', '""', '"!#~\u0080\u00ff"']);
  });

  it('when If-None-Match names the item weakly or in a list, then it matches; If-Match only strongly', () => {
    assert.ok(conditionMatches(parseIfNoneMatch(`W/${etag}`)!, item));
    assert.ok(conditionMatches(parseIfNoneMatch(`"x", ${etag}`)!, item));
    assert.ok(!conditionMatches(parseIfNoneMatch('"x"')!, item));
    assert.ok(!conditionMatches(parseIfMatch(`W/${etag}`)!, item));
    assert.ok(conditionMatches(parseIfMatch(`"x", ${etag}`)!, item));
  });

  it('when a header is an empty list (RFC 9110 #rule), then it names no tag and matches nothing', () => {
    for (const header of ['', ' ', ',', ' , ,']) {
      assert.deepEqual(parseIfNoneMatch(header), [], JSON.stringify(header));
      assert.deepEqual(parseIfMatch(header), [], JSON.stringify(header));
      assert.ok(!conditionMatches(parseIfNoneMatch(header)!, item));
    }
  });

  it('when a header is neither * nor a list of entity-tags, then INVALID_PRECONDITION, naming the header', () => {
    for (const header of [
      'nonsense',
      '"open',
      'W/',
      'W/ "a"',
      'w/"a"',
      '"a" "b"',
      '"a"b',
      '*, "a"',
      '**',
      '"a b"',
      '"a\tb"',
      '"a"b"',
      "'a'",
      '"\u007f"',
    ]) {
      assert.throws(() => parseIfMatch(header), /If-Match must be/, JSON.stringify(header));
      assert.throws(() => parseIfNoneMatch(header), InvalidPreconditionError, JSON.stringify(header));
    }
  });

  it('when any list of well-formed tags is joined by commas and whitespace, then it parses back to those tags', () => {
    const etagc = fc.oneof(
      fc.integer({ min: 0x21, max: 0x21 }),
      fc.integer({ min: 0x23, max: 0x7e }),
      fc.integer({ min: 0x80, max: 0xff }),
    );
    const tag = fc.record({
      weak: fc.boolean(),
      opaque: fc.array(etagc, { maxLength: 10 }).map((codes) => `"${String.fromCharCode(...codes)}"`),
    });
    const separator = fc.stringMatching(/^[ \t]*,[ \t,]*$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(tag, separator), { minLength: 1, maxLength: 5 }), (parts) => {
        const header = parts
          .map(([t, sep], i) => `${t.weak ? 'W/' : ''}${t.opaque}${i < parts.length - 1 ? sep : ''}`)
          .join('');
        assert.deepEqual(
          parseIfNoneMatch(header),
          parts.map(([t]) => t.opaque),
        );
        assert.deepEqual(
          parseIfMatch(header),
          parts.filter(([t]) => !t.weak).map(([t]) => t.opaque),
        );
      }),
    );
  });
});
