import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import type { AppConfig } from '../config/app-config.js';
import { RateLimitGuard } from './rate-limit.guard.js';

/**
 * Per-client request budgets (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW), in memory: each replica counts
 * its own clients, which is what a single-replica service with a local store needs. Controllers opt
 * in with `@UseGuards(RateLimitGuard)`; health and metrics stay out, so that probes and scrapes are
 * never refused.
 */
@Global()
@Module({})
export class RateLimitModule {
  static forRoot(config: AppConfig): DynamicModule {
    const { max, windowMs } = config.rateLimit;
    return {
      module: RateLimitModule,
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [{ limit: max, ttl: windowMs }],
          skipIf: max === 0 ? () => true : undefined,
        }),
      ],
      providers: [RateLimitGuard],
      exports: [ThrottlerModule, RateLimitGuard],
    };
  }
}
