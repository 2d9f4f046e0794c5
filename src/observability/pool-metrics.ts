import { makeGaugeProvider } from '@willsoto/nestjs-prometheus';
import type { Gauge } from 'prom-client';
import { METRICS } from './metrics.js';
import { StoreTelemetry } from './store-telemetry.js';

/**
 * The PostgreSQL store's pool, read from pg.Pool when scraped (OpenTelemetry's `db.client.connection.*`
 * metrics, in Prometheus' naming). Registered with that store only: the JSON-file store has no pool,
 * and a family of zeros would say it had one, empty.
 */
export const poolMetricProviders = [
  makeGaugeProvider({
    name: METRICS.poolConnections,
    help: 'Connections the PostgreSQL pool holds open, by state: used (running a query) or idle.',
    labelNames: ['state'],
    inject: [StoreTelemetry],
    collect(this: Gauge<string>, telemetry: StoreTelemetry) {
      const pool = telemetry.poolStats();
      if (!pool) return;
      this.set({ state: 'idle' }, pool.idle);
      this.set({ state: 'used' }, pool.total - pool.idle);
    },
  }),
  makeGaugeProvider({
    name: METRICS.poolMax,
    help: 'Connections the PostgreSQL pool may open (DATABASE_POOL_MAX).',
    inject: [StoreTelemetry],
    collect(this: Gauge<string>, telemetry: StoreTelemetry) {
      const pool = telemetry.poolStats();
      if (pool) this.set(pool.max);
    },
  }),
  makeGaugeProvider({
    name: METRICS.poolPending,
    help: 'Queries waiting for a connection of the PostgreSQL pool: every connection is in use and the pool is full.',
    inject: [StoreTelemetry],
    collect(this: Gauge<string>, telemetry: StoreTelemetry) {
      const pool = telemetry.poolStats();
      if (pool) this.set(pool.waiting);
    },
  }),
];
