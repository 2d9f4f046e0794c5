import type { HealthCheckResult } from '@nestjs/terminus';
import { DomainError } from '../common/domain-error.js';
import type { ProblemCode } from '../common/problem-details.schema.js';

export type Probe = 'liveness' | 'readiness' | 'startup';

const CODES: Record<Probe, ProblemCode> = { liveness: 'NOT_LIVE', readiness: 'NOT_READY', startup: 'NOT_STARTED' };

/** A probe failed: a 503 whose detail names each failing check and why, with every check's result. */
export class HealthCheckFailedError extends DomainError {
  readonly kind = 'unavailable';
  readonly code: ProblemCode;
  override readonly checks: HealthCheckResult['details'];

  constructor(probe: Probe, result: HealthCheckResult) {
    const failing = Object.entries(result.error ?? {}).map(([name, check]) => {
      const message = (check as { message?: unknown }).message;
      return typeof message === 'string' ? `${name} (${message})` : name;
    });
    // Terminus reports `shutting_down`, with nothing down, once Nest's shutdown hooks have begun.
    super(
      failing.length > 0
        ? `Failing ${probe} checks: ${failing.join(', ')}.`
        : `The ${probe} probe fails (${result.status}).`,
    );
    this.code = CODES[probe];
    this.checks = result.details;
  }
}
