import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { RedisConfig } from '../config/app-config.js';

/** What a request waits for Redis at most: a stalled Redis must not hold the API up. */
const COMMAND_TIMEOUT_MS = 500;
/** A connection attempt, at start-up too: an unreachable Redis delays start-up by this at most. */
const CONNECT_TIMEOUT_MS = 2_000;

/** The budget store did not answer (down, unreachable, too slow): the guard lets the request through. */
export class RateLimitStoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the rate-limit store did not answer', { cause });
    this.name = 'RateLimitStoreUnavailableError';
  }
}

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * The budgets in Redis, shared by every replica: @nest-lab/throttler-storage-redis's storage (one Lua
 * script per request: INCR, PTTL, PEXPIRE and a block key, so O(1) whatever the limit and the window),
 * on an ioredis client that this class owns, so that its connection closes after the HTTP drain
 * (`onApplicationShutdown`) rather than in the library's `onModuleDestroy`, with requests in flight.
 *
 * Redis is not allowed to take the API down: while it does not answer, `increment` rejects with
 * RateLimitStoreUnavailableError at once (no offline queue) or after COMMAND_TIMEOUT_MS, and the guard
 * serves the request without a limit. Each such request is counted, and the outage is logged once when
 * it starts and once when it ends. Start-up does not wait for Redis beyond one connection attempt; the
 * client keeps reconnecting in the background.
 */
export class RedisThrottlerStorage implements ThrottlerStorage, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly redis: Redis;
  private readonly storage: ThrottlerStorageRedisService;
  /** host:port only: the URL may hold a password. */
  private readonly address: string;
  private available = true;

  constructor(
    config: RedisConfig,
    private readonly failures?: Counter,
  ) {
    this.address = addressOf(config.url);
    this.redis = new Redis(config.url, {
      keyPrefix: config.keyPrefix,
      // Connected in onModuleInit, so that start-up knows whether Redis answers.
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // While disconnected, a command fails at once instead of queueing behind the reconnection.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    });
    // Without a listener, ioredis prints every failed reconnection to the console.
    this.redis.on('error', (err: Error) => this.unavailable(err));
    this.redis.on('ready', () => this.answering());
    this.storage = new ThrottlerStorageRedisService(this.redis);
  }

  async onModuleInit(): Promise<void> {
    try {
      await this.redis.connect();
      this.logger.log({ msg: 'rate-limit store connected', redis: this.address });
    } catch (err) {
      // Logged (once) by the error listener; the client goes on reconnecting.
      this.unavailable(err);
    }
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    try {
      const record = await this.storage.increment(key, ttl, limit, blockDuration, throttlerName);
      this.answering();
      return record;
    } catch (err) {
      this.failures?.inc();
      this.unavailable(err);
      throw new RateLimitStoreUnavailableError(err);
    }
  }

  onApplicationShutdown(): void {
    // After the HTTP drain: no request needs Redis any more. disconnect() also stops the reconnecting.
    this.redis.disconnect();
  }

  private unavailable(err: unknown): void {
    if (!this.available) return;
    this.available = false;
    this.logger.warn({
      msg: 'rate-limit store unavailable; requests are served without a rate limit until it answers',
      redis: this.address,
      err: err instanceof Error ? err.message : String(err),
    });
  }

  private answering(): void {
    if (this.available) return;
    this.available = true;
    this.logger.log({ msg: 'rate-limit store answering again; rate limits apply', redis: this.address });
  }
}

function addressOf(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || '6379'}`;
}
