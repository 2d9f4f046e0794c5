import assert from '../../../test/support/assert.js';
import { describe, it } from '@jest/globals';
import type { Item } from '../item.js';
import { ItemIndex } from './item-index.js';

function item(id: string, createdAt: string, version = 1): Item {
  return { id, name: `name of ${id}`, created_at: createdAt, updated_at: createdAt, version };
}

const T1 = '2026-01-01T00:00:00.000Z';
const T2 = '2026-01-02T00:00:00.000Z';
const T3 = '2026-01-03T00:00:00.000Z';

describe('ItemIndex', () => {
  it('when built from unordered items, then pages come in (created_at, id) order', () => {
    const index = ItemIndex.from([item('c', T2), item('a', T3), item('b', T2), item('z', T1)]);
    assert.deepEqual(
      index.page(10).items.map((i) => i.id),
      ['z', 'b', 'c', 'a'],
    );
  });

  it('when paging after a position, then the page starts strictly after it and says whether more follow', () => {
    const index = ItemIndex.from([item('a', T1), item('b', T1), item('c', T2), item('d', T3)]);
    const first = index.page(2);
    assert.deepEqual(
      first.items.map((i) => i.id),
      ['a', 'b'],
    );
    assert.equal(first.hasMore, true);
    const second = index.page(2, first.items[1]);
    assert.deepEqual(
      second.items.map((i) => i.id),
      ['c', 'd'],
    );
    assert.equal(second.hasMore, false);
  });

  it('when paging after a position whose item was deleted, then the page continues from where it was', () => {
    const index = ItemIndex.from([item('a', T1), item('b', T2), item('c', T3)]);
    const cursor = index.get('b')!;
    index.delete('b');
    assert.deepEqual(
      index.page(10, cursor).items.map((i) => i.id),
      ['c'],
    );
  });

  it('when an item is replaced, then it keeps its place and the new version is served', () => {
    const index = ItemIndex.from([item('a', T1), item('b', T2), item('c', T3)]);
    index.put({ ...item('b', T2, 2), name: 'renamed' });
    assert.equal(index.size, 3);
    assert.equal(index.get('b')?.name, 'renamed');
    assert.deepEqual(
      index.page(10).items.map((i) => `${i.id}${i.version}`),
      ['a1', 'b2', 'c1'],
    );
  });

  it('when items are added out of order and deleted, then order and size stay right', () => {
    const index = new ItemIndex();
    index.put(item('m', T2));
    index.put(item('a', T3));
    index.put(item('z', T1));
    assert.equal(index.delete('m'), true);
    assert.equal(index.delete('m'), false);
    assert.equal(index.size, 2);
    assert.deepEqual(
      index.values().map((i) => i.id),
      ['z', 'a'],
    );
  });
});
