import type { ConfigType } from '@nestjs/config';
import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import { collectDefaultMetrics, type Gauge, register } from 'prom-client';
import { appConfig } from '../config/config.namespaces.js';
import { InFlightRequests } from '../lifecycle/in-flight-requests.js';

/** Metric names (docs/observability.md): Prometheus base units, `_total` and `_seconds` suffixes. */
export const METRICS = {
  httpRequests: 'http_requests_total',
  httpDuration: 'http_request_duration_seconds',
  httpInFlight: 'http_requests_in_flight',
  storeOperations: 'items_store_operations_total',
  storeDuration: 'items_store_operation_duration_seconds',
  storeFsync: 'items_store_fsync_duration_seconds',
  storeItems: 'items_store_items',
  storeJournalBytes: 'items_store_journal_bytes',
  storeNonconforming: 'items_store_nonconforming_items',
  poolConnections: 'items_store_pool_connections',
  poolMax: 'items_store_pool_max_connections',
  poolPending: 'items_store_pool_pending_requests',
  buildInfo: 'items_service_build_info',
  healthProbeStatus: 'items_health_probe_status',
} as const;

/** Request latency from 1 ms to 10 s: an in-memory read is ~1 ms, a durable write a few ms. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Store operations and fsyncs are faster: from 100 µs (a read) to 2.5 s (a disk in trouble). */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The metrics we define, as providers of `@willsoto/nestjs-prometheus` (in prom-client's default
 * registry, which `/metrics` serves). Every label has a bounded set of values: see HttpTelemetry
 * for how method and route are bounded.
 */
export const metricProviders = [
  makeCounterProvider({
    name: METRICS.httpRequests,
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'],
  }),
  makeHistogramProvider({
    name: METRICS.httpDuration,
    help: 'Time from receiving an HTTP request to finishing its response, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: HTTP_BUCKETS,
  }),
  makeGaugeProvider({
    name: METRICS.httpInFlight,
    help: 'HTTP requests received and not yet answered.',
    // Read when scraped rather than counted in hooks: a request whose client goes away before the
    // response never reaches Fastify's onResponse hook, and would stay counted forever.
    inject: [InFlightRequests],
    collect(this: Gauge<string>, inFlight: InFlightRequests) {
      this.set(inFlight.count);
    },
  }),
  makeCounterProvider({
    name: METRICS.storeOperations,
    help: 'Store operations, by operation and outcome (ok, not_found, conflict, precondition_failed, not_modified, unavailable, error); precondition_failed also counts writes refused on the item read before them, not_modified the finds answered 304.',
    labelNames: ['op', 'outcome'],
  }),
  makeHistogramProvider({
    name: METRICS.storeDuration,
    help: 'Time a store operation took, writes including their wait for the shared fsync.',
    labelNames: ['op'],
    buckets: STORE_BUCKETS,
  }),
  makeHistogramProvider({
    name: METRICS.storeFsync,
    help: 'Time the fsync of one group commit took (failed ones included).',
    buckets: STORE_BUCKETS,
  }),
  makeGaugeProvider({ name: METRICS.storeItems, help: 'Items in the store.' }),
  makeGaugeProvider({
    name: METRICS.storeJournalBytes,
    help: 'Size of the store journal; compaction folds it into the snapshot.',
  }),
  makeGaugeProvider({
    name: METRICS.storeNonconforming,
    help: 'Stored items that break the current validation rules (a rule tightened since they were written): served as stored, named in a warning at start-up.',
  }),
  makeGaugeProvider({
    name: METRICS.buildInfo,
    help: 'Always 1; the labels say which build is running.',
    labelNames: ['version', 'commit', 'node_version'],
    inject: [appConfig.KEY],
    collect(this: Gauge<string>, app: ConfigType<typeof appConfig>) {
      this.set({ version: app.version, commit: app.commit, node_version: process.version }, 1);
    },
  }),
];

/**
 * prom-client's gauges that break Prometheus' naming rule (`_total` is for counters; `promtool check
 * metrics` reports them). Each is the sum of a labelled gauge that stays: `sum(nodejs_active_handles)`.
 */
const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Node's process metrics (CPU, memory, event loop lag, GC), registered once per process. */
export function ensureDefaultMetrics(): void {
  if (register.getSingleMetric('nodejs_version_info') !== undefined) return;
  collectDefaultMetrics();
  for (const name of MISNAMED_DEFAULT_METRICS) register.removeSingleMetric(name);
}
