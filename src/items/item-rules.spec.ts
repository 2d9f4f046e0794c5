import assert from '../../test/support/assert.js';
import { describe, it } from '@jest/globals';
import { codePointLength, isValidName, ITEM_NAME_MAX_LENGTH, itemRuleViolation, NAME_RULE } from './item-rules.js';

const EMOJI = '\u{1F600}';

describe('Item rules', () => {
  it('when a name holds astral characters, then each counts as one code point', () => {
    assert.equal(codePointLength(EMOJI.repeat(101)), 101);
    assert.equal(codePointLength(`a${EMOJI}b`), 3);
    assert.equal(codePointLength(''), 0);
  });

  it('when a name holds combining marks or variation selectors, then each mark is a code point of its own', () => {
    assert.equal(codePointLength('e\u0301'), 2);
    assert.equal(codePointLength('\u2764\uFE0F'), 2);
  });

  it('when a surrogate is unpaired, then it counts as one', () => {
    assert.equal(codePointLength('\uD800'), 1);
    assert.equal(codePointLength('\uDC00\uD800'), 2);
    assert.equal(codePointLength(`\uD800${EMOJI}`), 2);
  });

  it('when a name is 1 to 200 code points of valid Unicode, then it is valid, whatever its UTF-16 length', () => {
    assert.equal(isValidName('x'), true);
    assert.equal(isValidName(EMOJI.repeat(101)), true);
    assert.equal(isValidName(EMOJI.repeat(ITEM_NAME_MAX_LENGTH)), true);
    assert.equal(isValidName('\u0000 \u2028 NUL and line separator'), true);
  });

  it('when a name is empty, too long in code points or not valid Unicode, then it is invalid', () => {
    assert.equal(isValidName(''), false);
    assert.equal(isValidName(EMOJI.repeat(ITEM_NAME_MAX_LENGTH + 1)), false);
    assert.equal(isValidName('a'.repeat(ITEM_NAME_MAX_LENGTH + 1)), false);
    assert.equal(isValidName('lone \uD800 high'), false);
    assert.equal(isValidName('lone \uDFFF low'), false);
  });

  it('when an item breaks a rule, then the violation names the rule, not the content', () => {
    assert.equal(itemRuleViolation({ id: 'a', name: 'fine' }), undefined);
    assert.equal(itemRuleViolation({ id: 'a', name: '\uD800' }), NAME_RULE);
    assert.match(itemRuleViolation({ id: 'a b', name: 'fine' }) ?? '', /^id must be/);
  });
});
