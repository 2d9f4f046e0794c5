import assert from './support/assert.js';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { assertProbeNotLimited, assertProblem, jsonRequest } from './support/http.js';
import { logLines } from './support/logs.js';
import { freePort } from './support/ports.js';
import { runServerToExit, type ServerProcess, startServer } from './support/server-process.js';
import { startRedisServer, stopRedisServer, testRedisUrl } from './support/redis.js';
import { makeTempDir } from './support/temp-dir.js';

const LIMIT = 6;
const FAILURES_METRIC = 'items_rate_limit_store_failures_total';

/** The keys under `prefix`, and a way to delete them. */
function keysUnder(url: string, prefix: string) {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  return {
    list: () => client.keys(`${prefix}*`),
    removeAll: async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      client.disconnect();
    },
  };
}

/** A sample's value in a Prometheus text exposition, or undefined when the metric is absent. */
function metricValue(exposition: string, name: string): number | undefined {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const client = (address: string) => ({ 'x-forwarded-for': address });

async function assertLimited(url: string, headers: Record<string, string>): Promise<void> {
  const response = await jsonRequest(`${url}/items`, 'GET', undefined, headers);
  assertProblem(response, 429);
  assert.equal(response.body.code, 'RATE_LIMITED');
  const retryAfter = Number(response.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  assert.equal(response.headers.get('ratelimit-limit'), String(LIMIT));
  assert.equal(response.headers.get('ratelimit-remaining'), '0');
  assert.equal(response.headers.get('ratelimit-reset'), String(retryAfter));
}

describe('Rate limits in Redis (RATE_LIMIT_STORE=redis), across two service processes', () => {
  const temp = makeTempDir();
  const servers: ServerProcess[] = [];
  const redisServers: ChildProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let redisUrl: string;

  beforeAll(async () => {
    redisUrl = await testRedisUrl(redisServers);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop('SIGKILL')));
    for (const cleanup of cleanups) await cleanup();
    await Promise.all(redisServers.map(stopRedisServer));
    temp.remove();
  });

  /** A service process on the JSON-file store (a data directory of its own), counting in Redis. */
  const start = async (env: Record<string, string>) => {
    const server = await startServer({
      DB_PATH: `${temp.dir}/${servers.length}.json`,
      RATE_LIMIT_STORE: 'redis',
      RATE_LIMIT_MAX: String(LIMIT),
      RATE_LIMIT_WINDOW: '1m',
      // The test's requests come from loopback, each "client" named by X-Forwarded-For.
      TRUST_PROXY: 'loopback',
      ...env,
    });
    servers.push(server);
    return server;
  };

  /** A key prefix no other test (or run) uses; its keys are deleted after the suite. */
  const uniquePrefix = (url: string) => {
    const prefix = `items-test-${randomBytes(6).toString('hex')}:`;
    const keys = keysUnder(url, prefix);
    cleanups.push(keys.removeAll);
    return { prefix, keys };
  };

  it(`when requests alternate between two replicas sharing one Redis, then a client is refused after ${LIMIT} in total, not ${2 * LIMIT}, and another client has its own budget`, async () => {
    const { prefix, keys } = uniquePrefix(redisUrl);
    const env = { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix };
    const [a, b] = [await start(env), await start(env)].map((server) => server.url) as [string, string];

    for (let i = 0; i < LIMIT; i++) {
      const response = await jsonRequest(`${i % 2 === 0 ? a : b}/items`, 'GET', undefined, client('203.0.113.1'));
      assert.equal(response.status, 200, `request ${i + 1}`);
      assert.equal(response.headers.get('ratelimit-limit'), String(LIMIT));
      // One count for both replicas: each answer says what is left of the shared budget.
      assert.equal(response.headers.get('ratelimit-remaining'), String(LIMIT - 1 - i), `request ${i + 1}`);
    }
    await assertLimited(a, client('203.0.113.1'));
    await assertLimited(b, client('203.0.113.1'));

    const other = await jsonRequest(`${b}/items`, 'GET', undefined, client('203.0.113.2'));
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('ratelimit-remaining'), String(LIMIT - 1));
    // Probes are never limited, on either replica.
    for (const url of [a, b])
      for (const probe of ['/healthz', '/readyz', '/startupz'])
        await assertProbeNotLimited(url, probe, client('203.0.113.1'));
    // The budgets are in Redis, under the prefix, and nowhere else.
    const stored = await keys.list();
    assert.ok(stored.length > 0 && stored.every((key) => key.startsWith(prefix)), JSON.stringify(stored));

    // The Redis connection closes with the rest at SIGTERM: the processes exit 0, not by the shutdown deadline.
    for (const server of servers.splice(0)) assert.equal(await server.stop(), 0, server.stderr());
  });

  it('when Redis is unreachable from the start, then the service starts and serves without a limit, warns once, counts each request, and logs no part of REDIS_URL’s password', async () => {
    const password = `pw${randomBytes(12).toString('hex')}`;
    const closedPort = await freePort();
    const url = `redis://items:${password}@127.0.0.1:${closedPort}/0`;
    const server = await start({ REDIS_URL: url, LOG_LEVEL: 'debug' });

    for (let i = 0; i < LIMIT * 2; i++) {
      const response = await jsonRequest(`${server.url}/items`, 'GET', undefined, client('203.0.113.9'));
      assert.equal(response.status, 200, `request ${i + 1}`);
      // The budget is unknown: no header claims one.
      assert.equal(response.headers.get('ratelimit-limit'), null);
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.ok((metricValue(metrics, FAILURES_METRIC) ?? 0) >= LIMIT * 2, `${FAILURES_METRIC} in:\n${metrics}`);

    assert.equal(await server.stop(), 0, server.stderr());
    servers.splice(servers.indexOf(server), 1);
    const warnings = logLines(server.stdout()).filter((line) => line.msg?.startsWith('rate-limit store unavailable'));
    assert.equal(warnings.length, 1, server.stdout());
    assert.equal(warnings[0]!.redis, `127.0.0.1:${closedPort}`);
    for (const output of [server.stdout(), server.stderr()]) assert.ok(!output.includes(password), output);
  });

  it('when Redis stops under a running service and comes back, then requests are served without a limit meanwhile, and the limit applies again after, with no restart', async () => {
    const port = await freePort();
    const redis = await startRedisServer(port);
    redisServers.push(redis);
    const url = `redis://127.0.0.1:${port}`;
    const server = await start({ REDIS_URL: url });
    const get = () => jsonRequest(`${server.url}/items`, 'GET', undefined, client('203.0.113.20'));
    assert.equal((await get()).headers.get('ratelimit-remaining'), String(LIMIT - 1));

    await stopRedisServer(redis);
    for (let i = 0; i < LIMIT * 2; i++) {
      const response = await get();
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('ratelimit-limit'), null);
    }

    // An empty Redis again (no persistence): the budget starts afresh once the client has reconnected.
    redisServers.push(await startRedisServer(port));
    let remaining: string | null = null;
    const deadline = Date.now() + 20_000;
    while (remaining === null && Date.now() < deadline) {
      remaining = (await get()).headers.get('ratelimit-remaining');
      if (remaining === null) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(remaining, String(LIMIT - 1), 'the limit applies again');
    for (let i = 1; i < LIMIT; i++) assert.equal((await get()).status, 200);
    await assertLimited(server.url, client('203.0.113.20'));

    assert.equal(await server.stop(), 0, server.stderr());
    servers.splice(servers.indexOf(server), 1);
    const messages = logLines(server.stdout()).map((line) => line.msg as string);
    assert.deepEqual(
      messages.filter((msg) => msg.startsWith('rate-limit store')),
      [
        'rate-limit store connected',
        'rate-limit store unavailable; requests are served without a rate limit until it answers',
        'rate-limit store answering again; rate limits apply',
      ],
    );
  });

  it('when RATE_LIMIT_STORE=redis without REDIS_URL, or with a URL that is not redis://, then start-up is refused naming REDIS_URL, never quoting it', async () => {
    const missing = await runServerToExit({ RATE_LIMIT_STORE: 'redis', RATE_LIMIT_MAX: '10' });
    assert.equal(missing.code, 78);
    assert.match(missing.stderr, /REDIS_URL \(or REDIS_URL_FILE\) must be set when RATE_LIMIT_STORE=redis/);

    const wrong = await runServerToExit({
      RATE_LIMIT_STORE: 'redis',
      REDIS_URL: 'http://items:hunter2-canary@127.0.0.1:6379',
    });
    assert.equal(wrong.code, 78);
    assert.match(wrong.stderr, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
    assert.ok(!`${wrong.stdout}${wrong.stderr}`.includes('hunter2'), wrong.stderr);
  });
});
