import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import { assertProblem } from './support/http.js';
import { answerOf, postWithKey } from './support/idempotency.js';
import { readAllItems } from './support/items.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { type ServerProcess, startServer } from './support/server-process.js';

const post = (url: string, body: unknown, key: string) => postWithKey(url, body, key);
const answer = answerOf;

describe('Idempotent POST on PostgreSQL: two service processes on one database (the built server, real HTTP)', () => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    database = await createTestDatabase();
    await database.migrate();
    // A long statement timeout: one test holds a write on purpose while it checks the other process.
    const env = { STORE_DRIVER: 'postgres', DATABASE_URL: database.url, DATABASE_STATEMENT_TIMEOUT: '10s' };
    [a, b] = await Promise.all([startServer(env), startServer(env)]);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((server) => server?.stop()));
    await database.drop();
  });

  it('when a POST with a key went to one process and its retry to the other, then the retry is replayed and there is one item', async () => {
    const first = await post(a.url, { name: 'across replicas' }, 'replica-1');
    assert.equal(first.status, 201);
    const retry = await post(b.url, { name: 'across replicas' }, 'replica-1');
    assert.deepEqual(answer(retry), answer(first));
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    const reused = await post(b.url, { name: 'another body' }, 'replica-1');
    assertProblem(reused, 422);
    assert.equal(reused.body.code, 'IDEMPOTENCY_KEY_MISMATCH');
    const named = [...(await readAllItems(b.url)).values()].filter((item) => item.name === 'across replicas');
    assert.deepEqual(named, [first.body]);
  });

  it('when a POST with a key is still in flight on one process, then the same key on the other gets 409 IDEMPOTENCY_KEY_IN_USE, and its replay once the first is answered', async () => {
    // Holds every insert into items: the first request waits inside its transaction, key lock taken.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table items in exclusive mode');
      const inFlight = post(a.url, { name: 'held' }, 'held-1');
      // Wait for the condition, not for a time: A's transaction holds the key's advisory lock.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const { rows } = await holder.query<{ n: number }>(
          "select count(*)::int as n from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())",
        );
        if (rows[0]!.n > 0) break;
        assert.ok(Date.now() < deadline, 'the first request never took its key lock');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const concurrent = await post(b.url, { name: 'held' }, 'held-1');
      assertProblem(concurrent, 409);
      assert.equal(concurrent.body.code, 'IDEMPOTENCY_KEY_IN_USE');
      await holder.query('commit');
      const first = await inFlight;
      assert.equal(first.status, 201);
      const retry = await post(b.url, { name: 'held' }, 'held-1');
      assert.deepEqual(answer(retry), answer(first));
      assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await holder.end();
    }
  });

  it('when one key is sent many times at once to both processes, then exactly one item is made, and every answer is the first, its replay, or 409', async () => {
    const answers = await Promise.all(
      Array.from({ length: 32 }, (_, n) => post(n % 2 === 0 ? a.url : b.url, { name: 'raced on both' }, 'raced-1')),
    );
    const created = answers.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
    assert.equal(created.length, 1, JSON.stringify(answers.map((r) => r.status)));
    for (const response of answers) {
      if (response.status === 409) assert.equal(response.body.code, 'IDEMPOTENCY_KEY_IN_USE');
      else assert.deepEqual(answer(response), answer(created[0]!));
    }
    const named = [...(await readAllItems(a.url)).values()].filter((item) => item.name === 'raced on both');
    assert.deepEqual(named, [created[0]!.body]);
  });
});
