import { Injectable } from '@nestjs/common';
import type { HealthIndicatorFunction } from '@nestjs/terminus';
import { EventLoopHealth } from './event-loop.health.js';
import type { Probe } from './health.errors.js';
import { LifecycleHealth } from './lifecycle.health.js';
import { StoreHealth } from './store.health.js';

/** The checks each probe runs: one list, for the probe endpoints and for the metric that reports them. */
@Injectable()
export class HealthChecks {
  constructor(
    private readonly eventLoop: EventLoopHealth,
    private readonly store: StoreHealth,
    private readonly lifecycle: LifecycleHealth,
  ) {}

  /**
   * `observe`: for the metric. The event loop's longest stall is measured per caller: the liveness probe
   * and the scrape each see every stall since their own previous call.
   */
  of(probe: Probe, { observe = false } = {}): HealthIndicatorFunction[] {
    switch (probe) {
      case 'liveness':
        return [() => (observe ? this.eventLoop.observe() : this.eventLoop.check())];
      case 'readiness':
        return [() => this.lifecycle.shutdown(), () => this.store.check()];
      case 'startup':
        return [() => this.lifecycle.startup()];
    }
  }
}
