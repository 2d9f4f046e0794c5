import { IdempotencyKeyInUseError } from '../../src/items/idempotency/idempotency.errors.js';
import {
  type IdempotencyRecord,
  isLive,
  type StoredIdempotencyRecord,
} from '../../src/items/idempotency/idempotency-record.js';
import { ItemIndex } from '../../src/items/json-file/item-index.js';
import type { Item, ItemPosition } from '../../src/items/item.js';
import { ItemAlreadyExistsError, ItemNotFoundError, ItemVersionMismatchError } from '../../src/items/items.errors.js';
import type { ItemsRepository } from '../../src/items/items.repository.js';

export type RepositoryCall = [method: keyof ItemsRepository, ...args: unknown[]];

/**
 * The ItemsRepository port's semantics in memory, for specs that fake storage at the port: it records
 * each call (so that a spec can say what reached storage), and `beforeReplace` lets a spec slip in a
 * concurrent writer.
 */
export class InMemoryItemsRepository implements ItemsRepository {
  readonly index = new ItemIndex();
  readonly records = new Map<string, StoredIdempotencyRecord>();
  readonly calls: RepositoryCall[] = [];
  beforeReplace?: () => void;

  findById(id: string): Promise<Item | undefined> {
    this.calls.push(['findById', id]);
    return Promise.resolve(this.index.get(id));
  }

  list(limit: number, after?: ItemPosition): Promise<{ items: Item[]; hasMore: boolean }> {
    this.calls.push(['list', limit, after]);
    return Promise.resolve(this.index.page(limit, after));
  }

  insert(item: Item, idempotency?: IdempotencyRecord): Promise<void> {
    this.calls.push(idempotency ? ['insert', item, idempotency] : ['insert', item]);
    const recorded = idempotency && this.records.get(idempotency.key);
    if (recorded && isLive(recorded)) return Promise.reject(new IdempotencyKeyInUseError());
    if (this.index.get(item.id)) return Promise.reject(new ItemAlreadyExistsError(item.id));
    this.index.put(item);
    if (idempotency) this.records.set(idempotency.key, { ...idempotency, item });
    return Promise.resolve();
  }

  findIdempotencyRecord(key: string): Promise<StoredIdempotencyRecord | undefined> {
    this.calls.push(['findIdempotencyRecord', key]);
    const record = this.records.get(key);
    return Promise.resolve(record && isLive(record) ? record : undefined);
  }

  replace(item: Item, expectedVersion: number): Promise<void> {
    this.calls.push(['replace', item, expectedVersion]);
    this.beforeReplace?.();
    const current = this.index.get(item.id);
    if (!current) return Promise.reject(new ItemNotFoundError(item.id));
    if (current.version !== expectedVersion) return Promise.reject(new ItemVersionMismatchError(item.id));
    this.index.put(item);
    return Promise.resolve();
  }

  remove(id: string, expectedVersion?: number): Promise<void> {
    this.calls.push(['remove', id, expectedVersion]);
    const current = this.index.get(id);
    if (!current) return Promise.reject(new ItemNotFoundError(id));
    if (expectedVersion !== undefined && current.version !== expectedVersion)
      return Promise.reject(new ItemVersionMismatchError(id));
    this.index.delete(id);
    return Promise.resolve();
  }

  checkWritable(): Promise<void> {
    return Promise.resolve();
  }

  methodsCalled(): string[] {
    return this.calls.map(([method]) => method);
  }
}
