import { type ExecutionContext, Injectable } from '@nestjs/common';
import {
  normalizeIp,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerOptions,
  type ThrottlerRequest,
} from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error.js';
import { MemoryThrottlerStorage } from './memory-throttler.storage.js';
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

  /** The in-process storage, when it is the one: decided once here, not on every request. */
  private readonly inProcess = this.storageService instanceof MemoryThrottlerStorage ? this.storageService : undefined;

  protected override generateKey(_context: ExecutionContext, tracker: string, throttlerName: string): string {
    // In this process the storage keeps one map per throttler name, so the client's address alone is
    // the key. For an IPv4 client without a trusted proxy it is the string the socket holds, hashed
    // once per connection, where a key built per request is hashed on every request (most of the
    // storage's CPU time under load). Redis keys keep the name: every replica and every version shares them.
    if (this.inProcess) return tracker;
    return `${throttlerName}:${tracker}`;
  }

  /**
   * Per controller class, per handler (an inherited handler is one function under several classes):
   * the one throttler and its numbers when the route counts as configured (no @Throttle, @SkipThrottle
   * or other throttler metadata on it or its controller, numbers rather than functions), else null and
   * the parent's general path. Worked out on a route's first request.
   */
  private readonly shortPaths = new WeakMap<object, Map<object, ShortPath | null>>();

  /**
   * The parent looks up six pieces of route metadata on the handler and the class, and awaits seven
   * times (skip check, three values, client address, storage, handler) on every request: about half of
   * what the limiter cost a GET by id under load (bench/README.md, "The rate limiter"). A route
   * configured as every route of this service is (the module's one throttler, nothing per route) takes
   * this shorter path: the same client key, storage call, headers and refusal, with one await (none
   * with the in-process storage).
   */
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    let handlers = this.shortPaths.get(context.getClass());
    if (handlers === undefined) {
      handlers = new Map();
      this.shortPaths.set(context.getClass(), handlers);
    }
    let shortPath = handlers.get(context.getHandler());
    if (shortPath === undefined) {
      shortPath = this.findShortPath(context);
      handlers.set(context.getHandler(), shortPath);
    }
    if (shortPath === null) return super.canActivate(context);
    if (this.commonOptions.skipIf?.(context)) return true;

    const { name, limit, ttl, blockDuration } = shortPath;
    const http = context.switchToHttp();
    const tracker = clientOf(http.getRequest<FastifyRequest>().ip, this.ipv6SubnetPrefix);
    const key = this.generateKey(context, tracker, name);
    let record;
    try {
      // In this process: counted at once, without a promise to wait for.
      record = this.inProcess
        ? this.inProcess.count(key, ttl, limit, blockDuration, name)
        : await this.storageService.increment(key, ttl, limit, blockDuration, name);
    } catch (err) {
      return this.whenStoreFails(err);
    }
    const reply = http.getResponse<FastifyReply>();
    if (record.isBlocked) {
      void reply.header('retry-after', record.timeToBlockExpire);
      await this.throwThrottlingException(context, { ...record, limit, ttl, key, tracker });
    }
    void reply
      .header('ratelimit-limit', limit)
      .header('ratelimit-remaining', Math.max(0, limit - record.totalHits))
      .header('ratelimit-reset', record.timeToExpire);
    return true;
  }

  protected override async handleRequest(request: ThrottlerRequest): Promise<boolean> {
    try {
      return await super.handleRequest(request);
    } catch (err) {
      return this.whenStoreFails(err);
    }
  }

  private whenStoreFails(err: unknown): boolean {
    // The storage has counted and logged it; a refusal (RateLimitedError) passes on.
    if (err instanceof RateLimitStoreUnavailableError) return true;
    throw err;
  }

  private findShortPath(context: ExecutionContext): ShortPath | null {
    const [throttler, ...others] = this.throttlers;
    const options = Array.isArray(this.options) ? undefined : this.options;
    if (!throttler || others.length > 0 || !isPlain(throttler)) return null;
    // Options the short path does not read: the parent's path honours them.
    if (options?.ignoreUserAgents || options?.getTracker || options?.generateKey || options?.setHeaders === false)
      return null;
    const routeMetadata = [context.getHandler(), context.getClass()].flatMap(
      (target) => Reflect.getMetadataKeys(target) as unknown[],
    );
    if (routeMetadata.some((key) => typeof key === 'string' && key.startsWith('THROTTLER:'))) return null;
    const { name = 'default', limit, ttl, blockDuration = ttl } = throttler;
    return { name, limit: limit as number, ttl: ttl as number, blockDuration: blockDuration as number };
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

interface ShortPath {
  name: string;
  limit: number;
  ttl: number;
  blockDuration: number;
}

/**
 * The client's budget key, as the parent's normalizeIp gives it (an IPv6 address stands for its /64,
 * by default), without its address parsing for the strings it returns unchanged: those with neither
 * `:` (IPv6) nor `%` (a zone), every IPv4 address among them. Parsing was a quarter of the limiter's
 * CPU time per request. Exported for its test.
 */
export function clientOf(ip: string | undefined, ipv6SubnetPrefix: number): string {
  // request.ip is undefined once the client has reset the connection: normalizeIp passes it on.
  if (typeof ip === 'string' && !ip.includes(':') && !ip.includes('%')) return ip;
  return normalizeIp(ip as string, ipv6SubnetPrefix);
}

/** A throttler the short path can take as it is: numbers, and no options of its own it would ignore. */
function isPlain(throttler: ThrottlerOptions): boolean {
  const { limit, ttl, blockDuration = 0, skipIf, ignoreUserAgents, getTracker, generateKey, setHeaders } = throttler;
  return (
    [limit, ttl, blockDuration].every((value) => typeof value === 'number') &&
    [skipIf, ignoreUserAgents, getTracker, generateKey, setHeaders].every((option) => option === undefined)
  );
}
