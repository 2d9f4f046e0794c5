import type { IdempotencyRecord, StoredIdempotencyRecord } from './idempotency/idempotency-record.js';
import type { Item, ItemPosition } from './item.js';

/** Injection token of the `ItemsRepository` implementation. */
export const ITEMS_REPOSITORY = Symbol('ItemsRepository');

/**
 * Injection token of an optional wrapper around the repository (the observability module's spans and
 * metrics around each operation). A port, so that items depends on no observability code: whoever
 * observes the app provides it.
 */
export const ITEMS_REPOSITORY_DECORATOR = Symbol('ItemsRepositoryDecorator');
export type ItemsRepositoryDecorator = (repository: ItemsRepository) => ItemsRepository;

/**
 * The port between the items service and storage. Writes are conditional so that a check and its
 * write are one atomic step, whatever the implementation; a write resolves only once it is durable.
 */
export interface ItemsRepository {
  findById(id: string): Promise<Item | undefined>;
  /** Up to `limit` items after `after` in (created_at, id) order, and whether more follow. */
  list(limit: number, after?: ItemPosition): Promise<{ items: Item[]; hasMore: boolean }>;
  /**
   * Throws ItemAlreadyExistsError when the id is taken. With `idempotency`, the record is stored in the
   * same durable write as the item, and checked in the same atomic step: IdempotencyKeyInUseError when
   * its key is live already (recorded, or being written by another request), and nothing is written.
   */
  insert(item: Item, idempotency?: IdempotencyRecord): Promise<void>;
  /** The live (unexpired) record stored under `key`, with the item as it was created. */
  findIdempotencyRecord(key: string): Promise<StoredIdempotencyRecord | undefined>;
  /** Replaces the item if its stored version is `expectedVersion`; else ItemVersionMismatchError. */
  replace(item: Item, expectedVersion: number): Promise<void>;
  /** Deletes the item, if given only when its stored version is `expectedVersion`. */
  remove(id: string, expectedVersion?: number): Promise<void>;
  /** Resolves if the store can serve reads and take writes now; else rejects, saying why. Cheap. */
  checkWritable(): Promise<void>;
}
