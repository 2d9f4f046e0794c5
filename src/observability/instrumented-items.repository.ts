import type { IdempotencyRecord, StoredIdempotencyRecord } from '../items/idempotency/idempotency-record.js';
import type { Item, ItemPosition } from '../items/item.js';
import type { ItemsRepository } from '../items/items.repository.js';
import type { StoreTelemetry } from './store-telemetry.js';

/**
 * The repository port with a span, a count and a duration around each operation. A decorator rather
 * than code in the store, so that any implementation behind the port is measured the same way.
 */
export class InstrumentedItemsRepository implements ItemsRepository {
  constructor(
    private readonly inner: ItemsRepository,
    private readonly telemetry: StoreTelemetry,
  ) {}

  findById(id: string): Promise<Item | undefined> {
    return this.telemetry.measure(
      'find',
      () => this.inner.findById(id),
      (item) => item !== undefined,
    );
  }

  list(limit: number, after?: ItemPosition): Promise<{ items: Item[]; hasMore: boolean }> {
    return this.telemetry.measure('list', () => this.inner.list(limit, after));
  }

  insert(item: Item, idempotency?: IdempotencyRecord): Promise<void> {
    return this.telemetry.measure('insert', () => this.inner.insert(item, idempotency));
  }

  findIdempotencyRecord(key: string): Promise<StoredIdempotencyRecord | undefined> {
    return this.telemetry.measure(
      'find_idempotency_key',
      () => this.inner.findIdempotencyRecord(key),
      (record) => record !== undefined,
    );
  }

  replace(item: Item, expectedVersion: number): Promise<void> {
    return this.telemetry.measure('replace', () => this.inner.replace(item, expectedVersion));
  }

  remove(id: string, expectedVersion?: number): Promise<void> {
    return this.telemetry.measure('remove', () => this.inner.remove(id, expectedVersion));
  }

  checkWritable(): Promise<void> {
    return this.inner.checkWritable();
  }
}
