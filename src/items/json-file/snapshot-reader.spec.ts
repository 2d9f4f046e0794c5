import assert from '../../../test/support/assert.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import type { Item } from '../item.js';
import { readCanonicalSnapshot } from './snapshot-reader.js';
import { writeSnapshot } from './snapshot-writer.js';
import { StoreFiles } from './store-files.js';
import type { StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import { RECORDS_SEPARATOR } from './snapshot-writer.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_V1 } from './store-format.js';

const AT = '2026-01-01T00:00:00.000Z';
const item = (id: string): Item => ({ id, name: `name of ${id}`, created_at: AT, updated_at: AT, version: 1 });
const record = (n: number, it: Item): StoredIdempotencyRecord => ({
  key: n.toString(16).padStart(64, '0'),
  fingerprint: 'f'.repeat(64),
  expires_at: '2999-01-01T00:00:00.000Z',
  item: it,
});
/** Format /1: items only. */
const HEADER = `{"format":"${SNAPSHOT_FORMAT_V1}","seq":7,"items":[`;
const HEADER_V2 = `{"format":"${SNAPSHOT_FORMAT}","seq":7,"items":[`;
const lines = (...rows: string[]) => `${rows.join('\n')}\n`;

describe('readCanonicalSnapshot', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'snapshot-reader-spec-'));
    file = path.join(dir, 'items.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('when the file is what writeSnapshot writes, then it reads every item, across chunk boundaries', async () => {
    // ~1.6 MB: more than one 1 MB read, so that lines are split between reads.
    const items = Array.from({ length: 12_000 }, (_, n) => item(`item-${n}`));
    const bytes = await writeSnapshot(new StoreFiles(file), items, 42);
    assert.ok(bytes > 1024 * 1024);
    const read = await readCanonicalSnapshot(file);
    assert.ok(read);
    assert.equal(read.seq, 42);
    assert.equal(read.bytes, bytes);
    assert.deepEqual(read.items, items);
  });

  it('when names hold multi-byte characters across chunk boundaries, then every name is read as written', async () => {
    // Three- and four-byte characters in ~2.4 MB of lines: reads end inside some of them.
    const items = Array.from({ length: 12_000 }, (_, n) => ({ ...item(`item-${n}`), name: `€${n} 𝄞 ü`.repeat(5) }));
    await writeSnapshot(new StoreFiles(file), items, 1);

    const read = await readCanonicalSnapshot(file);

    assert.ok(read);
    assert.deepEqual(read.items, items);
  });

  it('when one item was updated and another not, then each keeps its own two times (one string is shared only when they are equal)', async () => {
    await writeSnapshot(new StoreFiles(file), [item('a'), { ...item('b'), updated_at: '2026-02-01T00:00:00.000Z' }], 1);

    const read = await readCanonicalSnapshot(file);

    assert.ok(read);
    assert.deepEqual(
      read.items.map((it) => [it.created_at, it.updated_at]),
      [
        [AT, AT],
        [AT, '2026-02-01T00:00:00.000Z'],
      ],
    );
  });

  it('when the snapshot has no items, then it reads an empty list', async () => {
    const bytes = await writeSnapshot(new StoreFiles(file), [], 3);
    assert.deepEqual(await readCanonicalSnapshot(file), { items: [], byId: new Map(), records: [], seq: 3, bytes });
  });

  it('when the snapshot holds idempotency records (format /2), then it reads them after the items', async () => {
    const records = Array.from({ length: 3_000 }, (_, n) => record(n, item(`r-${n}`)));
    const bytes = await writeSnapshot(new StoreFiles(file), [item('a')], 9, records);
    assert.deepEqual(await readCanonicalSnapshot(file), {
      items: [item('a')],
      byId: new Map([['a', item('a')]]),
      records,
      seq: 9,
      bytes,
    });
  });

  it('when a format /1 snapshot is read, then its items come with no records', async () => {
    writeFileSync(file, lines(HEADER, `${JSON.stringify(item('a'))},`, JSON.stringify(item('b')), ']}'));
    const read = await readCanonicalSnapshot(file);
    assert.deepEqual(read && { items: read.items, records: read.records }, {
      items: [item('a'), item('b')],
      records: [],
    });
  });

  const a = JSON.stringify(item('a'));
  const b = JSON.stringify(item('b'));
  const refused: Array<[string, string | Buffer]> = [
    ['formatted by hand', `{\n  "format": "${SNAPSHOT_FORMAT}",\n  "seq": 7,\n  "items": []\n}\n`],
    ['of another format', lines(HEADER.replace(SNAPSHOT_FORMAT_V1, 'other/1'), a, ']}')],
    ['missing a comma between items', lines(HEADER, a, b, ']}')],
    ['with a comma after the last item', lines(HEADER, `${a},`, `${b},`, ']}')],
    ['cut before its end', lines(HEADER, `${a},`, b)],
    ['without its last newline', `${HEADER}\n${a}\n]}`],
    ['with anything after its end', lines(HEADER, a, ']}', '')],
    ['with an invalid item', lines(HEADER, `${a},`, JSON.stringify({ ...item('b'), version: 0 }), ']}')],
    ['with an item that is not JSON', lines(HEADER, `${a},`, '{"id":', ']}')],
    ['with a duplicate id', lines(HEADER, `${a},`, a, ']}')],
    ['with a sequence number that is not JSON (leading zero)', lines(HEADER.replace('"seq":7', '"seq":07'), a, ']}')],
    ['with a byte order mark before an item', lines(HEADER, `\ufeff${a}`, ']}')],
    ['of format /2 without its records', lines(HEADER_V2, a, ']}')],
    ['of format /1 with records', lines(HEADER, a, RECORDS_SEPARATOR, JSON.stringify(record(1, item('a'))), ']}')],
    ['with a comma after the last item before the records', lines(HEADER_V2, `${a},`, RECORDS_SEPARATOR, ']}')],
    [
      'with an invalid record',
      lines(HEADER_V2, a, RECORDS_SEPARATOR, JSON.stringify({ ...record(1, item('a')), key: 'k' }), ']}'),
    ],
    [
      'with a duplicate record key',
      lines(
        HEADER_V2,
        a,
        RECORDS_SEPARATOR,
        `${JSON.stringify(record(1, item('a')))},`,
        JSON.stringify(record(1, item('b'))),
        ']}',
      ),
    ],
    ['with an item among the records', lines(HEADER_V2, RECORDS_SEPARATOR, a, ']}')],
    [
      'valid JSON all on one line, longer than any item line',
      `${HEADER}${Array.from({ length: 600 }, (_, n) => JSON.stringify(item(`i${n}`))).join(',')}]}`,
    ],
    [
      'with bytes that are not UTF-8',
      Buffer.concat([Buffer.from(`${HEADER}\n`), Buffer.from([0xc3, 0x28]), Buffer.from('\n]}\n')]),
    ],
  ];
  for (const [what, content] of refused) {
    it(`when the file is ${what}, then it is left to the thorough reader`, async () => {
      writeFileSync(file, content);
      assert.equal(await readCanonicalSnapshot(file), undefined);
    });
  }

  it('when the file does not exist, then the file system error is thrown', async () => {
    await assert.rejects(readCanonicalSnapshot(file), { code: 'ENOENT' });
  });
});
