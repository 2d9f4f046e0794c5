import { Inject, Injectable, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { randomUUID } from 'node:crypto';
import { storeConfig } from '../config/config.namespaces.js';
import { requestFingerprint, scopedIdempotencyKey } from './idempotency/idempotency-key.js';
import { IdempotencyKeyInUseError, IdempotencyKeyMismatchError } from './idempotency/idempotency.errors.js';
import { ISO_TIMESTAMP_PATTERN, type Item, type ItemPosition } from './item.js';
import { ITEM_ID_PATTERN } from './item-rules.js';
import { ITEMS_CONDITION_OBSERVER, type ItemsConditionObserver } from './condition-observer.js';
import { InvalidCursorError, ItemNotFoundError, ItemVersionMismatchError } from './items.errors.js';
import { ITEMS_REPOSITORY, type ItemsRepository } from './items.repository.js';
import { conditionMatches, type EntityTagCondition } from './preconditions.js';

export interface ItemsPage {
  items: Item[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

/** A POST's Idempotency-Key, and whose it is. */
export interface IdempotencyKey {
  key: string;
  /** The caller: keys of different callers never meet. */
  scope: string;
}

/** What an idempotent create answers: the item as created, and whether this is a replay of that answer. */
export interface CreateOutcome {
  item: Item;
  replayed: boolean;
}

/** Concurrent updates without If-Match retry this often before giving up with a conflict. */
const MAX_UPDATE_ATTEMPTS = 5;

@Injectable()
export class ItemsService {
  private readonly idempotencyKeyTtlMs: number;

  constructor(
    @Inject(ITEMS_REPOSITORY) private readonly repository: ItemsRepository,
    @Inject(storeConfig.KEY) store: ConfigType<typeof storeConfig>,
    @Optional() @Inject(ITEMS_CONDITION_OBSERVER) private readonly conditions?: ItemsConditionObserver,
  ) {
    this.idempotencyKeyTtlMs = store.idempotencyKeyTtlMs;
  }

  async create(input: { id?: string; name: string }): Promise<Item> {
    const item = newItem(input);
    await this.repository.insert(item);
    return item;
  }

  /**
   * Creates the item once per key: a retry with the same body gets the first answer again (the item as
   * it was created, even if it has changed since), another body a mismatch, and a retry while the first
   * request is still being written IdempotencyKeyInUseError. The check and the write are one atomic
   * step in the store, so two requests with one key never make two items.
   */
  async createOnce(input: { id?: string; name: string }, idempotency: IdempotencyKey): Promise<CreateOutcome> {
    const key = scopedIdempotencyKey(idempotency.scope, idempotency.key);
    const fingerprint = requestFingerprint(input);
    const earlier = await this.replay(key, fingerprint);
    if (earlier) return earlier;
    const item = newItem(input);
    const expiresAt = new Date(Date.parse(item.created_at) + this.idempotencyKeyTtlMs).toISOString();
    try {
      await this.repository.insert(item, { key, fingerprint, expires_at: expiresAt });
    } catch (err) {
      // Another request with the key got in first: replay its answer once it is recorded.
      if (err instanceof IdempotencyKeyInUseError) {
        const replayed = await this.replay(key, fingerprint);
        if (replayed) return replayed;
      }
      throw err;
    }
    return { item, replayed: false };
  }

  private async replay(key: string, fingerprint: string): Promise<CreateOutcome | undefined> {
    const record = await this.repository.findIdempotencyRecord(key);
    if (!record) return undefined;
    if (record.fingerprint !== fingerprint) throw new IdempotencyKeyMismatchError();
    return { item: record.item, replayed: true };
  }

  async get(id: string): Promise<Item> {
    const item = await this.repository.findById(id);
    if (!item) throw new ItemNotFoundError(id);
    return item;
  }

  /**
   * The item, and whether the client's copy is still current: If-None-Match names its tag (weak
   * comparison) or is `*`. Throws ItemNotFoundError as `get` does, whatever the condition.
   */
  async getIfNoneMatch(id: string, ifNoneMatch?: EntityTagCondition): Promise<{ item: Item; notModified: boolean }> {
    const item = await this.get(id);
    const notModified = ifNoneMatch !== undefined && conditionMatches(ifNoneMatch, item);
    if (notModified) this.conditions?.decided('find', 'not_modified');
    return { item, notModified };
  }

  async list(limit: number, cursor?: string): Promise<ItemsPage> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const page = await this.repository.list(limit, after);
    const last = page.items.at(-1);
    return { items: page.items, next_cursor: page.hasMore && last ? encodeCursor(last) : null };
  }

  /** Renames an item. Without If-Match the change applies to whatever version is current. */
  async update(id: string, change: { name: string }, ifMatch?: EntityTagCondition): Promise<Item> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(id);
      if (ifMatch !== undefined && !conditionMatches(ifMatch, current)) this.refuse('replace', id);
      const updatedAt = new Date().toISOString();
      const next: Item = {
        ...current,
        name: change.name,
        // Keeps updated_at monotonic even if the wall clock steps back.
        updated_at: updatedAt > current.updated_at ? updatedAt : current.updated_at,
        version: current.version + 1,
      };
      try {
        await this.repository.replace(next, current.version);
        return next;
      } catch (err) {
        const lostRace = err instanceof ItemVersionMismatchError && ifMatch === undefined;
        if (!lostRace || attempt >= MAX_UPDATE_ATTEMPTS) throw err;
      }
    }
  }

  async remove(id: string, ifMatch?: EntityTagCondition): Promise<void> {
    if (ifMatch === undefined) return this.repository.remove(id);
    const current = await this.get(id);
    if (!conditionMatches(ifMatch, current)) this.refuse('remove', id);
    await this.repository.remove(id, current.version);
  }

  /**
   * A write whose If-Match names another version, refused on the item read before it: the store never
   * sees it, so it is reported here, to be counted with the writes the store itself refuses.
   */
  private refuse(op: 'replace' | 'remove', id: string): never {
    this.conditions?.decided(op, 'precondition_failed');
    throw new ItemVersionMismatchError(id);
  }
}

function newItem(input: { id?: string; name: string }): Item {
  const now = new Date().toISOString();
  return { id: input.id ?? randomUUID(), name: input.name, created_at: now, updated_at: now, version: 1 };
}

function encodeCursor(position: ItemPosition): string {
  return Buffer.from(JSON.stringify([position.created_at, position.id])).toString('base64url');
}

function decodeCursor(cursor: string): ItemPosition {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(decoded) && decoded.length === 2) {
      const [createdAt, id] = decoded as unknown[];
      if (
        typeof createdAt === 'string' &&
        typeof id === 'string' &&
        ISO_TIMESTAMP_PATTERN.test(createdAt) &&
        isRealInstant(createdAt) &&
        ITEM_ID_PATTERN.test(id)
      ) {
        return { created_at: createdAt, id };
      }
    }
  } catch {
    // Falls through: any undecodable cursor is the client's error.
  }
  throw new InvalidCursorError();
}

/**
 * The shape alone lets 2026-02-30T25:61:00.000Z through, which each store would read differently
 * (PostgreSQL refuses it): only an instant that reads back unchanged is one this API could have written.
 */
function isRealInstant(iso: string): boolean {
  const time = Date.parse(iso);
  // Year 0 is a date in JavaScript, not in PostgreSQL.
  return !Number.isNaN(time) && !iso.startsWith('0000') && new Date(time).toISOString() === iso;
}
