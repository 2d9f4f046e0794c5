import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Lifecycle } from '../lifecycle/lifecycle.js';

/** The checks that read the process's own phase: in memory, so they need no timeout. */
@Injectable()
export class LifecycleHealth {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly lifecycle: Lifecycle,
  ) {}

  /** Startup: loading the store and replaying its journal has finished. */
  startup() {
    const check = this.indicators.check('startup');
    return this.lifecycle.phase === 'starting' ? check.down('the store is still loading') : check.up();
  }

  /** Readiness: fails from the first moment of a shutdown, so that traffic moves elsewhere. */
  shutdown() {
    const check = this.indicators.check('shutdown');
    return this.lifecycle.isShuttingDown ? check.down('the service is shutting down') : check.up();
  }
}
