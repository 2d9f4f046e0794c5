import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';

/** A stall longer than this means the process is stuck, not merely busy. */
export const EVENT_LOOP_MAX_DELAY_MS = 1_000;

/** How often the loop is sampled: a timer that fires late measures how long the loop was stuck. */
const SAMPLE_MS = 50;

/**
 * Liveness: the event loop keeps turning. It checks nothing outside the process: a full disk or a
 * slow dependency must not get the pod restarted, again and again, for a fault a restart cannot fix.
 *
 * The check is answered from inside the loop, so it can only see a stall that has ended: it reports
 * the longest one since the previous check. One stall fails one probe; only a loop that keeps
 * stalling fails the consecutive probes that restart the pod. (Node's monitorEventLoopDelay() was
 * tried first: here, after a 300 ms block, its max was 20 ms.)
 */
@Injectable()
export class EventLoopHealth implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private lastTick = 0;
  private longestStallMs = 0;
  private longestObservedStallMs = 0;

  constructor(private readonly indicators: HealthIndicatorService) {}

  /** From the end of start-up on: loading a large store is the startup probe's business. */
  onApplicationBootstrap(): void {
    this.lastTick = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const stallMs = now - this.lastTick - SAMPLE_MS;
      this.longestStallMs = Math.max(this.longestStallMs, stallMs);
      this.longestObservedStallMs = Math.max(this.longestObservedStallMs, stallMs);
      this.lastTick = now;
    }, SAMPLE_MS).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** The probe's verdict on the longest stall since the previous probe. */
  check(maxDelayMs = EVENT_LOOP_MAX_DELAY_MS) {
    const result = this.verdict(this.longestStallMs, maxDelayMs);
    this.longestStallMs = 0;
    return result;
  }

  /**
   * The same verdict over a period of its own, since the previous call: for the probe metric, read at
   * each scrape. Sharing the probe's period would let a scrape hide a stall from the kubelet, and where
   * nothing probes /healthz (compose), keep one old stall failing forever.
   */
  observe(maxDelayMs = EVENT_LOOP_MAX_DELAY_MS) {
    const result = this.verdict(this.longestObservedStallMs, maxDelayMs);
    this.longestObservedStallMs = 0;
    return result;
  }

  private verdict(stallMs: number, maxDelayMs: number) {
    const check = this.indicators.check('event_loop');
    const longestMs = Math.max(0, Math.round(stallMs));
    if (longestMs > maxDelayMs)
      return check.down({ message: `the event loop stalled for ${longestMs} ms`, max_delay_ms: longestMs });
    return check.up({ max_delay_ms: longestMs });
  }
}
