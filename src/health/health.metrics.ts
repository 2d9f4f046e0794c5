import { ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService } from '@nestjs/terminus';
import { makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import { METRICS } from '../observability/metrics.js';
import { HealthChecks } from './health-checks.js';
import type { Probe } from './health.errors.js';

const PROBES: readonly Probe[] = ['liveness', 'readiness', 'startup'];

/**
 * Each probe's verdict, evaluated when scraped: what the alert on readiness reads (docs/runbooks).
 * Evaluated rather than remembered from the last probe, because nothing probes /readyz under docker
 * compose or a plain `node dist/main.js`, and a value kept from minutes ago would say "ready" forever.
 */
export const healthMetricProviders = [
  makeGaugeProvider({
    name: METRICS.healthProbeStatus,
    help: 'Whether each health probe (liveness, readiness, startup) would pass when scraped: 1 it passes, 0 it fails.',
    labelNames: ['probe'],
    inject: [HealthCheckService, HealthChecks],
    async collect(this: Gauge<string>, health: HealthCheckService, checks: HealthChecks) {
      for (const probe of PROBES) {
        try {
          await health.check(checks.of(probe, { observe: true }));
          this.set({ probe }, 1);
        } catch (err) {
          if (!(err instanceof ServiceUnavailableException)) throw err;
          this.set({ probe }, 0);
        }
      }
    },
  }),
];
