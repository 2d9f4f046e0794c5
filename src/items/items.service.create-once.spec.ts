import assert from '../../test/support/assert.js';
import { beforeEach, describe, it } from '@jest/globals';
import { InMemoryItemsRepository } from '../../test/support/in-memory-items.repository.js';
import { loadConfig } from '../config/app-config.js';
import { IdempotencyKeyInUseError, IdempotencyKeyMismatchError } from './idempotency/idempotency.errors.js';
import type { IdempotencyRecord } from './idempotency/idempotency-record.js';
import type { Item } from './item.js';
import { ItemsService } from './items.service.js';

const KEY = { key: 'k-1', scope: 'anonymous' };

describe('ItemsService.createOnce', () => {
  let repository: InMemoryItemsRepository;
  let service: ItemsService;
  beforeEach(() => {
    repository = new InMemoryItemsRepository();
    service = new ItemsService(repository, loadConfig({ IDEMPOTENCY_KEY_TTL: '2h' }).store);
  });

  it('when a key is new, then the item is inserted with its record, expiring IDEMPOTENCY_KEY_TTL after creation', async () => {
    const { item, replayed } = await service.createOnce({ name: 'a' }, KEY);
    assert.equal(replayed, false);
    const [, inserted, record] = repository.calls.find(([method]) => method === 'insert')!;
    assert.deepEqual(inserted, item);
    const { expires_at: expiresAt, key, fingerprint } = record as IdempotencyRecord;
    assert.equal(Date.parse(expiresAt) - Date.parse(item.created_at), 2 * 3_600_000);
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.match(fingerprint, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(record).includes('k-1'), 'the client’s key is not stored');
  });

  it('when the key is repeated with the same body, then the first item is replayed and nothing inserted; another body is a mismatch', async () => {
    const first = await service.createOnce({ name: 'a' }, KEY);
    const inserts = repository.methodsCalled().filter((m) => m === 'insert').length;
    assert.deepEqual(await service.createOnce({ name: 'a' }, KEY), { item: first.item, replayed: true });
    await assert.rejects(service.createOnce({ name: 'b' }, KEY), IdempotencyKeyMismatchError);
    assert.equal(repository.methodsCalled().filter((m) => m === 'insert').length, inserts);
    // Another scope is another key.
    assert.equal((await service.createOnce({ name: 'a' }, { ...KEY, scope: 'key:other' })).replayed, false);
  });

  it('when another request takes the key between the lookup and the insert, then its answer is replayed once recorded, else 409', async () => {
    const earlier: Item = {
      id: 'earlier',
      name: 'a',
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
      version: 1,
    };
    const insert = repository.insert.bind(repository);
    // The rival commits just before this request's insert: the lookup before saw nothing.
    repository.insert = async (item, record) => {
      repository.insert = insert;
      await insert(earlier, record);
      return insert(item, record);
    };
    assert.deepEqual(await service.createOnce({ name: 'a' }, KEY), { item: earlier, replayed: true });

    // The rival is still in flight: nothing to replay yet.
    repository.insert = () => Promise.reject(new IdempotencyKeyInUseError());
    await assert.rejects(service.createOnce({ name: 'a' }, { ...KEY, key: 'k-2' }), IdempotencyKeyInUseError);
  });
});
