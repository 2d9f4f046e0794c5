import assert from '../../test/support/assert.js';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it, jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { freePort } from '../../test/support/ports.js';
import { startRedisServer, stopRedisServer, testRedisUrl } from '../../test/support/redis.js';
import { waitFor } from '../../test/support/timing.js';
import { MemoryThrottlerStorage } from './memory-throttler.storage.js';
import { RateLimitStoreUnavailableError, RedisThrottlerStorage } from './redis-throttler.storage.js';

const WINDOW_MS = 60_000;

describe('RedisThrottlerStorage', () => {
  const stores: RedisThrottlerStorage[] = [];
  const redisServers: ChildProcess[] = [];
  const prefix = `items-unit-${randomBytes(4).toString('hex')}:`;
  let redisUrl: string;

  beforeAll(async () => {
    redisUrl = await testRedisUrl(redisServers);
  });
  // The storage logs through Nest's Logger; the tests read what it logged instead of printing it.
  let warn: jest.Spied<Logger['warn']>;
  let log: jest.Spied<Logger['log']>;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  afterAll(async () => {
    for (const store of stores) store.onApplicationShutdown();
    const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
    await Promise.all(redisServers.map(stopRedisServer));
  });

  const storage = (url: string, failures?: Counter) => {
    const store = new RedisThrottlerStorage({ url, keyPrefix: prefix }, failures);
    stores.push(store);
    return store;
  };
  const failureCounter = () => new Counter({ name: 'failures', help: 'h', registers: [new Registry()] });
  const counted = async (counter: Counter) => (await counter.get()).values[0]?.value ?? 0;

  it('counts one budget for a key across two storages on the same Redis, under the key prefix, and blocks past the limit', async () => {
    const [one, two] = [storage(redisUrl), storage(redisUrl)];
    await Promise.all([one.onModuleInit(), two.onModuleInit()]);
    const key = `client-${randomBytes(4).toString('hex')}`;

    const hits = [];
    for (const store of [one, two, one]) hits.push(await store.increment(key, WINDOW_MS, 2, WINDOW_MS, 'default'));

    assert.deepEqual(
      hits.map((hit) => [hit.totalHits, hit.isBlocked]),
      [
        [1, false],
        [2, false],
        [3, true],
      ],
    );
    assert.ok(hits[2]!.timeToBlockExpire > 0, 'a blocked client is told when the block ends');
    const raw = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const keys = await raw.keys(`${prefix}*`);
    raw.disconnect();
    assert.ok(keys.length > 0 && keys.every((name) => name.startsWith(prefix)), `keys: ${keys.join(', ')}`);
  });

  it('when the same hits reach Redis and the in-memory storage, then both answer the same, past the limit too: a client gets the same headers from either', async () => {
    const redis = storage(redisUrl);
    await redis.onModuleInit();
    const memory = new MemoryThrottlerStorage();
    const key = `client-${randomBytes(4).toString('hex')}`;

    const fromRedis: Awaited<ReturnType<RedisThrottlerStorage['increment']>>[] = [];
    const fromMemory: typeof fromRedis = [];
    for (let i = 0; i < 5; i++) {
      fromRedis.push(await redis.increment(key, WINDOW_MS, 2, WINDOW_MS, 'default'));
      fromMemory.push(await memory.increment(key, WINDOW_MS, 2, WINDOW_MS, 'default'));
    }
    memory.onApplicationShutdown();

    assert.deepEqual(fromMemory, fromRedis);
    assert.deepEqual(
      fromRedis.map((record) => record.isBlocked),
      [false, false, true, true, true],
    );
  });

  it('when Redis does not answer, start-up goes on, each increment rejects at once and is counted, the outage is logged once without the password, and its end once when Redis answers', async () => {
    const port = await freePort();
    const failures = failureCounter();
    const store = storage(`redis://:unit-secret-pw@127.0.0.1:${port}`, failures);

    await store.onModuleInit();
    for (let i = 0; i < 3; i += 1) {
      await assert.rejects(store.increment('client', WINDOW_MS, 5, 0, 'default'), RateLimitStoreUnavailableError);
    }

    assert.equal(await counted(failures), 3);
    assert.equal(warn.mock.calls.length, 1, 'the outage is logged once, when it starts');
    const warning = JSON.stringify(warn.mock.calls[0]);
    assert.ok(warning.includes(`127.0.0.1:${port}`), warning);
    assert.ok(!warning.includes('unit-secret-pw'), 'no part of the URL’s password is logged');

    // Redis comes up on that port: the client's own reconnection finds it, and limits apply again.
    redisServers.push(await startRedisServer(port));
    await waitFor(
      () => log.mock.calls.some((call) => JSON.stringify(call).includes('answering again')),
      'the reconnection',
    );
    const hit = await store.increment('client', WINDOW_MS, 5, 0, 'default');
    assert.equal(hit.totalHits, 1);
    assert.equal(warn.mock.calls.length, 1, 'no new warning once Redis answers');
    assert.equal(log.mock.calls.filter((call) => JSON.stringify(call).includes('answering again')).length, 1);
  });

  it('after shutdown, the client is closed: an increment fails instead of waiting', async () => {
    const store = storage(redisUrl);
    await store.onModuleInit();
    store.onApplicationShutdown();

    await assert.rejects(store.increment('client', WINDOW_MS, 5, 0, 'default'), RateLimitStoreUnavailableError);
  });
});
