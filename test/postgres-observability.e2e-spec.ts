import assert from './support/assert.js';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import { jsonRequest } from './support/http.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './support/otlp-receiver.js';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from './support/postgres.js';
import { type Exposition, promtoolCheckMetrics, sampleValue, scrape, scrapeUntil } from './support/prometheus.js';
import { type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitFor } from './support/timing.js';

const CLIENT_KIND = 3;
const INTERNAL_KIND = 1;
const ERROR_STATUS = 2;
const POOL_MAX = 4;
/** PostgreSQL's admin_shutdown: what a query gets when its backend is terminated. */
const ADMIN_SHUTDOWN = '57P01';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const traceparent = (traceId: string) => `00-${traceId}-${hex(8)}-01`;

const storeOps = (exposition: Exposition, op: string, outcome: string) =>
  sampleValue(exposition, 'items_store_operations_total', { op, outcome }) ?? 0;

const pool = (exposition: Exposition) => ({
  used: sampleValue(exposition, 'items_store_pool_connections', { state: 'used' }),
  idle: sampleValue(exposition, 'items_store_pool_connections', { state: 'idle' }),
  pending: sampleValue(exposition, 'items_store_pool_pending_requests'),
  max: sampleValue(exposition, 'items_store_pool_max_connections'),
});

/** Every string a span carries: attributes, events' attributes, resource. */
const spanText = (spans: readonly ReceivedSpan[]) =>
  JSON.stringify(spans, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value));

