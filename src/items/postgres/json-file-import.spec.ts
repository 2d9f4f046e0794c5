import assert from '../../../test/support/assert.js';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { StoreLockedError } from '../json-file/store-files.js';
import { ImportSourceError, locateJsonFileStore, readJsonFileStore } from './json-file-import.js';

const ITEM = {
  id: 'a',
  name: 'one',
  created_at: '2026-01-02T03:04:05.006Z',
  updated_at: '2026-01-02T03:04:05.006Z',
  version: 1,
};

describe('json-file-import: finding and reading the store', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'json-file-import-spec-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const store = (name: string, files: Record<string, string>): string => {
    const dir = path.join(root, name);
    mkdirSync(dir);
    for (const [file, content] of Object.entries(files)) writeFileSync(path.join(dir, file), content);
    return dir;
  };
  const snapshot = JSON.stringify({ format: 'items-service.snapshot/1', seq: 1, items: [ITEM] });

  it('when --from is a data directory or a DB_PATH, then the store is the same one', async () => {
    const dir = store('plain', { 'items.json': snapshot });
    assert.equal((await locateJsonFileStore(dir)).snapshot, path.join(dir, 'items.json'));
    assert.equal((await locateJsonFileStore(path.join(dir, 'items.json'))).snapshot, path.join(dir, 'items.json'));
  });

  it('when DB_PATH has only a journal (no snapshot yet), then it is a store all the same', async () => {
    const dir = store('journal-only', { 'custom.json.journal': '' });
    assert.equal(
      (await locateJsonFileStore(path.join(dir, 'custom.json'))).journal,
      path.join(dir, 'custom.json.journal'),
    );
  });

  it('when --from does not exist or holds no store, then ImportSourceError says which', async () => {
    await assert.rejects(locateJsonFileStore(path.join(root, 'absent')), (err: unknown) => {
      assert.ok(err instanceof ImportSourceError);
      assert.match(err.message, /absent: does not exist$/);
      return true;
    });
    const empty = store('empty', { 'notes.txt': 'no store here' });
    await assert.rejects(locateJsonFileStore(empty), /no JSON-file store there \(no items\.json nor its journal\)/);
  });

  it('when the lock belongs to a live process, then the read is refused, naming it; a dead holder’s lock is ignored', async () => {
    const live = store('live', {
      'items.json': snapshot,
      'items.json.lock': JSON.stringify({
        pid: process.ppid,
        hostname: hostname(),
        start_ticks: null,
        acquired_at: '2026-01-01T00:00:00.000Z',
      }),
    });
    await assert.rejects(readJsonFileStore(await locateJsonFileStore(live)), (err: unknown) => {
      assert.ok(err instanceof StoreLockedError);
      assert.match(err.message, new RegExp(`in use by process ${process.ppid} on host`));
      return true;
    });

    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    const dead = store('dead', {
      'items.json': snapshot,
      'items.json.lock': JSON.stringify({ pid: gone, hostname: hostname(), start_ticks: null, acquired_at: '' }),
    });
    const before = readdirSync(dead).sort();
    const { items, tornTail } = await readJsonFileStore(await locateJsonFileStore(dead));
    assert.deepEqual(items, [ITEM]);
    assert.equal(tornTail, false);
    assert.deepEqual(readdirSync(dead).sort(), before, 'the dead holder’s lock is left as it is');
  });
});
