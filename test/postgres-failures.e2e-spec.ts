import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { assertProblem, jsonRequest } from './support/http.js';
import { assertMatchesContract } from './support/openapi-contract.js';
import { type PostgresCluster, startPostgresCluster } from './support/postgres-cluster.js';
import { createTestDatabase } from './support/postgres.js';
import { type ServerProcess, startServer } from './support/server-process.js';

const CONNECT_TIMEOUT_MS = 1_000;
const STATEMENT_TIMEOUT_MS = 500;
/**
 * The longest a request may take while the database is down or stuck: a connection attempt
 * (DATABASE_CONNECT_TIMEOUT), then a statement (DATABASE_STATEMENT_TIMEOUT, which the client stops
 * waiting for 1 s later when the server cannot cancel it), with room for a busy machine.
 */
const ANSWER_WITHIN_MS = CONNECT_TIMEOUT_MS + STATEMENT_TIMEOUT_MS + 1_000 + 2_000;

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** A request that must be answered within ANSWER_WITHIN_MS (it fails the test otherwise), checked against the OpenAPI document. */
async function answered(url: string, method: string, body?: unknown, headers: Record<string, string> = {}) {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
    });
  } catch (err) {
    throw new Error(`${method} ${url} was not answered within ${ANSWER_WITHIN_MS} ms`, { cause: err });
  }
  const text = await response.text();
  assertMatchesContract(method, url, response.status, response.headers, text);
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** Polls a probe until it gives `status` (a readiness result is cached for a second), or gives up. */
async function probeUntil(url: string, status: number, timeoutMs = 10_000): Promise<Answer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const response = await answered(url, 'GET');
    if (response.status === status || performance.now() > deadline) return response;
    await delay(100);
  }
}

function assertUnavailable(response: Answer, what: string): void {
  assert.equal(response.status, 503, `${what}: ${JSON.stringify(response.body)}`);
  assertProblem(response, 503);
  assert.equal(response.body.code, 'STORE_UNAVAILABLE', what);
  assert.equal(response.headers.get('retry-after'), '1', what);
}

