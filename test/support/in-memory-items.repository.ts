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

  insert(item: Item): Promise<void> {
    this.calls.push(['insert', item]);
    if (this.index.get(item.id)) return Promise.reject(new ItemAlreadyExistsError(item.id));
    this.index.put(item);
    return Promise.resolve();
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
