import assert from '../support/assert.js';
import {
  chmodSync,
  chownSync,
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { jsonRequest } from '../support/http.js';
import { freePort } from '../support/ports.js';
import { runServerToExit, startServer, UNPRIVILEGED } from '../support/server-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { fileTree } from './support/file-tree.js';
import { Random } from '../support/random.js';
import { readAllItems, type StoredItem } from '../support/items.js';

/** The files of one store, as a variant finds and changes them. */
interface Store {
  root: string;
  dir: string;
  dbPath: string;
  journal: string;
  oldJournal: string;
}

/** A real store written by the service: a snapshot holding items and a journal of later changes. */
interface Baseline {
  snapshot: Buffer;
  journal: Buffer;
  items: StoredItem[];
}

interface Refused {
  name: string;
  arrange: (store: Store, base: Baseline) => void;
  /** The file the message must name, and what it must say is wrong. */
  file: (store: Store) => string;
  reason: RegExp;
}

interface Loads {
  name: string;
  arrange: (store: Store, base: Baseline) => void;
  /** What start-up may change: only what no acknowledged write depends on. */
  after: (store: Store, base: Baseline) => void;
}

const random = new Random(20261121);
const lines = (bytes: Buffer) => bytes.toString('utf8').split(/(?<=\n)/);
const journalLines = (base: Baseline) => lines(base.journal);
const seqOf = (line: string) => (JSON.parse(line) as { seq: number }).seq;
/** Line `n` (1-based) of the journal replaced; the rest unchanged. */
const withJournalLine = (base: Baseline, n: number, line: string) =>
  journalLines(base)
    .map((l, i) => (i === n - 1 ? line : l))
    .join('');
const snapshotLines = (base: Baseline) => lines(base.snapshot);

const REFUSED: Refused[] = [
  {
    name: 'snapshot: an empty file',
    arrange: (s) => writeFileSync(s.dbPath, ''),
    file: (s) => s.dbPath,
    reason: /: is empty/,
  },
  {
    name: 'snapshot: truncated in the middle of an item',
    arrange: (s, b) => writeFileSync(s.dbPath, b.snapshot.subarray(0, Math.floor(b.snapshot.length * 0.6))),
    file: (s) => s.dbPath,
    reason: /line \d+: is not valid JSON/,
  },
  {
    name: 'snapshot: truncated at a line end, its closing bracket lost',
    arrange: (s, b) => writeFileSync(s.dbPath, snapshotLines(b).slice(0, -1).join('')),
    file: (s) => s.dbPath,
    reason: /is not valid JSON/,
  },
  {
    name: 'snapshot: garbage bytes',
    arrange: (s) => writeFileSync(s.dbPath, Buffer.from(Array.from({ length: 2048 }, () => random.int(0, 255)))),
    file: (s) => s.dbPath,
    reason: /is not valid (UTF-8 text|JSON)/,
  },
  {
    name: 'snapshot: a block of zero bytes inside (a lost write)',
    arrange: (s, b) => {
      const bytes = Buffer.from(b.snapshot);
      bytes.fill(0, 80, 80 + 256);
      writeFileSync(s.dbPath, bytes);
    },
    file: (s) => s.dbPath,
    reason: /line \d+: is not valid JSON/,
  },
  {
    name: 'snapshot: valid JSON, but an array',
    arrange: (s) => writeFileSync(s.dbPath, '[]\n'),
    file: (s) => s.dbPath,
    reason: /is JSON, but not a snapshot object/,
  },
  {
    name: 'snapshot: valid JSON written by another program',
    arrange: (s) => writeFileSync(s.dbPath, '{"items":[]}\n'),
    file: (s) => s.dbPath,
    reason: /is not a snapshot of this service/,
  },
  {
    name: 'snapshot: a format from a newer version',
    arrange: (s, b) => writeFileSync(s.dbPath, b.snapshot.toString('utf8').replace('snapshot/2', 'snapshot/3')),
    file: (s) => s.dbPath,
    reason: /is not a snapshot of this service/,
  },
  {
    name: 'snapshot: "items" is not an array',
    arrange: (s) => writeFileSync(s.dbPath, '{"format":"items-service.snapshot/1","seq":1,"items":{}}\n'),
    file: (s) => s.dbPath,
    reason: /has no "items" array/,
  },
  {
    name: 'snapshot: an item without a name',
    arrange: (s, b) => {
      const all = snapshotLines(b);
      all[1] = all[1]!.replace(/"name":"[^"]*",/, '');
      writeFileSync(s.dbPath, all.join(''));
    },
    file: (s) => s.dbPath,
    reason: /line 2: item "[^"]+" has a missing or invalid name/,
  },
  {
    name: 'snapshot: the same id twice',
    arrange: (s, b) => {
      const all = snapshotLines(b);
      all.splice(2, 0, all[1]!);
      writeFileSync(s.dbPath, all.join(''));
    },
    file: (s) => s.dbPath,
    reason: /line 3: duplicate id/,
  },
  {
    name: 'snapshot: an item with a field the service never writes',
    arrange: (s, b) => {
      const all = snapshotLines(b);
      all[2] = all[2]!.replace('{', '{"admin":true,');
      writeFileSync(s.dbPath, all.join(''));
    },
    file: (s) => s.dbPath,
    reason: /line 3: an item has an unexpected field "admin"/,
  },
  {
    name: 'snapshot: bytes that are not UTF-8',
    arrange: (s, b) => {
      const bytes = Buffer.from(b.snapshot);
      bytes[bytes.indexOf('"name":"') + 8] = 0xff;
      writeFileSync(s.dbPath, bytes);
    },
    file: (s) => s.dbPath,
    reason: /line 2: is not valid UTF-8 text/,
  },
  {
    name: 'snapshot: a directory where the file should be',
    arrange: (s) => {
      rmSync(s.dbPath);
      mkdirSync(s.dbPath);
    },
    file: (s) => s.dbPath,
    reason: /cannot be read: is a directory, not a file \(EISDIR\)/,
  },
  {
    name: 'snapshot: no permission to read it',
    arrange: (s) => chmodSync(s.dbPath, 0o000),
    file: (s) => s.dbPath,
    reason: /cannot be read: permission denied \(EACCES\)/,
  },
  {
    name: 'snapshot: deleted, so the journal starts after changes that are gone',
    arrange: (s) => rmSync(s.dbPath),
    file: (s) => s.journal,
    reason: /line 1: sequence number \d+ follows 0: changes are missing/,
  },
  {
    name: 'journal: a corrupt line in the middle',
    arrange: (s, b) => writeFileSync(s.journal, withJournalLine(b, 3, '{"seq":, garbage\n')),
    file: (s) => s.journal,
    reason: /line 3: is not a valid JSON line/,
  },
  {
    name: 'journal: a corrupt line in the middle, and a temp snapshot left beside it by a crash',
    arrange: (s, b) => {
      writeFileSync(s.journal, withJournalLine(b, 2, '{"broken\n'));
      writeFileSync(path.join(s.dir, 'items.json.tmp-4242-abc'), b.snapshot.subarray(0, 100));
    },
    file: (s) => s.journal,
    reason: /line 2: is not a valid JSON line/,
  },
  {
    name: 'journal: its last line damaged, though complete (a torn append never ends in a newline)',
    arrange: (s, b) => {
      const all = journalLines(b);
      writeFileSync(s.journal, withJournalLine(b, all.length, `${all.at(-1)!.slice(0, 30)}\n`));
    },
    file: (s) => s.journal,
    reason: /line \d+: is not a valid JSON line/,
  },
  {
    name: 'journal: a line missing in the middle',
    arrange: (s, b) => writeFileSync(s.journal, withJournalLine(b, 2, '')),
    file: (s) => s.journal,
    reason: /line 2: sequence number \d+ follows \d+: changes are missing/,
  },
  {
    name: 'journal: zero bytes in place of a line in the middle',
    arrange: (s, b) =>
      writeFileSync(s.journal, withJournalLine(b, 2, `${'\0'.repeat(journalLines(b)[1]!.length - 1)}\n`)),
    file: (s) => s.journal,
    reason: /line 2: is not a valid JSON line/,
  },
  {
    name: 'snapshot: an idempotency record whose key is not a digest (format /2)',
    arrange: (s, b) =>
      writeFileSync(s.dbPath, b.snapshot.toString('utf8').replace(/("key":")[0-9a-f]{64}/, '$1the client’s own key')),
    file: (s) => s.dbPath,
    reason: /line \d+: an idempotency record has a missing or invalid key/,
  },
  {
    name: 'journal: an insert whose idempotency record has an unexpected field',
    arrange: (s, b) => {
      const n = journalLines(b).findIndex((line) => line.includes('"idempotency"'));
      assert.ok(n >= 0, 'the baseline journal holds a keyed insert');
      const entry = JSON.parse(journalLines(b)[n]!) as { idempotency: Record<string, unknown> };
      entry.idempotency.api_key = 'secret';
      writeFileSync(s.journal, withJournalLine(b, n + 1, `${JSON.stringify(entry)}\n`));
    },
    file: (s) => s.journal,
    reason: /line \d+: an idempotency record has an unexpected field "api_key"/,
  },
  {
    name: 'journal: valid JSON of the wrong shape',
    arrange: (s, b) =>
      writeFileSync(s.journal, withJournalLine(b, 2, `{"seq":${seqOf(journalLines(b)[1]!)},"op":"upsert"}\n`)),
    file: (s) => s.journal,
    reason: /line 2: the entry has no valid "op"/,
  },
  {
    name: 'journal: deletes an item that does not exist',
    arrange: (s, b) =>
      writeFileSync(
        s.journal,
        withJournalLine(b, 2, `{"seq":${seqOf(journalLines(b)[1]!)},"op":"delete","id":"ghost"}\n`),
      ),
    file: (s) => s.journal,
    reason: /line 2: deletes item "ghost", which does not exist/,
  },
  {
    name: "journal: changes an item's creation time",
    arrange: (s, b) => {
      const seq = seqOf(journalLines(b)[1]!);
      const item = { ...b.items[0]!, created_at: '2001-01-01T00:00:00.000Z', version: b.items[0]!.version + 1 };
      writeFileSync(s.journal, withJournalLine(b, 2, `${JSON.stringify({ seq, op: 'put', item })}\n`));
    },
    file: (s) => s.journal,
    reason: /line 2: changes the created_at of item/,
  },
  {
    name: 'journal: a directory where the file should be',
    arrange: (s) => {
      rmSync(s.journal);
      mkdirSync(s.journal);
    },
    file: (s) => s.journal,
    reason: /cannot be read: is a directory, not a file \(EISDIR\)/,
  },
  {
    name: 'journal: no permission to read it',
    arrange: (s) => chmodSync(s.journal, 0o000),
    file: (s) => s.journal,
    reason: /cannot be read: permission denied \(EACCES\)/,
  },
  {
    name: 'old journal (an interrupted compaction): a corrupt line in the middle',
    arrange: (s, b) => {
      writeFileSync(s.oldJournal, withJournalLine(b, 2, 'not json at all\n'));
      writeFileSync(s.journal, '');
    },
    file: (s) => s.oldJournal,
    reason: /line 2: is not a valid JSON line/,
  },
  {
    name: 'old journal: a torn last line (it was complete when set aside)',
    arrange: (s, b) => {
      writeFileSync(s.oldJournal, Buffer.concat([b.journal, Buffer.from('{"seq":99,"op":"pu')]));
      writeFileSync(s.journal, '');
    },
    file: (s) => s.oldJournal,
    reason: /line \d+: ends in an incomplete line/,
  },
  {
    name: 'data directory: not writable, so the lock cannot be taken',
    arrange: (s) => chmodSync(s.dir, 0o555),
    file: (s) => `${s.dbPath}.lock`,
    reason: /cannot be created: permission denied \(EACCES\)/,
  },
  {
    name: 'data directory: a file where the directory should be',
    arrange: (s) => {
      rmSync(s.dir, { recursive: true });
      writeFileSync(s.dir, 'not a directory\n');
    },
    file: (s) => s.dir,
    reason: /cannot be used as the data directory: a part of this path is not a directory/,
  },
];

const LOADS: Loads[] = [
  {
    name: 'journal: a torn last line (a crash during an append no client was answered for)',
    arrange: (s, b) => writeFileSync(s.journal, Buffer.concat([b.journal, Buffer.from('{"seq":99,"op":"put","it')])),
    after: (s, b) => {
      assert.deepEqual(readFileSync(s.dbPath), b.snapshot, 'snapshot unchanged');
      assert.deepEqual(readFileSync(s.journal), b.journal, 'only the torn line was cut');
    },
  },
  {
    name: 'a temp snapshot left by a crash during a compaction',
    arrange: (s, b) => writeFileSync(path.join(s.dir, 'items.json.tmp-4242-abc'), b.snapshot.subarray(0, 100)),
    after: (s, b) => {
      assert.deepEqual(readFileSync(s.dbPath), b.snapshot, 'snapshot unchanged');
      assert.deepEqual(readFileSync(s.journal), b.journal, 'journal unchanged');
      assert.deepEqual(
        readdirSync(s.dir).filter((n) => n.includes('.tmp-')),
        [],
        'temp file removed',
      );
    },
  },
  {
    name: 'a compaction interrupted after the journal was set aside',
    arrange: (s, b) => {
      writeFileSync(s.oldJournal, b.journal);
      writeFileSync(s.journal, '');
    },
    after: (s) => assert.equal(readdirSync(s.dir).includes('items.json.journal.old'), false, 'compaction finished'),
  },
  {
    name: 'a lock left by a process that was killed',
    arrange: (s) =>
      writeFileSync(
        `${s.dbPath}.lock`,
        JSON.stringify({ pid: 2 ** 22 + 11, hostname: hostname(), start_ticks: null, acquired_at: '2026-01-01' }),
      ),
    after: (s, b) => assert.deepEqual(readFileSync(s.journal), b.journal, 'journal unchanged'),
  },
];

/** Root may read anything; the server runs as nobody so that permission variants mean something. */
const asUser = UNPRIVILEGED;

function chownTree(root: string): void {
  if (asUser.uid === undefined) return;
  chownSync(root, asUser.uid, asUser.gid!);
  if (lstatSync(root).isDirectory()) for (const name of readdirSync(root)) chownTree(path.join(root, name));
}

describe('Durability: damaged files at start-up', () => {
  const workspace = makeTempDir('items-corrupt-');
  const baselineDir = path.join(workspace.dir, 'baseline');
  let base: Baseline;
  let variant = 0;

  beforeAll(async () => {
    // The baseline is written by the service itself: a compaction (small threshold) puts items in the
    // snapshot, and the changes after it are in the journal.
    const dbPath = path.join(baselineDir, 'items.json');
    const server = await startServer({ DB_PATH: dbPath, DB_COMPACT_THRESHOLD: '1kb' });
    for (let i = 0; i < 14; i++) {
      // Half with an Idempotency-Key: its record is in the snapshot or on the item's journal line.
      const headers: Record<string, string> = i % 2 === 0 ? { 'idempotency-key': `key-${i}` } : {};
      await jsonRequest(`${server.url}/items`, 'POST', { id: `item-${i}`, name: `item ${i}` }, headers);
      if (i % 3 === 2) await jsonRequest(`${server.url}/items/item-${i - 1}`, 'PATCH', { name: `renamed ${i}` });
    }
    await jsonRequest(`${server.url}/items/item-0`, 'DELETE');
    const items = [...(await readAllItems(server.url)).values()];
    assert.equal(await server.stop('SIGTERM'), 0);
    base = { snapshot: readFileSync(dbPath), journal: readFileSync(`${dbPath}.journal`), items };
    assert.ok(snapshotLines(base).length >= 6, 'the baseline snapshot holds items');
    assert.ok(journalLines(base).length >= 4, 'the baseline journal holds changes after the snapshot');
  });
  afterAll(() => workspace.remove());

  /** A copy of the baseline in its own directory, changed by the variant, owned by the server's user. */
  function prepare(arrange: (store: Store, base: Baseline) => void): Store {
    const root = path.join(workspace.dir, `variant-${++variant}`);
    const dir = path.join(root, 'data');
    mkdirSync(root);
    chmodSync(workspace.dir, 0o755);
    cpSync(baselineDir, dir, { recursive: true });
    const dbPath = path.join(dir, 'items.json');
    const store = { root, dir, dbPath, journal: `${dbPath}.journal`, oldJournal: `${dbPath}.journal.old` };
    chownTree(root);
    arrange(store, base);
    return store;
  }

  for (const v of REFUSED) {
    // "By itself": a start-up that hangs instead of stopping is killed after 10 s and fails the test. How
    // fast it stops is the benchmark's business, not a pass/fail bound that a loaded machine would break.
    it(`when ${v.name}, then start-up stops by itself naming the file, and changes no file`, async () => {
      const store = prepare(v.arrange);
      const before = fileTree(store.root);
      const port = await freePort();
      const run = runServerToExit({ DB_PATH: store.dbPath, PORT: String(port) }, 10_000, asUser);
      // Readiness is polled the whole time: it must never answer 200.
      const readiness: string[] = [];
      let exited = false;
      void run.finally(() => (exited = true));
      while (!exited) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(500) });
          readiness.push(String(response.status));
          await response.body?.cancel();
        } catch {
          readiness.push('no answer');
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const result = await run;

      assert.notEqual(result.code, 0, 'exit code');
      assert.equal(typeof result.code, 'number', `ended by ${result.code}, not by itself`);
      const expected = `${v.file(store)}`;
      assert.ok(result.stderr.includes(expected), `message names ${expected}: ${result.stderr}`);
      assert.match(result.stderr, v.reason);
      assert.doesNotMatch(result.stdout, /"msg":"listening"/);
      assert.ok(!readiness.includes('200'), `readiness answered ${readiness.join(',')}`);
      assert.deepEqual(fileTree(store.root), before, 'files changed');
    });
  }

  for (const v of LOADS) {
    it(`when ${v.name}, then start-up loads every acknowledged item`, async () => {
      const store = prepare(v.arrange);
      const server = await startServer({ DB_PATH: store.dbPath }, 15_000, asUser);
      try {
        assert.deepEqual([...(await readAllItems(server.url)).values()], base.items);
      } finally {
        assert.equal(await server.stop('SIGTERM'), 0);
      }
      v.after(store, base);
    });
  }
});
