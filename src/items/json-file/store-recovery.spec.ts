import assert from '../../../test/support/assert.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { loadConfig } from '../../config/app-config.js';
import { Lifecycle } from '../../lifecycle/lifecycle.js';
import type { Item } from '../item.js';
import type { ItemRules } from '../item-rules.js';
import { JsonFileItemsRepository } from './json-file-items.repository.js';
import { StoreCorruptError, StoreFiles } from './store-files.js';
import type { StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import { writeSnapshot } from './snapshot-writer.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_V1 } from './store-format.js';
import { recoverStore } from './store-recovery.js';

const AT = '2026-01-01T00:00:00.000Z';
const item = (id: string, version = 1): Item => ({ id, name: id, created_at: AT, updated_at: AT, version });
const put = (seq: number, it: Item) => JSON.stringify({ seq, op: 'put', item: it });
const del = (seq: number, id: string) => JSON.stringify({ seq, op: 'delete', id });
/** A snapshot as format /1 wrote it (items only): still read. */
const snapshot = (seq: number, items: Item[]) =>
  `{"format":"${SNAPSHOT_FORMAT_V1}","seq":${seq},"items":[\n${items.map((i) => JSON.stringify(i)).join(',\n')}\n]}\n`;
const LATER = '2999-01-01T00:00:00.000Z';
const EARLIER = '2001-01-01T00:00:00.000Z';
const digest = (n: number) => n.toString(16).padStart(64, '0');
const record = (n: number, it: Item, expires = LATER): StoredIdempotencyRecord => ({
  key: digest(n),
  fingerprint: digest(1000 + n),
  expires_at: expires,
  item: it,
});
const keyedPut = (seq: number, it: Item, n: number, expires = LATER) =>
  JSON.stringify({
    seq,
    op: 'put',
    item: it,
    idempotency: { key: digest(n), fingerprint: digest(1000 + n), expires_at: expires },
  });
/** A snapshot in format /2 laid out by hand, one element per line, as writeSnapshot writes it. */
const snapshotV2 = (seq: number, items: unknown[], records: unknown[]) =>
  [
    `{"format":"${SNAPSHOT_FORMAT}","seq":${seq},"items":[`,
    ...items.map((i, n) => JSON.stringify(i) + (n < items.length - 1 ? ',' : '')),
    '],"idempotency_keys":[',
    ...records.map((r, n) => JSON.stringify(r) + (n < records.length - 1 ? ',' : '')),
    ']}',
    '',
  ].join('\n');

describe('recoverStore', () => {
  let dir: string;
  let files: StoreFiles;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'recovery-spec-'));
    files = new StoreFiles(path.join(dir, 'items.json'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function refusal(): Promise<string> {
    try {
      await recoverStore(files);
    } catch (err) {
      assert.ok(err instanceof StoreCorruptError, String(err));
      return err.message;
    }
    assert.fail('expected start-up to be refused');
  }

  it('when no file exists, then the store is empty', async () => {
    const recovered = await recoverStore(files);
    assert.equal(recovered.index.size, 0);
    assert.equal(recovered.seq, 0);
    assert.equal(recovered.journalExists, false);
  });

  it('when snapshot and journal exist, then entries after the snapshot are replayed', async () => {
    writeFileSync(files.snapshot, snapshot(2, [item('a'), item('b')]));
    writeFileSync(files.journal, [put(1, item('a')), put(3, item('c')), del(4, 'a')].join('\n') + '\n');
    const recovered = await recoverStore(files);
    assert.deepEqual(
      recovered.index.values().map((i) => i.id),
      ['b', 'c'],
    );
    assert.equal(recovered.seq, 4);
    assert.equal(recovered.tornTail, false);
  });

  it('when the journal holds inserts with idempotency records, then the live ones are restored with the item as created, the expired ones dropped', async () => {
    writeFileSync(
      files.journal,
      [
        keyedPut(1, item('a'), 1),
        keyedPut(2, item('b'), 2, EARLIER),
        put(3, { ...item('a', 2), name: 'renamed' }),
      ].join('\n') + '\n',
    );
    const recovered = await recoverStore(files);
    assert.deepEqual([...recovered.records.values()], [record(1, item('a'))]);
    assert.equal(recovered.index.get('a')?.name, 'renamed');
  });

  it('when a format /2 snapshot holds records, then both readers restore them, and the journal adds its own', async () => {
    const records = [record(1, item('a')), record(2, item('gone')), record(3, item('b'), EARLIER)];
    await writeSnapshot(files, [item('a'), item('b')], 2, records);
    writeFileSync(files.journal, `${keyedPut(3, item('c'), 4)}\n`);
    const fast = await recoverStore(files);
    assert.deepEqual([...fast.records.keys()], [digest(1), digest(2), digest(4)]);
    assert.deepEqual(fast.records.get(digest(2))?.item, item('gone'), 'a replay answers a deleted item as created');
    // Formatted by hand: the thorough reader.
    writeFileSync(
      files.snapshot,
      JSON.stringify(
        { format: SNAPSHOT_FORMAT, seq: 2, items: [item('a'), item('b')], idempotency_keys: records },
        null,
        2,
      ),
    );
    const thorough = await recoverStore(files);
    assert.deepEqual([...thorough.records.entries()], [...fast.records.entries()]);
  });

  it('when the last journal line is torn, then it is dropped and the valid length reported', async () => {
    const whole = put(1, item('a')) + '\n';
    writeFileSync(files.journal, whole + put(2, item('b')).slice(0, 20));
    const recovered = await recoverStore(files);
    assert.equal(recovered.index.size, 1);
    assert.equal(recovered.tornTail, true);
    assert.equal(recovered.journalBytes, Buffer.byteLength(whole));
  });

  const corrupt: Array<[string, () => void, RegExp]> = [
    ['an empty snapshot', () => writeFileSync(files.snapshot, ''), /items\.json: is empty/],
    [
      'a truncated snapshot',
      () => writeFileSync(files.snapshot, snapshot(1, [item('a'), item('b')]).slice(0, 90)),
      /items\.json line \d+: is not valid JSON/,
    ],
    [
      'garbage bytes',
      () => writeFileSync(files.snapshot, Buffer.from([0xff, 0xfe, 0x00, 0x41])),
      /items\.json line 1: is not valid UTF-8/,
    ],
    ['a JSON array', () => writeFileSync(files.snapshot, '[]'), /not a snapshot object/],
    ['a foreign format', () => writeFileSync(files.snapshot, '{"items":[]}'), /is not a snapshot of this service/],
    [
      'a bad seq',
      () => writeFileSync(files.snapshot, `{"format":"${SNAPSHOT_FORMAT}","seq":-1,"items":[]}`),
      /no valid "seq"/,
    ],
    [
      'items not an array',
      () => writeFileSync(files.snapshot, `{"format":"${SNAPSHOT_FORMAT}","seq":0,"items":{}}`),
      /no "items" array/,
    ],
    [
      'an item with a bad id',
      () => writeFileSync(files.snapshot, snapshot(0, [item('a'), { ...item('b'), id: 'has space' }])),
      /items\.json line 3: an item has a missing or invalid id/,
    ],
    [
      'an item with an extra field',
      () => writeFileSync(files.snapshot, snapshot(0, [{ ...item('a'), extra: 1 } as Item])),
      /line 2: an item has an unexpected field "extra"/,
    ],
    [
      'duplicate ids',
      () => writeFileSync(files.snapshot, snapshot(0, [item('a'), item('a')])),
      /line 3: duplicate id "a"/,
    ],
    [
      'a corrupt journal line in the middle',
      () => writeFileSync(files.journal, `${put(1, item('a'))}\n{garbage\n${put(3, item('c'))}\n`),
      /items\.json\.journal line 2: is not a valid JSON line/,
    ],
    [
      'a journal gap',
      () => writeFileSync(files.journal, `${put(1, item('a'))}\n${put(3, item('c'))}\n`),
      /journal line 2: sequence number 3 follows 1/,
    ],
    [
      'a journal that starts after a missing snapshot',
      () => writeFileSync(files.journal, `${put(5, item('a'))}\n`),
      /journal line 1: sequence number 5 follows 0/,
    ],
    [
      'a delete of an unknown item',
      () => writeFileSync(files.journal, `${del(1, 'ghost')}\n`),
      /journal line 1: deletes item "ghost"/,
    ],
    [
      'an unknown op',
      () => writeFileSync(files.journal, `{"seq":1,"op":"drop"}\n`),
      /journal line 1: the entry has no valid "op"/,
    ],
    ['a snapshot that is a directory', () => mkdirSync(files.snapshot), /items\.json: cannot be read: is a directory/],
    [
      'a journal idempotency record with a bad key',
      () =>
        writeFileSync(
          files.journal,
          `${JSON.stringify({ seq: 1, op: 'put', item: item('a'), idempotency: { key: 'raw-client-key', fingerprint: digest(1), expires_at: LATER } })}\n`,
        ),
      /journal line 1: an idempotency record has a missing or invalid key/,
    ],
    [
      'a journal idempotency record with an extra field',
      () =>
        writeFileSync(
          files.journal,
          `${JSON.stringify({ seq: 1, op: 'put', item: item('a'), idempotency: { key: digest(1), fingerprint: digest(1), expires_at: LATER, api_key: 'x' } })}\n`,
        ),
      /journal line 1: an idempotency record has an unexpected field "api_key"/,
    ],
    [
      'a journal idempotency record with a bad expiry',
      () =>
        writeFileSync(
          files.journal,
          `${JSON.stringify({ seq: 1, op: 'put', item: item('a'), idempotency: { key: digest(1), fingerprint: digest(1), expires_at: 'tomorrow' } })}\n`,
        ),
      /journal line 1: an idempotency record has a missing or invalid expires_at/,
    ],
    [
      'a format /2 snapshot without its idempotency_keys',
      () => writeFileSync(files.snapshot, `{"format":"${SNAPSHOT_FORMAT}","seq":0,"items":[]}`),
      /no "idempotency_keys" array/,
    ],
    [
      'a format /1 snapshot with idempotency_keys',
      () =>
        writeFileSync(files.snapshot, `{"format":"${SNAPSHOT_FORMAT_V1}","seq":0,"items":[],"idempotency_keys":[]}`),
      /has "idempotency_keys", which its format "items-service.snapshot\/1" has not/,
    ],
    [
      'a snapshot record without its item',
      () => writeFileSync(files.snapshot, snapshotV2(0, [item('a')], [{ ...record(1, item('a')), item: undefined }])),
      /items\.json line 4: an idempotency record's item: an item must be an object/,
    ],
    [
      'a snapshot record with a bad fingerprint',
      () => writeFileSync(files.snapshot, snapshotV2(0, [item('a')], [{ ...record(1, item('a')), fingerprint: 'x' }])),
      /items\.json line 4: an idempotency record has a missing or invalid fingerprint/,
    ],
    [
      'duplicate idempotency keys in a snapshot',
      () => writeFileSync(files.snapshot, snapshotV2(0, [], [record(1, item('a')), record(1, item('b'))])),
      /items\.json line 4: duplicate idempotency key/,
    ],
    [
      'an old journal with a torn end',
      () => writeFileSync(files.oldJournal, put(1, item('a')).slice(0, 10)),
      /journal\.old line 1: ends in an incomplete line/,
    ],
  ];
  for (const [name, arrange, expected] of corrupt) {
    it(`when the files hold ${name}, then start-up is refused with file and reason`, async () => {
      arrange();
      assert.match(await refusal(), expected);
    });
  }
});

describe('recoverStore with rules that changed', () => {
  let dir: string;
  let files: StoreFiles;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'recovery-rules-spec-'));
    files = new StoreFiles(path.join(dir, 'items.json'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('when the store was written by this release and is read under a tighter rule, then every item loads and the ones the rule rejects are listed', async () => {
    Logger.overrideLogger(false);
    const store = new JsonFileItemsRepository(loadConfig({ DB_PATH: files.snapshot }).store, new Lifecycle());
    await store.onModuleInit();
    await store.insert(item('short'));
    await store.insert({ ...item('long'), name: 'x'.repeat(150) });
    await store.insert({ ...item('fixed'), name: 'z'.repeat(150) });
    await store.replace({ ...item('fixed', 2), name: 'short now' }, 1);
    await store.close();

    const tighter: ItemRules = (it) => (it.name.length > 100 ? 'name must be at most 100 characters' : undefined);
    const recovered = await recoverStore(files, tighter);

    assert.deepEqual(
      recovered.index.values().map((i) => i.id),
      ['fixed', 'long', 'short'],
    );
    assert.equal(recovered.index.get('long')?.name, 'x'.repeat(150));
    assert.deepEqual(recovered.nonconforming, [{ id: 'long', rule: 'name must be at most 100 characters' }]);
    assert.deepEqual((await recoverStore(files)).nonconforming, [], 'the current rules accept all of it');
  });

  it('when a snapshot and a journal hold names an earlier version accepted (an unpaired surrogate, an empty name), then they load and are listed', async () => {
    writeFileSync(files.snapshot, snapshot(1, [item('a'), { ...item('b'), name: 'lone \uD800' }]));
    writeFileSync(files.journal, `${put(2, { ...item('c'), name: '' })}\n${put(3, item('d'))}\n`);
    const recovered = await recoverStore(files);
    assert.equal(recovered.index.size, 4);
    assert.equal(recovered.index.get('b')?.name, 'lone \uD800');
    assert.deepEqual(
      recovered.nonconforming.map((i) => i.id),
      ['b', 'c'],
    );
  });

  it('when a name is not a string at all, then start-up is still refused: that is damage, not a rule', async () => {
    writeFileSync(files.journal, `${JSON.stringify({ seq: 1, op: 'put', item: { ...item('a'), name: 7 } })}\n`);
    await assert.rejects(recoverStore(files), /line 1: item "a" has a missing or invalid name/);
  });
});
