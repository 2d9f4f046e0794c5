import assert from '../../../test/support/assert.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import { loadConfig } from '../../config/app-config.js';
import type { Item } from '../item.js';
import {
  InvalidItemError,
  ItemAlreadyExistsError,
  ItemNotFoundError,
  ItemVersionMismatchError,
  StoreUnavailableError,
} from '../items.errors.js';
import { JsonFileItemsRepository } from './json-file-items.repository.js';
import { Logger } from '@nestjs/common';
import { StoreLockedError } from './store-files.js';
import { Lifecycle } from '../../lifecycle/lifecycle.js';
import type { StoreObserver } from './store-observer.js';

function item(id: string, version = 1, name = `name of ${id}`): Item {
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 0)).toISOString();
  return { id, name, created_at: at, updated_at: at, version };
}

Logger.overrideLogger(false);

describe('JsonFileItemsRepository', () => {
  let dir: string;
  let dbPath: string;
  const open: JsonFileItemsRepository[] = [];
  let fatalErrors: Error[];

  async function openStore(): Promise<JsonFileItemsRepository> {
    const lifecycle = new Lifecycle();
    lifecycle.onFatal((err) => fatalErrors.push(err));
    const store = new JsonFileItemsRepository(loadConfig({ DB_PATH: dbPath }).store, lifecycle);
    await store.onModuleInit();
    open.push(store);
    return store;
  }

  async function reopen(store: JsonFileItemsRepository): Promise<JsonFileItemsRepository> {
    await store.close();
    return openStore();
  }

  beforeEach(() => {
    fatalErrors = [];
    dir = mkdtempSync(path.join(tmpdir(), 'store-spec-'));
    dbPath = path.join(dir, 'items.json');
  });
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when writes are acknowledged, then they are there after a reopen', async () => {
    let store = await openStore();
    await store.insert(item('a'));
    await store.insert(item('b'));
    await store.replace(item('a', 2, 'renamed'), 1);
    await store.remove('b');
    store = await reopen(store);
    assert.deepEqual(await store.findById('a'), item('a', 2, 'renamed'));
    assert.equal(await store.findById('b'), undefined);
  });

  it('when conditions fail, then the matching domain error is raised and nothing changes', async () => {
    const store = await openStore();
    await store.insert(item('a'));
    await assert.rejects(store.insert(item('a')), ItemAlreadyExistsError);
    await assert.rejects(store.replace(item('a', 2), 5), ItemVersionMismatchError);
    await assert.rejects(store.replace(item('zz', 2), 1), ItemNotFoundError);
    await assert.rejects(store.remove('a', 9), ItemVersionMismatchError);
    await assert.rejects(store.remove('zz'), ItemNotFoundError);
    assert.deepEqual(await store.findById('a'), item('a'));
  });

  it('when many writes for one id race, then exactly one insert wins', async () => {
    const store = await openStore();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => store.insert(item('same'))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof ItemAlreadyExistsError));
  });

  it('when writes arrive together, then they share fsyncs (group commit)', async () => {
    const store = await openStore();
    const journal = (store as unknown as { journal: { sync: () => Promise<void> } }).journal;
    const sync = journal.sync.bind(journal);
    let syncs = 0;
    journal.sync = () => {
      syncs++;
      return sync();
    };
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.insert(item(`g${i}`))));
    assert.ok(syncs >= 1 && syncs < 20, `expected few fsyncs for 200 concurrent writes, saw ${syncs}`);
  });

  it('when the journal fsync fails, then the write is refused, memory and disk keep only acknowledged writes', async () => {
    let store = await openStore();
    await store.insert(item('kept'));
    const journal = (store as unknown as { journal: { sync: () => Promise<void> } }).journal;
    const sync = journal.sync.bind(journal);
    let fail = true;
    journal.sync = () => {
      if (fail) {
        fail = false;
        return Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' }));
      }
      return sync();
    };
    await assert.rejects(store.insert(item('lost')), StoreUnavailableError);
    assert.equal(await store.findById('lost'), undefined);
    assert.equal(store.isWritable(), true, 'the rollback succeeded, so the store keeps serving');
    assert.deepEqual(fatalErrors, []);
    await store.insert(item('after'));
    store = await reopen(store);
    assert.ok(await store.findById('kept'));
    assert.ok(await store.findById('after'));
    assert.equal(await store.findById('lost'), undefined, 'a refused write must not appear after a restart');
  });

  it('when the rollback after a failed write also fails, then the store refuses writes and reports a fatal error', async () => {
    const store = await openStore();
    const journal = (store as unknown as { journal: Record<string, () => Promise<void>> }).journal;
    const eio = () => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' }));
    journal.sync = eio;
    journal.truncate = eio;
    await assert.rejects(store.insert(item('x')), StoreUnavailableError);
    assert.equal(store.isWritable(), false);
    await assert.rejects(store.insert(item('y')), StoreUnavailableError);
    assert.equal(fatalErrors.length, 1);
    assert.match(fatalErrors[0]!.message, /journal rollback failed: I\/O error \(EIO\)/);
  });

  it('when the journal outgrows its threshold, then it is compacted into the snapshot and nothing is lost', async () => {
    let store = await openStore();
    const longName = 'n'.repeat(190);
    const ids: string[] = [];
    for (let batch = 0; batch < 30; batch++) {
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const id = `c${batch}-${i}`;
          ids.push(id);
          return store.insert(item(id, 1, longName));
        }),
      );
    }
    await store.remove('c0-0');
    store = await reopen(store);
    const snapshot = JSON.parse(readFileSync(dbPath, 'utf8')) as { seq: number; items: Item[] };
    assert.ok(snapshot.items.length > 1000, 'a snapshot was written');
    assert.ok(statSync(`${dbPath}.journal`).size < 1024 * 1024, 'the journal was restarted');
    assert.ok(!existsSync(`${dbPath}.journal.old`));
    assert.equal((await store.list(10_000)).items.length, ids.length - 1);
    assert.equal(await store.findById('c0-0'), undefined);
  });

  it('when a compaction was interrupted after setting the journal aside, then start-up finishes it', async () => {
    let store = await openStore();
    await store.insert(item('old-1'));
    await store.insert(item('old-2'));
    await store.close();
    // As a crash right after the rename leaves it: an old journal, a new empty one, the old snapshot.
    writeFileSync(`${dbPath}.journal.old`, readFileSync(`${dbPath}.journal`));
    writeFileSync(`${dbPath}.journal`, '');
    store = await openStore();
    await store.insert(item('new'));
    store = await reopen(store);
    assert.ok(!existsSync(`${dbPath}.journal.old`));
    assert.deepEqual(
      (await store.list(10)).items.map((i) => i.id),
      ['new', 'old-1', 'old-2'],
    );
  });

  it('when another live process holds the store, then opening it fails with a message naming the holder', async () => {
    await openStore();
    const second = new JsonFileItemsRepository(loadConfig({ DB_PATH: dbPath }).store, new Lifecycle());
    // The same pid would look like a restarted container: pretend the holder is another live process.
    const lock = JSON.parse(readFileSync(`${dbPath}.lock`, 'utf8')) as Record<string, unknown>;
    writeFileSync(`${dbPath}.lock`, JSON.stringify({ ...lock, pid: process.ppid, start_ticks: null }));
    await assert.rejects(second.onModuleInit(), (err: unknown) => {
      assert.ok(err instanceof StoreLockedError);
      assert.match(err.message, new RegExp(`in use by process ${process.ppid}`));
      assert.match(err.message, /items\.json\.lock/);
      return true;
    });
  });

  it('when the lock was left by a dead process, then it is taken over', async () => {
    writeFileSync(
      `${dbPath}.lock`,
      JSON.stringify({
        pid: 2 ** 22 + 7,
        hostname: (await import('node:os')).hostname(),
        start_ticks: null,
        acquired_at: 'x',
      }),
    );
    const store = await openStore();
    assert.equal(store.isWritable(), true);
  });

  it('when temp files were left by a crash, then start-up removes them', async () => {
    writeFileSync(path.join(dir, 'items.json.tmp-123-abc'), '{"partial');
    await openStore();
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.includes('.tmp-')),
      [],
    );
  });

  it('when closed, then writes are refused and the lock is released', async () => {
    const store = await openStore();
    await store.close();
    await assert.rejects(store.insert(item('x')), StoreUnavailableError);
    assert.ok(!existsSync(`${dbPath}.lock`));
  });

  it('when an item breaks the item rules, then the writer refuses it and the journal is unchanged', async () => {
    const store = await openStore();
    const before = readFileSync(`${dbPath}.journal`);
    await assert.rejects(store.insert(item('x', 1, '\uD800')), InvalidItemError);
    await assert.rejects(store.insert(item('y', 1, '\u{1F600}'.repeat(201))), InvalidItemError);
    assert.deepEqual(readFileSync(`${dbPath}.journal`), before);
    await store.insert(item('z', 1, '\u{1F600}'.repeat(200)));
    assert.equal((await reopen(store)).isWritable(), true);
  });

  it('when loaded items break the current rules, then they are served, counted, and a write that replaces one lowers the count', async () => {
    const at = item('a').created_at;
    writeFileSync(
      `${dbPath}.journal`,
      [item('a', 1, 'old \uD800'), item('b', 1, ''), item('c')]
        .map((it, i) => JSON.stringify({ seq: i + 1, op: 'put', item: it }) + '\n')
        .join(''),
    );
    const counts: number[] = [];
    const observer: StoreObserver = {
      currentTraceParent: () => undefined,
      fsynced: () => undefined,
      sized: () => undefined,
      nonconforming: (items) => counts.push(items),
    };
    const store = new JsonFileItemsRepository(loadConfig({ DB_PATH: dbPath }).store, new Lifecycle(), observer);
    await store.onModuleInit();
    open.push(store);
    assert.equal((await store.findById('a'))?.name, 'old \uD800');
    await store.replace({ ...item('a', 2, 'new'), created_at: at }, 1);
    await store.remove('b');
    assert.deepEqual(counts, [2, 1, 0]);
  });
});
