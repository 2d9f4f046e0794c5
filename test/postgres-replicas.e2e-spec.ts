import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { diagnostic } from './support/diagnostic.js';
import { jsonRequest } from './support/http.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { MAIN, runServerToExit, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { execFile } from 'node:child_process';
import path from 'node:path';

const CONCURRENT = 64;

/** The migration command as the image's Job runs it, in a directory with no .env. */
function migrate(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = makeTempDir('items-migrate-');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(path.dirname(MAIN), 'migrate.js')],
      { cwd: dir.dir, env: { PATH: process.env.PATH, DATABASE_URL: url }, timeout: 30_000 },
      (err, stdout, stderr) => {
        dir.remove();
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
const ROUNDS = 6;

describe('Two service processes on one PostgreSQL database (the built server, real HTTP)', () => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database.drop();
  });

  it('when the schema has not been migrated, then the service refuses to start, saying how to migrate', async () => {
    const exited = await runServerToExit({ STORE_DRIVER: 'postgres', DATABASE_URL: database.url });
    assert.equal(exited.code, 1);
    assert.match(
      exited.stderr,
      /schema is behind this release \(not applied: 0001_create_items, 0002_create_idempotency_keys\).*npm run migrate/,
    );
    assert.doesNotMatch(exited.stdout + exited.stderr, /listening/);
  });

  it('when two `node dist/migrate.js` run at once, then both succeed: one applies the migrations, the other finds nothing to do', async () => {
    const runs = await Promise.all([migrate(database.url), migrate(database.url)]);
    assert.deepEqual(
      runs.map((run) => run.code),
      [0, 0],
      runs.map((run) => run.stderr).join('\n'),
    );
    const outputs = runs.map((run) => run.stdout).sort();
    assert.deepEqual(
      outputs,
      [
        'migration 0001_create_items: applied\nmigration 0002_create_idempotency_keys: applied\napplied 2\n',
        'schema up to date; nothing to apply\n',
      ].sort(),
    );
  });

  it(`when ${CONCURRENT} conditional updates of one item race across both processes, then exactly one wins per version, the rest get 412, and no update is lost`, async () => {
    await database.migrate();
    const env = { STORE_DRIVER: 'postgres', DATABASE_URL: database.url, RATE_LIMIT_MAX: '0' };
    servers.push(await startServer(env));
    servers.push(await startServer(env));
    const [a, b] = servers.map((server) => server.url);
    const created = await jsonRequest(`${a}/items`, 'POST', { name: 'contended' });
    assert.equal(created.status, 201);
    const id = created.body.id as string;
    // Written through one process, read through the other: one store.
    assert.deepEqual((await jsonRequest(`${b}/items/${id}`, 'GET')).body, created.body);

    let etag = created.headers.get('etag')!;
    const winners: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Sent in a different order each round, alternating between the processes.
      const order = Array.from({ length: CONCURRENT }, (_, n) => n).sort(() => Math.random() - 0.5);
      const responses = await Promise.all(
        order.map((n) =>
          jsonRequest(
            `${n % 2 === 0 ? a : b}/items/${id}`,
            'PATCH',
            { name: `round ${round} writer ${n}` },
            { 'if-match': etag },
          ),
        ),
      );
      const statuses = responses.map((response) => response.status);
      assert.deepEqual(
        { won: statuses.filter((s) => s === 200).length, refused: statuses.filter((s) => s === 412).length },
        { won: 1, refused: CONCURRENT - 1 },
        `round ${round}: ${JSON.stringify(statuses)}`,
      );
      const winner = responses.find((response) => response.status === 200)!;
      assert.equal(winner.body.version, round + 1);
      for (const refused of responses.filter((response) => response.status === 412))
        assert.equal(refused.body.code, 'ITEM_VERSION_MISMATCH');
      winners.push(winner.body.name as string);
      etag = winner.headers.get('etag')!;
      // Both processes now serve the winner's write, with the same ETag.
      for (const url of [a, b]) {
        const read = await jsonRequest(`${url}/items/${id}`, 'GET');
        assert.equal(read.body.name, winner.body.name);
        assert.equal(read.headers.get('etag'), etag);
      }
    }
    diagnostic(`winners: ${winners.join('; ')}`);
    // A cursor of the right shape for no real instant: the same 400 as on the JSON-file store.
    const impossible = Buffer.from(JSON.stringify(['2026-02-30T25:61:00.000Z', id])).toString('base64url');
    const listed = await jsonRequest(`${a}/items?cursor=${impossible}`, 'GET');
    assert.equal(listed.status, 400);
    assert.equal(listed.body.code, 'INVALID_CURSOR');
    const final = await jsonRequest(`${b}/items/${id}`, 'GET');
    assert.equal(final.body.version, ROUNDS + 1, 'every round’s winning update is in');
    assert.equal(final.body.name, winners.at(-1));
  });
});
