import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { Counter, register } from 'prom-client';
import type { AppConfig } from '../config/app-config.js';
import { MemoryThrottlerStorage } from './memory-throttler.storage.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';

/** Requests served without a limit because Redis did not answer (docs/operations.md). */
export const RATE_LIMIT_STORE_FAILURES = 'items_rate_limit_store_failures_total';

/**
 * Per-client request budgets (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW). RATE_LIMIT_STORE=memory counts
 * them in this process, which a single replica needs; redis counts them in Redis, one budget per client
 * across every replica. Controllers opt in with `@UseGuards(RateLimitGuard)`; health and metrics stay
 * out, so that probes and scrapes are never refused.
 */
@Global()
@Module({})
export class RateLimitModule {
  static forRoot(config: AppConfig): DynamicModule {
    const { max, windowMs, redis } = config.rateLimit;
    // With the limit off nothing is counted, so there is nothing to connect to.
    const storage =
      redis && max > 0
        ? new RedisThrottlerStorage(redis, config.metrics.enabled ? storeFailures() : undefined)
        : new MemoryThrottlerStorage();
    return {
      module: RateLimitModule,
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [{ limit: max, ttl: windowMs }],
          skipIf: max === 0 ? () => true : undefined,
          // Never @nestjs/throttler's own in-memory storage (O(hits in the window) per request, see
          // MemoryThrottlerStorage). Nest runs the storage's lifecycle hooks.
          storage,
        }),
      ],
      providers: [RateLimitGuard],
      exports: [ThrottlerModule, RateLimitGuard],
    };
  }
}

/**
 * In prom-client's default registry, which /metrics serves. Here rather than in observability/metrics.ts:
 * observability depends on this module, not the other way round.
 */
function storeFailures(): Counter {
  const existing = register.getSingleMetric(RATE_LIMIT_STORE_FAILURES);
  if (existing) return existing as Counter;
  return new Counter({
    name: RATE_LIMIT_STORE_FAILURES,
    help: 'Requests served without a rate limit because the rate-limit store (Redis) did not answer in time.',
  });
}