describe('PostgreSQL down, stuck or back (the built service on a PostgreSQL cluster the test crashes and restarts)', () => {
  let cluster: PostgresCluster;
  let databaseUrl: string;
  let server: ServerProcess;
  beforeAll(async () => {
    cluster = await startPostgresCluster();
    const database = await createTestDatabase(cluster.url);
    await database.migrate();
    databaseUrl = database.url;
    server = await startServer({
      STORE_DRIVER: 'postgres',
      DATABASE_URL: databaseUrl,
      DATABASE_CONNECT_TIMEOUT: `${CONNECT_TIMEOUT_MS}ms`,
      DATABASE_STATEMENT_TIMEOUT: `${STATEMENT_TIMEOUT_MS}ms`,
    });
  });
  afterAll(async () => {
    await server?.stop();
    cluster?.remove();
  });

  /** Every item route once, on an item that exists: each must fail the same way. */
  async function everyRoute(id: string, etag: string): Promise<Array<[string, Answer]>> {
    const url = server.url;
    return [
      ['GET one', await answered(`${url}/items/${id}`, 'GET')],
      ['GET list', await answered(`${url}/items`, 'GET')],
      ['POST', await answered(`${url}/items`, 'POST', { name: 'while down' })],
      ['PATCH', await answered(`${url}/items/${id}`, 'PATCH', { name: 'renamed while down' }, { 'if-match': etag })],
      ['DELETE', await answered(`${url}/items/${id}`, 'DELETE', undefined, { 'if-match': etag })],
    ];
  }

  it('when the database crashes, then readiness is 503 naming the store, liveness stays 200, every item route answers 503 STORE_UNAVAILABLE with Retry-After; when it is back, the same process recovers with nothing lost', async () => {
    const before = await jsonRequest(`${server.url}/items`, 'POST', { name: 'written before the crash' });
    assert.equal(before.status, 201);
    const etag = before.headers.get('etag')!;
    assert.equal((await answered(`${server.url}/readyz`, 'GET')).status, 200);

    await cluster.stop('immediate');
    const notReady = await probeUntil(`${server.url}/readyz`, 503);
    assertProblem(notReady, 503);
    assert.equal(notReady.body.code, 'NOT_READY');
    assert.equal(notReady.body.checks.store.status, 'down');
    assert.equal(notReady.body.checks.shutdown.status, 'up');
    assert.match(notReady.body.detail, /store \(the database is not available/);
    assert.doesNotMatch(JSON.stringify(notReady.body), /postgres:\/\//, 'no URL in a public answer');
    assert.equal((await answered(`${server.url}/healthz`, 'GET')).status, 200, 'liveness never checks the database');
    for (const [what, response] of await everyRoute(before.body.id, etag)) assertUnavailable(response, what);

    await cluster.start();
    assert.equal((await probeUntil(`${server.url}/readyz`, 200)).status, 200);
    const kept = await answered(`${server.url}/items/${before.body.id}`, 'GET');
    assert.equal(kept.status, 200);
    assert.deepEqual(kept.body, before.body, 'the write acknowledged before the crash, unchanged by the refused ones');
    assert.equal(kept.headers.get('etag'), etag);
    const renamed = await answered(
      `${server.url}/items/${before.body.id}`,
      'PATCH',
      { name: 'renamed after' },
      { 'if-match': etag },
    );
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.version, 2);
    assert.equal((await answered(`${server.url}/items`, 'POST', { name: 'after the restart' })).status, 201);
    const listed = await answered(`${server.url}/items`, 'GET');
    assert.deepEqual(
      listed.body.items.map((item: { name: string }) => item.name),
      ['renamed after', 'after the restart'],
      'nothing refused while down was written',
    );
    assert.equal(server.child.exitCode, null, 'the service was not restarted');
    assert.equal(server.stdout().match(/"msg":"listening"/g)?.length, 1);
  });

  it('when the database hangs (its processes stopped), then every item route still answers 503 within the timeouts, and readiness recovers once it answers again', async () => {
    const item = await answered(`${server.url}/items`, 'POST', { name: 'before the freeze' });
    assert.equal(item.status, 201);
    const etag = item.headers.get('etag')!;

    cluster.freeze(true);
    try {
      // Open connections get no answer (the client's query timeout), new ones no handshake (the connect timeout).
      for (const [what, response] of await everyRoute(item.body.id, etag)) assertUnavailable(response, what);
      const notReady = await probeUntil(`${server.url}/readyz`, 503);
      assert.equal(notReady.body.checks.store.status, 'down');
      assert.equal((await answered(`${server.url}/healthz`, 'GET')).status, 200);
    } finally {
      cluster.freeze(false);
    }
    assert.equal((await probeUntil(`${server.url}/readyz`, 200)).status, 200);
    const kept = await answered(`${server.url}/items/${item.body.id}`, 'GET');
    assert.deepEqual(kept.body, item.body, 'no write refused while it hung was applied after');
  });

  /** Statements of the service that wait on a lock now (from a connection of its own: not in a transaction's snapshot). */
  async function serviceStatementsWaitingOnLocks(): Promise<number> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ waiting: number }>(
        "select count(*)::int as waiting from pg_stat_activity where application_name = 'items-service' and wait_event_type = 'Lock'",
      );
      return rows[0]!.waiting;
    } finally {
      await client.end();
    }
  }

  it('when a read waits on a table lock past DATABASE_STATEMENT_TIMEOUT, then it gets 503 STORE_UNAVAILABLE while the probes still answer', async () => {
    const item = await answered(`${server.url}/items`, 'POST', { name: 'table locked' });
    assert.equal(item.status, 201);
    const locker = new pg.Client({ connectionString: databaseUrl });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table items in access exclusive mode');
      assertUnavailable(await answered(`${server.url}/items/${item.body.id}`, 'GET'), 'GET one');
      assertUnavailable(await answered(`${server.url}/items`, 'GET'), 'GET list');
      // Neither probe touches the table.
      assert.equal((await answered(`${server.url}/healthz`, 'GET')).status, 200);
      assert.equal((await answered(`${server.url}/readyz`, 'GET')).status, 200);
      await locker.query('rollback');
    } finally {
      await locker.end();
    }
    assert.equal((await answered(`${server.url}/items/${item.body.id}`, 'GET')).status, 200);
  });

  it('when a write waits on a row lock past DATABASE_STATEMENT_TIMEOUT, then it gets 503 STORE_UNAVAILABLE and the server cancels it: it does not run once the lock is gone', async () => {
    const item = await answered(`${server.url}/items`, 'POST', { name: 'row locked' });
    assert.equal(item.status, 201);
    const etag = item.headers.get('etag')!;
    const locker = new pg.Client({ connectionString: databaseUrl });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('select id from items where id = $1 for update', [item.body.id]);
      const url = `${server.url}/items/${item.body.id}`;
      assertUnavailable(await answered(url, 'PATCH', { name: 'late' }, { 'if-match': etag }), 'PATCH');
      assertUnavailable(await answered(url, 'DELETE', undefined, { 'if-match': etag }), 'DELETE');
      // A client that stopped waiting is not enough: a statement left waiting would run after the 503.
      assert.equal(await serviceStatementsWaitingOnLocks(), 0, 'a refused write still waits on the lock');
      await locker.query('rollback');
    } finally {
      await locker.end();
    }
    const after = await answered(`${server.url}/items/${item.body.id}`, 'GET');
    assert.equal(after.status, 200);
    assert.deepEqual(after.body, item.body, 'neither refused write ran once the lock was gone');
  });
});
