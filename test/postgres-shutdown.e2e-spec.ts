import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import { jsonRequest } from './support/http.js';
import { logLines } from './support/logs.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { startServer } from './support/server-process.js';
import { waitFor } from './support/timing.js';

/** Long enough for the test to send a request inside it on any machine; the process exits after it. */
const DRAIN_DELAY = '3s';
const SHUTDOWN_STEPS = new Set(['shutting down', 'stopped accepting connections', 'store closed', 'shutdown complete']);

describe('Shutdown on PostgreSQL (the built server, a real signal, a real database)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    await database.migrate();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('when SIGTERM arrives with a read waiting on the database, then a request during the drain is served from the pool, the waiting read is answered, and the pool closes after the last response, exit 0', async () => {
    const server = await startServer({
      STORE_DRIVER: 'postgres',
      DATABASE_URL: database.url,
      SHUTDOWN_DRAIN_DELAY: DRAIN_DELAY,
      RATE_LIMIT_MAX: '0',
    });
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      const created = await jsonRequest(`${server.url}/items`, 'POST', { id: 'kept', name: 'written before' });
      assert.equal(created.status, 201);

      // A read that waits on the database when the signal comes: the table is locked by the test.
      const holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      await holder.query('begin');
      await holder.query('lock table items in access exclusive mode');
      const waiting = jsonRequest(`${server.url}/items/kept`, 'GET', undefined, { 'x-request-id': 'waiting-read' });
      const observer = new pg.Client({ connectionString: database.url });
      await observer.connect();
      try {
        // Polls pg_stat_activity: the service's query is queued behind the lock, not merely sent.
        const deadline = performance.now() + 10_000;
        for (;;) {
          const { rows } = await observer.query<{ n: string }>(
            "select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and pid <> $1",
            [holderPid],
          );
          if (Number(rows[0]!.n) > 0) break;
          if (performance.now() > deadline) throw new Error('the read never waited on the lock');
        }
      } finally {
        await observer.end();
      }

      process.kill(server.pid, 'SIGTERM');
      await waitFor(() => /"msg":"shutting down"/.test(server.stdout()), 'the shutting down line');

      // Inside the drain delay: readiness fails, and the API still takes requests, which need the pool
      // (this one queues behind the lock too).
      const readiness = await fetch(`${server.url}/readyz`);
      assert.equal(readiness.status, 503);
      const duringDrain = jsonRequest(`${server.url}/items/kept`, 'GET', undefined, { 'x-request-id': 'during-drain' });

      // The lock goes once the listener has closed: both reads are still answered from the pool.
      await waitFor(
        () => /"msg":"stopped accepting connections"/.test(server.stdout()),
        'the listener closing',
        15_000,
      );
      await holder.query('commit');
      for (const response of [await waiting, await duringDrain]) {
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.name, 'written before');
      }

      assert.equal(await server.exited, 0);
      const lines = logLines(server.stdout());
      assert.deepEqual(
        lines.filter((line) => SHUTDOWN_STEPS.has(line.msg)).map((line) => line.msg),
        ['shutting down', 'stopped accepting connections', 'store closed', 'shutdown complete'],
      );
      const storeClosed = lines.findIndex((line) => line.msg === 'store closed');
      assert.equal(lines[storeClosed]!.driver, 'postgres');
      for (const id of ['waiting-read', 'during-drain']) {
        const answeredAt = lines.findIndex((line) => line.request_id === id && line.status_code === 200);
        assert.ok(answeredAt >= 0, `${id} has its access line`);
        assert.ok(answeredAt < storeClosed, `the pool closed after ${id} was answered`);
      }
    } finally {
      await holder.end().catch(() => undefined);
      await server.stop('SIGKILL');
    }
  });
});
