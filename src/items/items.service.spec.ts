import assert from '../../test/support/assert.js';
import { beforeEach, describe, it } from '@jest/globals';
import { itemEtag } from './item-etag.js';
import {
  InvalidCursorError,
  ItemAlreadyExistsError,
  ItemNotFoundError,
  ItemVersionMismatchError,
} from './items.errors.js';
import { loadConfig } from '../config/app-config.js';
import { ItemsService } from './items.service.js';
import { InMemoryItemsRepository } from '../../test/support/in-memory-items.repository.js';

describe('ItemsService', () => {
  let repository: InMemoryItemsRepository;
  let service: ItemsService;
  beforeEach(() => {
    repository = new InMemoryItemsRepository();
    service = new ItemsService(repository, loadConfig({}).store);
  });

  it('when creating without an id, then a UUID is assigned and version 1 stored', async () => {
    const item = await service.create({ name: 'a' });
    assert.match(item.id, /^[0-9a-f-]{36}$/);
    assert.equal(item.version, 1);
    assert.equal(item.created_at, item.updated_at);
    assert.deepEqual(repository.index.get(item.id), item);
  });

  it('when creating an id that exists, then ItemAlreadyExistsError', async () => {
    await service.create({ id: 'x', name: 'a' });
    await assert.rejects(service.create({ id: 'x', name: 'b' }), ItemAlreadyExistsError);
  });

  it('when getting a missing id, then ItemNotFoundError', async () => {
    await assert.rejects(service.get('nope'), ItemNotFoundError);
  });

  it('when updating, then the version increases and created_at stays', async () => {
    const created = await service.create({ id: 'x', name: 'a' });
    const updated = await service.update('x', { name: 'b' });
    assert.equal(updated.version, 2);
    assert.equal(updated.name, 'b');
    assert.equal(updated.created_at, created.created_at);
    assert.ok(updated.updated_at >= created.updated_at);
  });

  it('when If-Match holds the current ETag, then the update applies; a stale one is refused', async () => {
    const created = await service.create({ id: 'x', name: 'a' });
    const updated = await service.update('x', { name: 'b' }, [itemEtag(created)]);
    await assert.rejects(service.update('x', { name: 'c' }, [itemEtag(created)]), ItemVersionMismatchError);
    await assert.rejects(service.remove('x', [itemEtag(created)]), ItemVersionMismatchError);
    await service.remove('x', [itemEtag(updated)]);
    await assert.rejects(service.get('x'), ItemNotFoundError);
  });

  it('when a concurrent writer wins the race and no If-Match was given, then the update is retried', async () => {
    await service.create({ id: 'x', name: 'a' });
    let raced = false;
    repository.beforeReplace = () => {
      if (raced) return;
      raced = true;
      const current = repository.index.get('x')!;
      repository.index.put({ ...current, name: 'other writer', version: current.version + 1 });
    };
    const updated = await service.update('x', { name: 'mine' });
    assert.equal(updated.version, 3);
    assert.equal(repository.index.get('x')?.name, 'mine');
  });

  it('when a concurrent writer wins the race and If-Match was given, then the update is refused', async () => {
    const created = await service.create({ id: 'x', name: 'a' });
    repository.beforeReplace = () => {
      const current = repository.index.get('x')!;
      repository.index.put({ ...current, version: current.version + 1 });
    };
    await assert.rejects(service.update('x', { name: 'mine' }, [itemEtag(created)]), ItemVersionMismatchError);
  });

  it('when the service decides a condition on the item it read, then the observer hears it once; a race the store refuses is the store’s to count', async () => {
    const heard: string[] = [];
    service = new ItemsService(repository, loadConfig({}).store, {
      decided: (op, outcome) => void heard.push(`${op} ${outcome}`),
    });
    const created = await service.create({ id: 'x', name: 'a' });
    const etag = itemEtag(created);
    assert.equal((await service.getIfNoneMatch('x', [`"other"`, etag])).notModified, true);
    assert.equal((await service.getIfNoneMatch('x', ['"other"'])).notModified, false);
    assert.equal((await service.getIfNoneMatch('x')).notModified, false);
    await assert.rejects(service.update('x', { name: 'b' }, ['"stale"']), ItemVersionMismatchError);
    await assert.rejects(service.remove('x', ['"stale"']), ItemVersionMismatchError);
    assert.deepEqual(heard, ['find not_modified', 'replace precondition_failed', 'remove precondition_failed']);

    repository.beforeReplace = () => {
      const current = repository.index.get('x')!;
      repository.index.put({ ...current, version: current.version + 1 });
    };
    await assert.rejects(service.update('x', { name: 'mine' }, [etag]), ItemVersionMismatchError);
    assert.equal(heard.length, 3);
  });

  it('when listing page by page, then every item is seen once, in order, and the last cursor is null', async () => {
    for (let i = 0; i < 7; i++) await service.create({ id: `id-${i}`, name: `n${i}` });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await service.list(3, cursor);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor !== undefined);
    assert.equal(pages, 3);
    assert.deepEqual(new Set(seen).size, 7);
    assert.deepEqual(
      seen,
      [...repository.index.values()].map((i) => i.id),
    );
  });

  for (const cursor of [
    '',
    'not-base64!',
    Buffer.from('[1,2]').toString('base64url'),
    Buffer.from('{}').toString('base64url'),
    // The right shape, but no such instant: PostgreSQL would refuse it, the JSON file would compare it.
    Buffer.from(JSON.stringify(['2026-02-30T25:61:00.000Z', 'a'])).toString('base64url'),
    Buffer.from(JSON.stringify(['0000-01-01T00:00:00.000Z', 'a'])).toString('base64url'),
  ]) {
    it(`when the cursor is ${JSON.stringify(cursor)}, then InvalidCursorError`, async () => {
      await assert.rejects(service.list(3, cursor), InvalidCursorError);
    });
  }
});
