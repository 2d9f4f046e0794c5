import type { OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** One client's budget: a counter and two instants, whatever the limit and however busy the client. */
interface ClientWindow {
  hits: number;
  /** When the window ends (exclusive): from then on, the count starts again. */
  resetAt: number;
  /** Until when the client is refused, whatever its count; 0 when it never was. */
  blockedUntil: number;
}

export interface MemoryThrottlerStorageOptions {
  /** Milliseconds on a clock that does not go back (whole or not); a test passes its own. */
  now?: () => number;
  /** How often clients whose window and block have both ended are forgotten. */
  sweepIntervalMs?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 5_000;

/**
 * The budgets in this process (RATE_LIMIT_STORE=memory), in O(1) time per request and a fixed size per
 * client. @nestjs/throttler's own in-memory storage keeps one timestamp per hit and filters them on every
 * request, so a busy client (or every client behind one proxy) made each request cost O(hits in the window).
 *
 * A fixed window counter, as the Redis storage's script counts (INCR, PEXPIRE on the first hit, a block
 * key for `blockDuration` once the count passes the limit, and hits counted while blocked too): both
 * stores then give a client the same RateLimit-* headers and the same 429s. A sliding-window counter
 * would smooth the burst a fixed window allows at its edge (up to twice the limit across it), but the
 * two stores would disagree, and RateLimit-Reset could no longer say when the full budget is back.
 *
 * Memory: a client is forgotten once its window and its block have both ended. Each client's entry is
 * moved to the end of an insertion-ordered Map when its window or its block starts, so the Map is in the
 * order the entries expire (exactly, while every window and block has the same length, as with the one
 * throttler here), and the sweep deletes from the front until the first entry still alive: its cost is
 * the number of entries it deletes, never a pass over every client. Were the lengths mixed (route-level
 * overrides), an entry might wait behind a longer-lived one, for at most the longer window or block.
 */
export class MemoryThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  /**
   * Per throttler name, per key: no string is built per request to join the two. RateLimitGuard relies
   * on it, passing the client's address alone as the key.
   */
  private readonly throttlers = new Map<string, Map<string, ClientWindow>>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryThrottlerStorageOptions = {}) {
    // performance.now: a wall clock set back would stretch every window.
    this.now = options.now ?? (() => performance.now());
    this.sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  }

  /** Clients remembered, across every throttler. */
  get size(): number {
    let size = 0;
    for (const windows of this.throttlers.values()) size += windows.size;
    return size;
  }

  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    return Promise.resolve(this.count(key, ttl, limit, blockDuration, throttlerName));
  }

  /** increment() without the promise, for RateLimitGuard's short path: one await less per request. */
  count(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): ThrottlerStorageRecord {
    // Started by the first request, not at construction: with the limit off, no timer runs.
    this.sweepTimer ??= this.startSweep();
    // Whole milliseconds: with performance.now()'s fractions, (now + 60000) - now can be 60000.0000001,
    // and a fresh window would say 61 s.
    const now = Math.floor(this.now());
    let windows = this.throttlers.get(throttlerName);
    if (windows === undefined) {
      windows = new Map();
      this.throttlers.set(throttlerName, windows);
    }
    let window = windows.get(key);
    if (window === undefined) {
      window = { hits: 0, resetAt: now + ttl, blockedUntil: 0 };
      windows.set(key, window);
    } else if (window.resetAt <= now) {
      window.hits = 0;
      window.resetAt = now + ttl;
      moveToEnd(windows, key, window);
    }
    window.hits += 1;

    let isBlocked = window.blockedUntil > now;
    if (!isBlocked && window.hits > limit) {
      if (blockDuration > 0) {
        window.blockedUntil = now + blockDuration;
        if (window.blockedUntil > window.resetAt) moveToEnd(windows, key, window);
      }
      // Without a block of its own, the client is refused until its window ends.
      isBlocked = true;
    }
    const blockEnds = window.blockedUntil > now ? window.blockedUntil : window.resetAt;
    return {
      totalHits: window.hits,
      timeToExpire: Math.ceil((window.resetAt - now) / 1000),
      isBlocked,
      timeToBlockExpire: isBlocked ? Math.ceil((blockEnds - now) / 1000) : 0,
    };
  }

  /** Forgets the clients whose window and block have ended, oldest first, up to the first still alive. */
  sweep(): void {
    const now = this.now();
    for (const windows of this.throttlers.values()) {
      for (const [key, window] of windows) {
        if (window.resetAt > now || window.blockedUntil > now) break;
        windows.delete(key);
      }
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.throttlers.clear();
  }

  private startSweep(): NodeJS.Timeout {
    // unref: the sweep alone must not keep the process (or a test) alive.
    return setInterval(() => this.sweep(), this.sweepIntervalMs).unref();
  }
}

/** Re-inserting a key puts it at the end of the Map's iteration order. */
function moveToEnd(windows: Map<string, ClientWindow>, key: string, window: ClientWindow): void {
  windows.delete(key);
  windows.set(key, window);
}
