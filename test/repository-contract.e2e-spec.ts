import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig } from '../src/config/app-config.js';
import { IdempotencyKeyInUseError } from '../src/items/idempotency/idempotency.errors.js';
import type { IdempotencyRecord } from '../src/items/idempotency/idempotency-record.js';
import type { Item } from '../src/items/item.js';
import { ITEM_NAME_MAX_LENGTH } from '../src/items/item-rules.js';
import {
  InvalidItemError,
  ItemAlreadyExistsError,
  ItemNotFoundError,
  ItemVersionMismatchError,
  StoreUnavailableError,
} from '../src/items/items.errors.js';
import type { ItemsRepository } from '../src/items/items.repository.js';
import { JsonFileItemsRepository } from '../src/items/json-file/json-file-items.repository.js';
import { PostgresItemsRepository } from '../src/items/postgres/postgres-items.repository.js';
import { Lifecycle } from '../src/lifecycle/lifecycle.js';
import { createTestDatabase } from './support/postgres.js';
import { makeTempDir } from './support/temp-dir.js';

interface Driver {
  name: string;
  /** A repository on an empty store of its own, and how to close it and throw the store away. */
  open: () => Promise<{ repository: ItemsRepository; close: () => Promise<void> }>;
}

const DRIVERS: Driver[] = [
  {
    name: 'json-file',
    open: async () => {
      const temp = makeTempDir();
      const repository = new JsonFileItemsRepository(loadConfig({ DB_PATH: temp.dbPath }).store, new Lifecycle());
      await repository.onModuleInit();
      return {
        repository,
        close: async () => {
          await repository.onApplicationShutdown();
          temp.remove();
        },
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const database = await createTestDatabase();
      await database.migrate();
      const config = loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: database.url, DATABASE_POOL_MAX: '20' });
      const repository = new PostgresItemsRepository(config.store, new Lifecycle());
      await repository.onModuleInit();
      return {
        repository,
        close: async () => {
          await repository.onApplicationShutdown();
          await database.drop();
        },
      };
    },
  },
];

Logger.overrideLogger(false);

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function item(id: string, overrides: Partial<Item> = {}, at = T0): Item {
  const time = new Date(at).toISOString();
  return { id, name: `item ${id}`, created_at: time, updated_at: time, version: 1, ...overrides };
}

/** What each call settled as: 'ok', or the error's class name. */
async function outcomes(calls: Promise<unknown>[]): Promise<string[]> {
  const settled = await Promise.allSettled(calls);
  return settled.map((result) =>
    result.status === 'fulfilled' ? 'ok' : ((result.reason as Error).constructor.name ?? 'Error'),
  );
}

/** An idempotency record under a key numbered `n`, as the service would make it (digests in hex). */
function record(n: number, fingerprint = 'a'.repeat(64), expiresAt = '2999-01-01T00:00:00.000Z'): IdempotencyRecord {
  return { key: n.toString(16).padStart(64, '0'), fingerprint, expires_at: expiresAt };
}

