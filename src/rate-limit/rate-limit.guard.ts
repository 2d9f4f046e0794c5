import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail, type ThrottlerRequest } from '@nestjs/throttler';
import type { FastifyReply } from 'fastify';
import { DomainError } from '../common/domain-error.js';
import { RateLimitStoreUnavailableError } from './redis-throttler.storage.js';

export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  readonly kind = 'rate_limited';
  constructor(retryAfterSeconds: number) {
    super(`Too many requests from this client; retry in ${retryAfterSeconds} s (see Retry-After).`);
  }
}

/**
 * @nestjs/throttler's guard with the IETF names (`RateLimit-Limit`, `-Remaining`, `-Reset`, as in
 * draft-ietf-httpapi-ratelimit-headers) instead of `X-RateLimit-*`, one budget per client across the
 * whole API instead of one per route, and a problem+json 429 that carries the same headers.
 * The client is `request.ip`: the socket's peer, unless TRUST_PROXY tells Fastify which proxies'
 * X-Forwarded-For to believe.
 * When the budget store (Redis) does not answer, the request is served without a limit and without
 * RateLimit-* headers (the budget is unknown): a Redis outage must not take the API down.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override headerPrefix = 'RateLimit';

  protected override generateKey(_context: ExecutionContext, tracker: string, throttlerName: string): string {
    return `${throttlerName}:${tracker}`;
  }

  protected override async handleRequest(request: ThrottlerRequest): Promise<boolean> {
    try {
      return await super.handleRequest(request);
    } catch (err) {
      // The storage has counted and logged it; a refusal (RateLimitedError) passes on.
      if (err instanceof RateLimitStoreUnavailableError) return true;
      throw err;
    }
  }

  protected override throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    // The parent has set Retry-After; a refused request also says where the budget stands.
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    void reply
      .header('ratelimit-limit', detail.limit)
      .header('ratelimit-remaining', 0)
      .header('ratelimit-reset', detail.timeToBlockExpire);
    return Promise.reject(new RateLimitedError(detail.timeToBlockExpire));
  }
}
