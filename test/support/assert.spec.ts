import { AssertionError } from 'node:assert';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from '@jest/globals';
import assert from './assert.js';

class Point {
  constructor(readonly x: number) {}
}
class OtherPoint {
  constructor(readonly x: number) {}
}

describe('assert (node:assert strict, across Jest realms)', () => {
  it('when an array or a parsed body comes from Node’s realm, then it deep-equals the same literal', async () => {
    const listing = readdirSync(tmpdir()).slice(0, 0);
    assert.deepEqual(listing, []);
    const body = await new Response('{"items":[{"id":"a"}],"next":null}').json();
    assert.deepEqual(body, { items: [{ id: 'a' }], next: null });
  });

  it('when the values differ in more than their realm, then deepEqual still fails', () => {
    const fails = (actual: unknown, expected: unknown) =>
      assert.throws(() => assert.deepEqual(actual, expected), AssertionError);
    fails([1, 2], [1, '2']);
    fails({ a: 1 }, { a: 1, b: undefined });
    fails(new Point(1), new OtherPoint(1));
    fails(Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 });
    fails(new URL('http://a.example/'), new URL('http://b.example/'));
    fails(Buffer.from('a'), new Uint8Array([97]));
    fails(new Map([['a', 1]]), new Map([['a', 2]]));
  });

  it('when values differ only by realm, then notDeepEqual fails; when they really differ, it passes', () => {
    assert.throws(() => assert.notDeepEqual(readdirSync(tmpdir()).slice(0, 0), []), AssertionError);
    assert.notDeepEqual({ a: 1 }, { a: 2 });
  });
});
