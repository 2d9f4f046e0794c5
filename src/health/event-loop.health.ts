import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { setImmediate } from 'node:timers/promises';

/** A turn of the event loop slower than this means the process is stuck, not merely busy. */
export const EVENT_LOOP_MAX_DELAY_MS = 1_000;

/**
 * Liveness: the event loop still turns. It checks nothing outside the process: a full disk or a
 * slow dependency must not get the pod restarted, again and again, for a fault a restart cannot fix.
 */
@Injectable()
export class EventLoopHealth {
  constructor(private readonly indicators: HealthIndicatorService) {}

  /** Measures how long the callbacks already queued take to run: the wait a new request would have. */
  check(maxDelayMs = EVENT_LOOP_MAX_DELAY_MS) {
    return (
      this.indicators
        .check('event_loop')
        .attempt(async () => {
          const started = performance.now();
          await setImmediate();
          const delayMs = Math.round(performance.now() - started);
          if (delayMs > maxDelayMs) throw new Error(`a turn of the event loop took ${delayMs} ms`);
          return { delay_ms: delayMs };
        })
        // Only a bound: the measured delay decides, and a timeout firing first would hide it.
        .withTimeout(2 * maxDelayMs)
    );
  }
}
