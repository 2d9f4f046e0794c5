import assert from '../../../test/support/assert.js';
import { describe, it } from '@jest/globals';
import { RequestValidationError } from '../../common/domain-error.js';
import { canonicalJson, parseIdempotencyKey, requestFingerprint, scopedIdempotencyKey } from './idempotency-key.js';

describe('parseIdempotencyKey', () => {
  it('when the key is a bare token or an sf-string, then the key is what it names, unescaped', () => {
    assert.equal(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324'), '8e03978e-40d5-43e8-bc93-6894a57f9324');
    assert.equal(parseIdempotencyKey('"8e03978e"'), '8e03978e');
    assert.equal(parseIdempotencyKey('"a \\"quoted\\" \\\\ key"'), 'a "quoted" \\ key');
    assert.equal(parseIdempotencyKey('k'.repeat(255)), 'k'.repeat(255));
    assert.equal(parseIdempotencyKey(`"${'k'.repeat(255)}"`), 'k'.repeat(255));
  });

  for (const value of [
    '',
    '""',
    'k'.repeat(256),
    `"${'k'.repeat(256)}"`,
    '"open',
    'a b',
    'a, b',
    '"a", "b"',
    '"\\n"',
    'tab\there',
    'caf\u00e9',
  ])
    it(`when the header is ${JSON.stringify(value.slice(0, 20))}, then VALIDATION_FAILED names Idempotency-Key`, () => {
      assert.throws(
        () => parseIdempotencyKey(value),
        (err: unknown) =>
          err instanceof RequestValidationError &&
          err.errors.length === 1 &&
          err.errors[0]!.field === 'Idempotency-Key',
      );
    });
});

describe('fingerprints and scoped keys', () => {
  it('when two bodies differ only in member order or undefined members, then their fingerprint is the same', () => {
    assert.equal(canonicalJson({ b: [1, { d: 2, c: 3 }], a: 'x', u: undefined }), '{"a":"x","b":[1,{"c":3,"d":2}]}');
    assert.equal(requestFingerprint({ name: 'n', id: 'i' }), requestFingerprint({ id: 'i', name: 'n' }));
    assert.notEqual(requestFingerprint({ name: 'n' }), requestFingerprint({ name: 'n', id: 'i' }));
  });

  it('when the same key comes from two scopes, then the stored keys differ, and neither holds the key', () => {
    const a = scopedIdempotencyKey('key:aaaa', 'k1');
    const b = scopedIdempotencyKey('key:bbbb', 'k1');
    assert.notEqual(a, b);
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.equal(scopedIdempotencyKey('key:aaaa', 'k1'), a);
  });
});
