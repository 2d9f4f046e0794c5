import type { HealthCheckResult } from '@nestjs/terminus';
import { DomainError } from '../common/domain-error.js';

export type Probe = 'liveness' | 'readiness' | 'startup';

const CODES: Record<Probe, string> = { liveness: 'NOT_LIVE', readiness: 'NOT_READY', startup: 'NOT_STARTED' };

/** A probe failed: a 503 whose detail names each failing check and why, with every check's result. */
export class HealthCheckFailedError extends DomainError {
  readonly kind = 'unavailable';
  readonly code: string;
  override readonly checks: HealthCheckResult['details'];

  constructor(probe: Probe, result: HealthCheckResult) {
    const failing = Object.entries(result.error ?? {}).map(([name, check]) => {
      const message = (check as { message?: unknown }).message;
      return typeof message === 'string' ? `${name} (${message})` : name;
    });
    super(`Failing ${probe} checks: ${failing.join(', ')}.`);
    this.code = CODES[probe];
    this.checks = result.details;
  }
}
