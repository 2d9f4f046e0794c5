import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectItemsDatabase } from '../src/items/postgres/items-database.js';
import { copyItemsToDatabase } from '../src/items/postgres/json-file-import.js';
import { jsonRequest } from './support/http.js';
import { readAllItems, type StoredItem } from './support/items.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { MAIN, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

/** Enough for two of the import's batches (500 rows each). */
const CREATED = 620;
/** The service's password in DATABASE_URL: the server trusts local connections, so any will do. */
const PASSWORD = 'import-test-s3cret';

interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/<tool>.js`, as `npm run <tool>` and the image run it, in a directory with no .env. */
function runTool(tool: 'import' | 'migrate', args: string[], env: Record<string, string>): Promise<ToolRun> {
  const cwd = makeTempDir('items-tool-');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(path.dirname(MAIN), `${tool}.js`), ...args],
      { cwd: cwd.dir, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        cwd.remove();
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Every file of the directory and a hash of its bytes: what "the import changes nothing" compares. */
function contentsOf(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [
        name,
        createHash('sha256')
          .update(readFileSync(path.join(dir, name)))
          .digest('hex'),
      ]),
  );
}

/** Each item's body and ETag, read one by one (the ETag is on a single item's GET). */
async function readEachItem(url: string, ids: Iterable<string>): Promise<Map<string, { body: unknown; etag: string }>> {
  const read = new Map<string, { body: unknown; etag: string }>();
  const all = [...ids];
  for (let start = 0; start < all.length; start += 50)
    await Promise.all(
      all.slice(start, start + 50).map(async (id) => {
        const response = await fetch(`${url}/items/${id}`);
        assert.equal(response.status, 200, `GET /items/${id}`);
        read.set(id, { body: await response.json(), etag: response.headers.get('etag')! });
      }),
    );
  return read;
}

/** A name for item `n`: NUL, astral characters and plain text by turns, long enough to grow the journal. */
function nameOf(n: number, round = 0): string {
  const kinds = [`with a NUL \u0000 inside ${n}`, `astral 𝄞😀 ${n}`, `plain item ${n}`, `é combining e\u0301 ${n}`];
  return `${kinds[n % kinds.length]} round ${round} ${'x'.repeat(60)}`;
}

async function ok(response: Promise<{ status: number; body: any }>, status: number): Promise<any> {
  const { status: got, body } = await response;
  assert.equal(got, status, JSON.stringify(body));
  return body;
}

describe('npm run import: a JSON-file store moved into PostgreSQL (the built service and tools, real HTTP)', () => {
  let database: TestDatabase;
  let databaseUrl: string;
  const data = makeTempDir('items-import-');
  const servers: ServerProcess[] = [];
  let expected: StoredItem[];
  let expectedEach: Map<string, { body: unknown; etag: string }>;
  let dataBefore: Record<string, string>;
  const outputs: string[] = [];
  const tool = async (name: 'import' | 'migrate', args: string[], env: Record<string, string>) => {
    const run = await runTool(name, args, env);
    outputs.push(run.stdout, run.stderr);
    return run;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    url.password = PASSWORD;
    databaseUrl = url.toString();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
    data.remove();
  });

  it('when the JSON-file service has created, updated and deleted items, then its data directory holds a snapshot and a journal', async () => {
    // A low threshold: the journal is folded into the snapshot several times while the items are created.
    const server = await startServer({ DB_PATH: data.dbPath, DB_COMPACT_THRESHOLD: '1kb' });
    servers.push(server);
    const ids: string[] = [];
    for (let start = 0; start < CREATED; start += 20) {
      const created = await Promise.all(
        Array.from({ length: Math.min(20, CREATED - start) }, (_, i) =>
          ok(jsonRequest(`${server.url}/items`, 'POST', { name: nameOf(start + i) }), 201),
        ),
      );
      ids.push(...created.map((item: StoredItem) => item.id));
    }
    // A compaction in flight would fold what comes next into the snapshot too: wait for it to finish.
    const deadline = Date.now() + 30_000;
    while (!/"msg":"store compacted"/.test(server.stdout()) || existsSync(`${data.dbPath}.journal.old`)) {
      assert.ok(Date.now() < deadline, 'no compaction finished');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    // After the last compaction: updates (versions 2 to 4), deletes, and an id deleted then created again.
    for (let n = 0; n < 12; n++)
      for (let round = 1; round <= 1 + (n % 3); round++)
        await ok(jsonRequest(`${server.url}/items/${ids[n]}`, 'PATCH', { name: nameOf(n, round) }), 200);
    for (const id of ids.slice(20, 25)) await ok(jsonRequest(`${server.url}/items/${id}`, 'DELETE'), 204);
    await ok(jsonRequest(`${server.url}/items`, 'POST', { id: 'chosen.id~1', name: 'first life' }), 201);
    await ok(jsonRequest(`${server.url}/items/chosen.id~1`, 'DELETE'), 204);
    await ok(jsonRequest(`${server.url}/items`, 'POST', { id: 'chosen.id~1', name: 'second life \u0000 𝄞' }), 201);

    expected = [...(await readAllItems(server.url)).values()];
    expectedEach = await readEachItem(
      server.url,
      expected.map((item) => item.id),
    );
    assert.equal(await server.stop(), 0);

    assert.equal(expected.length, CREATED - 5 + 1);
    assert.ok(expected.some((item) => item.version === 4) && expected.some((item) => item.name.includes('\u0000')));
    const snapshot = JSON.parse(readFileSync(data.dbPath, 'utf8')) as { items: unknown[] };
    assert.ok(snapshot.items.length > 100, `the snapshot holds ${snapshot.items.length} items`);
    const journal = readFileSync(`${data.dbPath}.journal`, 'utf8').trim().split('\n');
    assert.ok(
      journal.some((line) => line.includes('"op":"delete"')),
      'the journal holds deletes',
    );
    assert.ok(
      journal.some((line) => line.includes('"version":4')),
      'the journal holds updates',
    );
    dataBefore = contentsOf(data.dir);
    assert.deepEqual(Object.keys(dataBefore), ['items.json', 'items.json.journal']);
  });

  it('when the database has not been migrated, then the import refuses, saying to run the migrations', async () => {
    const run = await tool('import', ['--from', data.dir], { DATABASE_URL: databaseUrl });
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      'import failed: the database schema is behind this release (not applied: 0001_create_items, 0002_create_idempotency_keys); ' +
        'run `npm run migrate` (or `node dist/migrate.js`) first\n',
    );
    assert.equal(run.stdout, '');
  });

  it('when --from is missing, names no directory, or holds no store, then the import exits 78 saying so', async () => {
    const missing = path.join(data.dir, 'no-such-dir');
    const runs = await Promise.all([
      tool('import', [], { DATABASE_URL: databaseUrl }),
      tool('import', ['--from', missing], { DATABASE_URL: databaseUrl }),
      tool('import', ['--from', path.dirname(MAIN)], { DATABASE_URL: databaseUrl }),
    ]);
    assert.deepEqual(
      runs.map((run) => [run.code, run.stderr]),
      [
        [78, 'import failed: --from is missing; usage: npm run import -- --from <data directory or DB_PATH>\n'],
        [78, `import failed: --from ${missing}: does not exist\n`],
        [
          78,
          `import failed: --from ${path.dirname(MAIN)}: no JSON-file store there (no items.json nor its journal); ` +
            'give the data directory or the store file (DB_PATH)\n',
        ],
      ],
    );
  });

  it('when DATABASE_URL is missing, then migrate and import exit 78 naming it; with APP_ENV=prod and no API_KEYS, migrate succeeds', async () => {
    for (const name of ['migrate', 'import'] as const) {
      const run = await tool(name, ['--from', data.dir], { APP_ENV: 'prod' });
      assert.equal(run.code, 78, run.stderr);
      assert.equal(run.stderr, 'Invalid configuration:\n  - DATABASE_URL (or DATABASE_URL_FILE) must be set\n');
    }
    // What the chart's migration Job has: the service's production environment, without its API keys.
    const migrated = await tool('migrate', [], {
      DATABASE_URL: databaseUrl,
      APP_ENV: 'prod',
      NODE_ENV: 'production',
      STORE_DRIVER: 'postgres',
    });
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.equal(
      migrated.stdout,
      'migration 0001_create_items: applied\nmigration 0002_create_idempotency_keys: applied\napplied 2\n',
    );
  });

  it('when the database cannot be reached, then the import says so in one line, without the URL', async () => {
    const unreachable = new URL(databaseUrl);
    unreachable.port = '1';
    const run = await tool('import', ['--from', data.dir], { DATABASE_URL: unreachable.toString() });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^import failed: the database cannot be reached: .*ECONNREFUSED.*\n$/);
  });

  it('when the store is imported, then it counts every item, changes no file, and the postgres service serves each item identically, ETag included', async () => {
    const run = await tool('import', ['--from', data.dir], { DATABASE_URL: databaseUrl });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `read ${expected.length} items; inserted ${expected.length}, already present 0\n`);
    assert.equal(run.stderr, '');
    assert.deepEqual(contentsOf(data.dir), dataBefore);

    const server = await startServer({ STORE_DRIVER: 'postgres', DATABASE_URL: databaseUrl });
    servers.push(server);
    // The same items in the same list order, and each with the same body and ETag.
    assert.deepEqual([...(await readAllItems(server.url)).values()], expected);
    const each = await readEachItem(
      server.url,
      expected.map((item) => item.id),
    );
    for (const item of expected) assert.deepEqual(each.get(item.id), expectedEach.get(item.id), item.id);
  });

  it('when the import runs again, then it inserts nothing and says so; an item changed in the database since is a conflict, listed and left as it is', async () => {
    const again = await tool('import', ['--from', `${data.dir}/`], { DATABASE_URL: databaseUrl });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `read ${expected.length} items; inserted 0, already present ${expected.length}\n`);

    // Written through the postgres service after the move: the file's older copy must not replace it.
    const server = servers.at(-1)!;
    const changed = expected[7]!;
    const updated = await ok(jsonRequest(`${server.url}/items/${changed.id}`, 'PATCH', { name: 'newer' }), 200);
    const third = await tool('import', ['--from', data.dbPath], { DATABASE_URL: databaseUrl });
    assert.equal(third.code, 1);
    assert.equal(
      third.stdout,
      `read ${expected.length} items; inserted 0, already present ${expected.length - 1}, conflicting 1\n`,
    );
    assert.equal(
      third.stderr,
      `import failed: 1 ids are in the database with other content, left as they are (the database's copy may be ` +
        `newer): ${changed.id}; to take the file's copy, delete those rows and import again\n`,
    );
    assert.deepEqual(await ok(jsonRequest(`${server.url}/items/${changed.id}`, 'GET'), 200), updated);
    assert.deepEqual(contentsOf(data.dir), dataBefore);
  });

  it('when a store (another DB_PATH name) ends in a torn line and holds a name that is not valid Unicode, then the rest is imported and that item is listed, exit 1', async () => {
    // As an older version or a person's editor could have left it: the service refuses such names today.
    const other = makeTempDir('items-import-other-');
    const dbPath = path.join(other.dir, 'store.json');
    const item = (id: string, name: string) => ({
      id,
      name,
      created_at: '2026-01-02T03:04:05.006Z',
      updated_at: '2026-01-02T03:04:05.006Z',
      version: 1,
    });
    writeFileSync(
      dbPath,
      JSON.stringify({
        format: 'items-service.snapshot/1',
        seq: 1,
        items: [item('hand.made-1', 'lone \ud800 surrogate'), item('hand.made-2', 'fine')],
      }),
    );
    writeFileSync(
      `${dbPath}.journal`,
      `${JSON.stringify({ seq: 2, op: 'put', item: item('hand.made-3', 'from the journal') })}\n{"seq":3,"op":"del`,
    );
    try {
      const run = await tool('import', ['--from', dbPath], { DATABASE_URL: databaseUrl });
      assert.equal(run.code, 1);
      assert.equal(
        run.stdout,
        `${dbPath}.journal ends in a line cut by a crash: that write was never acknowledged and is not imported\n` +
          'read 3 items; inserted 2, already present 0, not storable 1\n',
      );
      assert.equal(
        run.stderr,
        'import failed: 1 items have a name that is not valid Unicode (an unpaired surrogate), which the database ' +
          'cannot hold unchanged; not imported: hand.made-1\n',
      );
      const server = servers.at(-1)!;
      assert.equal((await jsonRequest(`${server.url}/items/hand.made-1`, 'GET')).status, 404);
      assert.deepEqual(
        (await jsonRequest(`${server.url}/items/hand.made-3`, 'GET')).body,
        item('hand.made-3', 'from the journal'),
      );
    } finally {
      other.remove();
    }
  });

  it('when copied in batches (in process, batches of 2), then each batch counts its own inserts, identical rows and conflicts', async () => {
    const item = (id: string, version = 1, name = `batch item ${id}`) => ({
      id,
      name,
      created_at: '2026-03-04T05:06:07.089Z',
      updated_at: '2026-03-04T05:06:07.089Z',
      version,
    });
    const { db } = connectItemsDatabase(
      { url: database.url, poolMax: 1, connectTimeoutMs: 5_000, statementTimeoutMs: 5_000 },
      () => undefined,
    );
    try {
      assert.deepEqual(await copyItemsToDatabase(db, [item('batch-2'), item('batch-3')], 2), {
        inserted: 2,
        present: 0,
        conflicts: [],
        unstorable: [],
      });
      const items = [item('batch-0'), item('batch-1'), item('batch-2', 2), item('batch-3'), item('batch-4')];
      assert.deepEqual(await copyItemsToDatabase(db, [...items, item('batch-bad', 1, 'x \udc00')], 2), {
        inserted: 3,
        present: 1,
        conflicts: ['batch-2'],
        unstorable: ['batch-bad'],
      });
      const stored = await db.selectFrom('items').select(['id', 'version']).where('id', 'like', 'batch-%').execute();
      assert.deepEqual(stored.map((row) => `${row.id}@${row.version}`).sort(), [
        'batch-0@1',
        'batch-1@1',
        'batch-2@1',
        'batch-3@1',
        'batch-4@1',
      ]);
    } finally {
      await db.destroy();
    }
  });

  it('when the store holds a live Idempotency-Key, then the import carries it, and a retry against the postgres service is replayed', async () => {
    const keyed = makeTempDir('items-import-keys-');
    try {
      const jsonFile = await startServer({ DB_PATH: keyed.dbPath });
      const headers = { 'idempotency-key': '"moved-1"' };
      const first = await jsonRequest(`${jsonFile.url}/items`, 'POST', { name: 'posted before the move' }, headers);
      assert.equal(first.status, 201);
      assert.equal(await jsonFile.stop(), 0);

      const run = await tool('import', ['--from', keyed.dir], { DATABASE_URL: databaseUrl });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(
        run.stdout,
        'read 1 items; inserted 1, already present 0\nread 1 live idempotency keys; inserted 1, already present 0\n',
      );
      const server = servers.at(-1)!;
      const retry = await jsonRequest(`${server.url}/items`, 'POST', { name: 'posted before the move' }, headers);
      assert.equal(retry.status, 201);
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(retry.body, first.body);
      assert.equal(retry.headers.get('etag'), first.headers.get('etag'));
      const again = await tool('import', ['--from', keyed.dir], { DATABASE_URL: databaseUrl });
      assert.match(again.stdout, /read 1 live idempotency keys; inserted 0, already present 1\n$/);
    } finally {
      keyed.remove();
    }
  });

  it('when a service is running on the store, then the import refuses, naming the process', async () => {
    const running = await startServer({ DB_PATH: data.dbPath });
    servers.push(running);
    const run = await tool('import', ['--from', data.dir], { DATABASE_URL: databaseUrl });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(
        `^import failed: ${data.dbPath} is in use by process ${running.pid} on host .*; stop the service first: ` +
          'a copy taken while it runs would miss its later writes\n$',
      ),
    );
    assert.equal(run.stdout, '');
  });

  it('then no tool printed the database password', () => {
    assert.ok(outputs.length > 0);
    for (const output of outputs) assert.doesNotMatch(output, new RegExp(PASSWORD));
  });
});