function count(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

// One contract, every driver: the API above the port behaves the same whichever store is behind it.
describe.each(DRIVERS)('ItemsRepository contract: $name', (driver) => {
  let repository: ItemsRepository;
  let close: () => Promise<void>;
  beforeAll(async () => ({ repository, close } = await driver.open()));
  afterAll(async () => close());

  it('when an item is inserted, then it reads back exactly, whatever its name holds', async () => {
    const names = [
      'plain',
      'a\u0000b',
      '🎉'.repeat(ITEM_NAME_MAX_LENGTH),
      'é\u0301 \u2028 ẞ',
      'x'.repeat(ITEM_NAME_MAX_LENGTH),
    ];
    for (const [index, name] of names.entries()) {
      const stored = item(`rt-${index}`, { name }, T0 + index);
      await repository.insert(stored);
      assert.deepEqual(await repository.findById(stored.id), stored);
    }
    assert.equal(await repository.findById('rt-missing'), undefined);
  });

  it('when an id is taken, then a second insert fails with ItemAlreadyExistsError and changes nothing', async () => {
    await repository.insert(item('dup'));
    await assert.rejects(repository.insert(item('dup', { name: 'other' })), ItemAlreadyExistsError);
    assert.equal((await repository.findById('dup'))?.name, 'item dup');
  });

  it('when a field breaks the item rules, then the write fails with InvalidItemError and nothing is stored', async () => {
    await assert.rejects(
      repository.insert(item('long', { name: 'x'.repeat(ITEM_NAME_MAX_LENGTH + 1) })),
      InvalidItemError,
    );
    await assert.rejects(repository.insert(item('surrogate', { name: 'a\uD800b' })), InvalidItemError);
    await assert.rejects(repository.insert(item('bad id!')), InvalidItemError);
    assert.equal(await repository.findById('long'), undefined);
    await repository.insert(item('ok-then-bad'));
    await assert.rejects(repository.replace(item('ok-then-bad', { name: '', version: 2 }), 1), InvalidItemError);
    assert.equal((await repository.findById('ok-then-bad'))?.version, 1);
  });

  it('when replacing, then only the expected version is replaced; a stale one is a mismatch, a missing item not found', async () => {
    await repository.insert(item('r'));
    const next = item('r', { name: 'renamed', version: 2, updated_at: new Date(T0 + 5).toISOString() });
    await repository.replace(next, 1);
    assert.deepEqual(await repository.findById('r'), next);
    await assert.rejects(repository.replace(item('r', { version: 3 }), 1), ItemVersionMismatchError);
    await assert.rejects(repository.replace(item('r-missing', { version: 2 }), 1), ItemNotFoundError);
    assert.deepEqual(await repository.findById('r'), next);
  });

  it('when removing, then a stale version is a mismatch, a missing item not found, and otherwise it is gone', async () => {
    await repository.insert(item('d'));
    await assert.rejects(repository.remove('d', 2), ItemVersionMismatchError);
    await repository.remove('d', 1);
    assert.equal(await repository.findById('d'), undefined);
    await assert.rejects(repository.remove('d'), ItemNotFoundError);
    await repository.insert(item('d2'));
    await repository.remove('d2');
    assert.equal(await repository.findById('d2'), undefined);
  });

  it('when many create one id at once, then exactly one succeeds and the rest get ItemAlreadyExistsError', async () => {
    const results = await outcomes(
      Array.from({ length: 32 }, (_, n) => repository.insert(item('race', { name: `n${n}` }))),
    );
    assert.deepEqual(count(results), { ok: 1, ItemAlreadyExistsError: 31 });
  });

  it('when many replace one version at once, then exactly one wins and the rest get ItemVersionMismatchError', async () => {
    await repository.insert(item('cas'));
    const results = await outcomes(
      Array.from({ length: 32 }, (_, n) => repository.replace(item('cas', { name: `w${n}`, version: 2 }), 1)),
    );
    assert.deepEqual(count(results), { ok: 1, ItemVersionMismatchError: 31 });
    const stored = await repository.findById('cas');
    assert.equal(stored?.version, 2);
    assert.equal(results.filter((r) => r === 'ok').length, 1);
    assert.equal(stored?.name, `w${results.indexOf('ok')}`, 'the winner’s write is the one stored');
  });

  it('when an item is inserted with an idempotency record, then the record reads back with the item as created, even after the item changes or goes', async () => {
    const created = item('keyed');
    const idempotency = record(1);
    await repository.insert(created, idempotency);
    assert.deepEqual(await repository.findIdempotencyRecord(idempotency.key), { ...idempotency, item: created });
    await repository.replace(item('keyed', { name: 'renamed', version: 2 }), 1);
    await repository.remove('keyed');
    assert.deepEqual(await repository.findIdempotencyRecord(idempotency.key), { ...idempotency, item: created });
    assert.equal(await repository.findIdempotencyRecord(record(2).key), undefined);
  });

  it('when a live key is inserted again, then IdempotencyKeyInUseError, and neither the item nor the record changes', async () => {
    await repository.insert(item('key-first'), record(3));
    await assert.rejects(repository.insert(item('key-second'), record(3, 'f'.repeat(64))), IdempotencyKeyInUseError);
    assert.equal(await repository.findById('key-second'), undefined);
    assert.deepEqual((await repository.findIdempotencyRecord(record(3).key))?.item, item('key-first'));
  });

  it('when a keyed insert fails (its id is taken), then its key is not recorded', async () => {
    await repository.insert(item('taken-by-plain'));
    await assert.rejects(
      repository.insert(item('taken-by-plain', { name: 'other' }), record(4)),
      ItemAlreadyExistsError,
    );
    assert.equal(await repository.findIdempotencyRecord(record(4).key), undefined);
  });

  it('when a record has expired, then it is not found, and its key may be used anew', async () => {
    const expired = record(5, undefined, new Date(Date.now() - 1_000).toISOString());
    await repository.insert(item('expired-1'), expired);
    assert.equal(await repository.findIdempotencyRecord(expired.key), undefined);
    const renewed = record(5, 'e'.repeat(64));
    await repository.insert(item('expired-2'), renewed);
    assert.deepEqual(await repository.findIdempotencyRecord(expired.key), { ...renewed, item: item('expired-2') });
  });

  it('when many insert with one key at once, then exactly one succeeds and the rest get IdempotencyKeyInUseError', async () => {
    const results = await outcomes(
      Array.from({ length: 32 }, (_, n) => repository.insert(item(`key-race-${n}`), record(6))),
    );
    assert.deepEqual(count(results), { ok: 1, IdempotencyKeyInUseError: 31 });
    const winner = results.indexOf('ok');
    assert.deepEqual((await repository.findIdempotencyRecord(record(6).key))?.item, item(`key-race-${winner}`));
    for (let n = 0; n < 32; n++)
      assert.equal((await repository.findById(`key-race-${n}`)) !== undefined, n === winner, `key-race-${n}`);
  });
});

describe.each(DRIVERS)('ItemsRepository contract, listing: $name', (driver) => {
  let repository: ItemsRepository;
  let close: () => Promise<void>;
  beforeAll(async () => ({ repository, close } = await driver.open()));
  afterAll(async () => close());

  async function pageThrough(limit: number, during?: (page: number) => Promise<void>): Promise<Item[]> {
    const seen: Item[] = [];
    let after: Item | undefined;
    for (let page = 0; ; page++) {
      const result = await repository.list(limit, after && { created_at: after.created_at, id: after.id });
      assert.ok(result.items.length <= limit);
      seen.push(...result.items);
      await during?.(page);
      if (!result.hasMore) return seen;
      assert.equal(result.items.length, limit, 'a page before the last is full');
      after = result.items.at(-1);
    }
  }

  it('when listing page by page, then every item comes once, ordered by created_at then id (ids compared by code point)', async () => {
    // Several items share a creation time: the id breaks the tie, upper case before lower case.
    const ids = ['b', 'A', 'a', 'Z', '0', '_', '~', 'a.b', 'a-b', 'ab'];
    const items = ids.map((id, n) => item(id, {}, T0 + (n % 3)));
    for (const stored of items) await repository.insert(stored);
    const expected = [...items].sort((x, y) =>
      x.created_at === y.created_at ? (x.id < y.id ? -1 : 1) : x.created_at < y.created_at ? -1 : 1,
    );
    for (const limit of [1, 3, 10, 50]) assert.deepEqual(await pageThrough(limit), expected, `limit ${limit}`);
    assert.deepEqual(await repository.list(5, { created_at: expected.at(-1)!.created_at, id: expected.at(-1)!.id }), {
      items: [],
      hasMore: false,
    });
  });

  it('when items are created while a client pages, then the items that were there come exactly once', async () => {
    const before = await pageThrough(100);
    let added = 0;
    const seen = await pageThrough(2, async () => {
      await repository.insert(item(`new-${added++}`, {}, T0 + 1_000 + added));
    });
    const seenIds = seen.map((entry) => entry.id);
    assert.equal(new Set(seenIds).size, seenIds.length, 'no item twice');
    for (const entry of before) assert.ok(seenIds.includes(entry.id), `${entry.id} is listed`);
  });

  it('when asked whether it can take writes, then it says yes', async () => {
    await repository.checkWritable();
  });
});

describe('PostgreSQL store at start-up', () => {
  it('when the schema is behind this release, then opening fails with a message that says how to migrate', async () => {
    const database = await createTestDatabase();
    try {
      const repository = new PostgresItemsRepository(
        loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: database.url }).store,
        new Lifecycle(),
      );
      await assert.rejects(
        repository.onModuleInit(),
        /schema is behind this release \(not applied: 0001_create_items, 0002_create_idempotency_keys\).*npm run migrate/,
      );
      await repository.onApplicationShutdown();
      await database.migrate();
      const migrated = new PostgresItemsRepository(
        loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: database.url }).store,
        new Lifecycle(),
      );
      await migrated.onModuleInit();
      await migrated.onApplicationShutdown();
    } finally {
      await database.drop();
    }
  });

  it('when nothing listens at DATABASE_URL, then opening fails saying the database cannot be reached, and why', async () => {
    const url = 'postgres://items:s3cret-password@127.0.0.1:1/items';
    const repository = new PostgresItemsRepository(
      loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: url, DATABASE_CONNECT_TIMEOUT: '500ms' }).store,
      new Lifecycle(),
    );
    await assert.rejects(repository.onModuleInit(), (err: Error) => {
      assert.match(err.message, /^the database cannot be reached: .*connect ECONNREFUSED 127\.0\.0\.1:1/);
      return true;
    });
    await repository.onApplicationShutdown();
  });

  it('when the database goes away under a running store, then calls fail with StoreUnavailableError (503), never hang, and readiness says why', async () => {
    const database = await createTestDatabase();
    await database.migrate();
    const repository = new PostgresItemsRepository(
      loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: database.url }).store,
      new Lifecycle(),
    );
    await repository.onModuleInit();
    await repository.insert(item('before'));
    await database.drop();
    await assert.rejects(repository.findById('before'), StoreUnavailableError);
    await assert.rejects(repository.insert(item('after')), StoreUnavailableError);
    await assert.rejects(repository.list(10), StoreUnavailableError);
    await assert.rejects(repository.checkWritable(), /^Error: the database is not available: .*does not exist/);
    await repository.onApplicationShutdown();
  });
});