describe('PostgreSQL store observability (built server, real PostgreSQL, /metrics, OTLP receiver)', () => {
  describe('when the service runs on PostgreSQL as a user with a password in DATABASE_URL', () => {
    let database: TestDatabase;
    let receiver: OtlpReceiver;
    let server: ServerProcess;
    // Canaries: the role and its password must appear in no metric and no span. The server trusts
    // 127.0.0.1, so the password is sent and ignored; it is in the URL all the same.
    const user = `items_obs_${hex(4)}`;
    const password = `pw-${hex(12)}`;
    let databaseName: string;
    const admin = (url: string) => new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });

    beforeAll(async () => {
      database = await createTestDatabase();
      await database.migrate();
      databaseName = new URL(database.url).pathname.slice(1);
      const superuser = admin(await postgresServerUrl());
      await superuser.connect();
      await superuser.query(`create role ${user} login password '${password}'`).finally(() => superuser.end());
      const owner = admin(database.url);
      await owner.connect();
      await owner
        .query(`grant select, insert, update, delete on all tables in schema public to ${user}`)
        .finally(() => owner.end());
      const url = new URL(database.url);
      url.username = user;
      url.password = password;

      receiver = await startOtlpReceiver();
      server = await startServer({
        STORE_DRIVER: 'postgres',
        DATABASE_URL: url.toString(),
        DATABASE_POOL_MAX: String(POOL_MAX),
        // Long enough that the queries the test holds on a lock wait for it, not for a timeout.
        DATABASE_CONNECT_TIMEOUT: '30s',
        DATABASE_STATEMENT_TIMEOUT: '30s',
        RATE_LIMIT_MAX: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_SERVICE_NAME: 'items-e2e',
        OTEL_BSP_SCHEDULE_DELAY: '50',
      });
    });
    afterAll(async () => {
      await server?.stop();
      await receiver?.close();
      await database?.drop();
      const cleanup = admin(await postgresServerUrl());
      await cleanup.connect();
      await cleanup.query(`drop role if exists ${user}`).finally(() => cleanup.end());
    });

    const spansOf = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);

    it('then each store operation is counted by operation and outcome, as on the JSON file, and /metrics passes promtool', async () => {
      const before = (await scrape(`${server.url}/metrics`)).exposition;
      const created = await jsonRequest(`${server.url}/items`, 'POST', { name: 'counted' });
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      assert.equal((await jsonRequest(`${server.url}/items/${id}`, 'GET')).status, 200);
      assert.equal((await jsonRequest(`${server.url}/items/missing-${hex(4)}`, 'GET')).status, 404);
      assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { id, name: 'again' })).status, 409);
      const etag = created.headers.get('etag')!;
      assert.equal(
        (await jsonRequest(`${server.url}/items/${id}`, 'PATCH', { name: 'renamed' }, { 'if-match': etag })).status,
        200,
      );
      assert.equal(
        (await jsonRequest(`${server.url}/items/${id}`, 'PATCH', { name: 'stale' }, { 'if-match': etag })).status,
        412,
      );
      const renamed = (await jsonRequest(`${server.url}/items/${id}`, 'GET')).headers.get('etag')!;
      assert.equal(
        (await jsonRequest(`${server.url}/items/${id}`, 'GET', undefined, { 'if-none-match': renamed })).status,
        304,
      );
      assert.equal((await jsonRequest(`${server.url}/items`, 'GET')).status, 200);
      assert.equal((await jsonRequest(`${server.url}/items/${id}`, 'DELETE')).status, 204);
      // Deleted twice: the store's own not-found, from inside its query, not a 503.
      assert.equal((await jsonRequest(`${server.url}/items/${id}`, 'DELETE')).status, 404);

      const expected: [string, string, number][] = [
        ['insert', 'ok', 1],
        ['insert', 'conflict', 1],
        // The GETs, and each PATCH's read of the current item (the stale one stops there: 412, counted
        // as a replace refused); the 304's read is also counted as not_modified.
        ['find', 'ok', 5],
        ['find', 'not_found', 1],
        ['find', 'not_modified', 1],
        ['replace', 'ok', 1],
        ['replace', 'precondition_failed', 1],
        ['list', 'ok', 1],
        ['remove', 'ok', 1],
        ['remove', 'not_found', 1],
        ['insert', 'unavailable', 0],
        ['remove', 'unavailable', 0],
      ];
      const moved = (exposition: Exposition) =>
        expected.map(([op, outcome]) => storeOps(exposition, op, outcome) - storeOps(before, op, outcome));
      const after = (
        await scrapeUntil(
          `${server.url}/metrics`,
          (exposition) => storeOps(exposition, 'remove', 'not_found') > storeOps(before, 'remove', 'not_found'),
          'the last DELETE’s store operation',
        )
      ).exposition;
      assert.deepEqual(
        moved(after),
        expected.map(([, , count]) => count),
      );
      assert.equal(after.types.get('items_store_operation_duration_seconds'), 'histogram');

      const { text } = await scrape(`${server.url}/metrics`);
      const checked = await promtoolCheckMetrics(text);
      assert.deepEqual(checked, { code: 0, output: '' });
    });

    it('then the pool gauges show its connections by state and its limit, and no label holds the user or the password', async () => {
      const { text, exposition } = await scrape(`${server.url}/metrics`);
      assert.equal(exposition.types.get('items_store_pool_connections'), 'gauge');
      assert.equal(exposition.types.get('items_store_pool_pending_requests'), 'gauge');
      assert.equal(exposition.types.get('items_store_pool_max_connections'), 'gauge');
      const now = pool(exposition);
      assert.equal(now.max, POOL_MAX);
      assert.equal(now.pending, 0);
      // Idle between requests: the connections the requests above opened, and none in use.
      assert.equal(now.used, 0);
      assert.ok(now.idle! >= 1 && now.idle! <= POOL_MAX, `idle ${now.idle}`);
      const states = exposition.samples
        .filter((sample) => sample.name === 'items_store_pool_connections')
        .map((sample) => sample.labels.state)
        .sort();
      assert.deepEqual(states, ['idle', 'used']);
      assert.ok(!text.includes(password), 'the password is in /metrics');
      assert.ok(!text.includes(user), 'the user is in /metrics');
    });

    it('then a store span is a PostgreSQL client span with the database conventions’ attributes, under the request’s span, without credentials', async () => {
      const traceId = hex(16);
      const created = await jsonRequest(
        `${server.url}/items`,
        'POST',
        { name: 'traced' },
        { traceparent: traceparent(traceId) },
      );
      assert.equal(created.status, 201);
      const readTrace = hex(16);
      const read = await jsonRequest(`${server.url}/items/${created.body.id}`, 'GET', undefined, {
        traceparent: traceparent(readTrace),
      });
      assert.equal(read.status, 200);
      await waitFor(
        () =>
          spansOf(traceId).some((span) => span.name === 'store insert') &&
          spansOf(readTrace).some((span) => span.name === 'store find'),
        'the store spans',
      );

      const insert = spansOf(traceId).find((span) => span.name === 'store insert')!;
      const serverSpan = spansOf(traceId).find((span) => span.kind === 2)!;
      assert.equal(insert.parentSpanId, serverSpan.spanId);
      assert.equal(insert.kind, CLIENT_KIND);
      assert.deepEqual(insert.attributes, {
        'items.store.operation': 'insert',
        'items.store.outcome': 'ok',
        'db.system.name': 'postgresql',
        'db.operation.name': 'INSERT',
        'db.query.summary': 'INSERT items',
        'db.collection.name': 'items',
        'db.namespace': databaseName,
        'server.address': '127.0.0.1',
        'server.port': 5432,
      });
      const find = spansOf(readTrace).find((span) => span.name === 'store find')!;
      assert.equal(find.attributes['db.system.name'], 'postgresql');
      assert.equal(find.attributes['db.operation.name'], 'SELECT');
      assert.equal(find.attributes['items.store.outcome'], 'ok');
      assert.equal(find.statusCode, 0);

      const exported = spanText(receiver.spans);
      assert.ok(!exported.includes(password), 'the password is in a span');
      assert.ok(!exported.includes(user), 'the user is in a span');
    });

    it(`when more queries than the pool's ${POOL_MAX} connections wait on a lock, then the gauges show the pool full and the rest waiting; a query whose backend dies is a 503 whose span names PostgreSQL's error, and the service lives on`, async () => {
      const created = await jsonRequest(`${server.url}/items`, 'POST', { name: 'locked' });
      assert.equal(created.status, 201);
      // A transaction of the test's own holds the table: every SELECT waits for it.
      const holder = admin(database.url);
      await holder.connect();
      const lock = () => holder.query('begin; lock table items in access exclusive mode');
      // Plain fetch: the OpenAPI document does not list a 503 for GET /items/{id} (yet).
      const get = (traceId = hex(16)) =>
        fetch(`${server.url}/items/${created.body.id}`, { headers: { traceparent: traceparent(traceId) } }).then(
          async (response) => (await response.arrayBuffer(), response),
        );
      try {
        // First the pool opens all its connections, held on the lock, so that the queries below find
        // them open: here a connection opened while the table was locked waited on it in its start-up
        // already, before any query, and could not be told from a query at the lock.
        await lock();
        const warmUp = Promise.all(Array.from({ length: POOL_MAX }, () => get()));
        await scrapeUntil(`${server.url}/metrics`, (exposition) => pool(exposition).used === POOL_MAX, 'the pool full');
        await holder.query('commit');
        assert.deepEqual(new Set((await warmUp).map((response) => response.status)), new Set([200]));
        const before = (
          await scrapeUntil(
            `${server.url}/metrics`,
            (exposition) => pool(exposition).idle === POOL_MAX,
            `${POOL_MAX} idle connections`,
          )
        ).exposition;

        await lock();
        const traces = Array.from({ length: 2 * POOL_MAX }, () => hex(16));
        const responses = Promise.all(traces.map((traceId) => get(traceId)));
        const full = (
          await scrapeUntil(
            `${server.url}/metrics`,
            (exposition) => pool(exposition).pending === POOL_MAX,
            `${POOL_MAX} queries waiting for a connection`,
          )
        ).exposition;
        assert.deepEqual(pool(full), { used: POOL_MAX, idle: 0, pending: POOL_MAX, max: POOL_MAX });

        // The pool counts a connection as used once it is checked out: wait until each query is at the lock.
        const blocked = `select count(*)::int as n from pg_stat_activity
          where datname = $1 and application_name = 'items-service' and wait_event_type = 'Lock'`;
        const deadline = performance.now() + 10_000;
        while ((await holder.query<{ n: number }>(blocked, [databaseName])).rows[0]!.n < POOL_MAX) {
          if (performance.now() > deadline) throw new Error(`${POOL_MAX} queries never waited on the lock`);
          await delay(20);
        }
        // Their backends are terminated: those queries fail with PostgreSQL's 57P01. A waiting query may
        // be handed one of the dying connections before it closes, and fail too: pg's behaviour, still a 503.
        const terminated = await holder.query<{ pid: number }>(
          `select pg_terminate_backend(pid) from pg_stat_activity
            where datname = $1 and application_name = 'items-service' and wait_event_type = 'Lock'`,
          [databaseName],
        );
        assert.equal(terminated.rowCount, POOL_MAX);
        await scrapeUntil(
          `${server.url}/metrics`,
          (exposition) =>
            storeOps(exposition, 'find', 'unavailable') - storeOps(before, 'find', 'unavailable') >= POOL_MAX &&
            pool(exposition).pending === 0,
          'the terminated queries counted and none waiting any more',
        );
        await holder.query('commit');
        const statuses = (await responses).map((response) => response.status);
        const unavailable = statuses.filter((status) => status === 503).length;
        assert.ok(unavailable >= POOL_MAX, `statuses: ${JSON.stringify(statuses)}`);
        assert.equal(statuses.filter((status) => status === 200).length, statuses.length - unavailable);

        const idle = (
          await scrapeUntil(
            `${server.url}/metrics`,
            (exposition) => pool(exposition).used === 0,
            'every connection back in the pool',
          )
        ).exposition;
        assert.equal(pool(idle).pending, 0);
        assert.ok(pool(idle).idle! <= POOL_MAX);
        assert.equal(storeOps(idle, 'find', 'unavailable') - storeOps(before, 'find', 'unavailable'), unavailable);
        // The service survived its connections' deaths, and serves again without a restart.
        assert.equal((await jsonRequest(`${server.url}/items/${created.body.id}`, 'GET')).status, 200);

        await waitFor(
          () => traces.every((traceId) => spansOf(traceId).some((span) => span.name === 'store find')),
          'every GET’s store span',
        );
        const finds = traces.map((traceId) => spansOf(traceId).find((span) => span.name === 'store find')!);
        const failed = finds.filter((span) => span.statusCode === ERROR_STATUS);
        assert.equal(failed.length, unavailable);
        for (const span of failed) {
          assert.equal(span.attributes['items.store.outcome'], 'unavailable');
          assert.equal(span.attributes['db.system.name'], 'postgresql');
          assert.equal(typeof span.attributes['error.type'], 'string');
        }
        const adminShutdown = failed.filter((span) => span.attributes['error.type'] === ADMIN_SHUTDOWN);
        assert.equal(adminShutdown.length, POOL_MAX, 'the terminated queries’ spans name PostgreSQL’s 57P01');
        for (const span of adminShutdown) assert.equal(span.attributes['db.response.status_code'], ADMIN_SHUTDOWN);
        for (const span of finds.filter((span) => span.statusCode !== ERROR_STATUS)) {
          assert.equal(span.attributes['items.store.outcome'], 'ok');
          assert.equal(span.attributes['error.type'], undefined);
        }
        assert.ok(!spanText(receiver.spans).includes(password), 'the password is in an error span');
      } finally {
        await holder.end();
      }
    });
  });

  describe('when the service runs on the JSON file', () => {
    const temp = makeTempDir();
    let receiver: OtlpReceiver;
    let server: ServerProcess;
    beforeAll(async () => {
      receiver = await startOtlpReceiver();
      server = await startServer({
        DB_PATH: temp.dbPath,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY: '50',
      });
    });
    afterAll(async () => {
      await server?.stop();
      await receiver?.close();
      temp.remove();
    });

    it('then /metrics has no pool family at all, and its store spans stay internal, without db.* attributes', async () => {
      const traceId = hex(16);
      const created = await jsonRequest(
        `${server.url}/items`,
        'POST',
        { name: 'on file' },
        { traceparent: traceparent(traceId) },
      );
      assert.equal(created.status, 201);
      const { exposition } = await scrape(`${server.url}/metrics`);
      const poolFamilies = [...exposition.types.keys()].filter((family) => family.startsWith('items_store_pool_'));
      assert.deepEqual(poolFamilies, []);
      await waitFor(() => spansOf(traceId).some((span) => span.name === 'store insert'), 'the insert span');
      const insert = spansOf(traceId).find((span) => span.name === 'store insert')!;
      assert.equal(insert.kind, INTERNAL_KIND);
      assert.deepEqual(Object.keys(insert.attributes).sort(), ['items.store.operation', 'items.store.outcome']);
    });

    const spansOf = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);
  });
});
