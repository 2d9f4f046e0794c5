import type { ConfigType } from '@nestjs/config';
import { Inject, Injectable } from '@nestjs/common';
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { DomainError } from '../common/domain-error.js';
import { appConfig, metricsConfig, tracingConfig } from '../config/config.namespaces.js';
import type { ItemsConditionObserver } from '../items/condition-observer.js';
import type { StoreObserver } from '../items/json-file/store-observer.js';
import type {
  ItemsDatabaseObserver,
  ItemsDatabasePoolStats,
  ItemsDatabaseTarget,
} from '../items/postgres/items-database.js';
import { METRICS } from './metrics.js';
import { SERVICE_NAME } from './tracing.js';

export type StoreOperation = 'find' | 'list' | 'insert' | 'replace' | 'remove' | 'find_idempotency_key';
const OPERATIONS: readonly StoreOperation[] = ['find', 'list', 'insert', 'replace', 'remove', 'find_idempotency_key'];

/**
 * The SQL statement each operation is (`db.operation.name`). A conditional write that changes nothing
 * adds a SELECT to tell a missing item from a stale version; the span is still the write's.
 */
const SQL_OPERATIONS: Record<StoreOperation, string> = {
  find: 'SELECT',
  list: 'SELECT',
  insert: 'INSERT',
  replace: 'UPDATE',
  remove: 'DELETE',
  find_idempotency_key: 'SELECT',
};

/** The table each operation reads or writes (an insert with an Idempotency-Key writes both). */
const SQL_TABLES: Record<StoreOperation, string> = {
  find: 'items',
  list: 'items',
  insert: 'items',
  replace: 'items',
  remove: 'items',
  find_idempotency_key: 'idempotency_keys',
};

/** A SQLSTATE (`57014`, `08P01`): its class is 00–5x, F0, HV, P0 or XX, so Node's `EPIPE` is not one. */
const SQLSTATE = /^(?:[0-5][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}$/;

/**
 * Metrics and spans of the store: one span and one count per operation (whatever implementation is
 * behind the repository port), the JSON-file store's own figures (fsync time, size), and PostgreSQL's
 * (`db.*` span attributes, the pool read at each scrape).
 */
@Injectable()
export class StoreTelemetry implements StoreObserver, ItemsDatabaseObserver, ItemsConditionObserver {
  private readonly tracer?: Tracer;
  private readonly metricsEnabled: boolean;
  private readonly durations: ReadonlyMap<StoreOperation, Histogram.Internal<string>>;
  private readonly outcomes = new Map<string, Counter.Internal>();
  /** Each operation's span attributes: OpenTelemetry's database conventions once a database is opened. */
  private spanAttributes: ReadonlyMap<StoreOperation, Attributes> = new Map(
    OPERATIONS.map((op) => [op, { 'items.store.operation': op }]),
  );
  private spanKind = SpanKind.INTERNAL;
  private pool?: () => ItemsDatabasePoolStats;

  constructor(
    @InjectMetric(METRICS.storeOperations) private readonly operations: Counter<string>,
    @InjectMetric(METRICS.storeDuration) duration: Histogram<string>,
    @InjectMetric(METRICS.storeFsync) private readonly fsyncs: Histogram<string>,
    @InjectMetric(METRICS.storeItems) private readonly items: Gauge<string>,
    @InjectMetric(METRICS.storeJournalBytes) private readonly journalBytes: Gauge<string>,
    @InjectMetric(METRICS.storeNonconforming) private readonly nonconformingItems: Gauge<string>,
    @Inject(appConfig.KEY) app: ConfigType<typeof appConfig>,
    @Inject(metricsConfig.KEY) metrics: ConfigType<typeof metricsConfig>,
    @Inject(tracingConfig.KEY) tracing: ConfigType<typeof tracingConfig>,
  ) {
    if (tracing.enabled) this.tracer = trace.getTracer(SERVICE_NAME, app.version);
    this.metricsEnabled = metrics.enabled;
    this.durations = new Map(OPERATIONS.map((op) => [op, duration.labels({ op })]));
  }

  /** Runs one store operation in a span of its own, counting it by outcome. */
  async measure<T>(op: StoreOperation, run: () => Promise<T>, found?: (result: T) => boolean): Promise<T> {
    if (!this.metricsEnabled && !this.tracer) return run();
    const startedAt = performance.now();
    // A span only inside a sampled request: outside one, it would start a trace of its own.
    const span = trace.getActiveSpan()?.isRecording()
      ? this.tracer?.startSpan(`store ${op}`, { kind: this.spanKind, attributes: this.spanAttributes.get(op) })
      : undefined;
    try {
      const result = span ? await context.with(trace.setSpan(context.active(), span), run) : await run();
      this.record(op, found && !found(result) ? 'not_found' : 'ok', startedAt, span);
      return result;
    } catch (err) {
      const outcome = err instanceof DomainError ? err.kind : 'error';
      // A conflict or a stale version is the client's business; an unavailable store is ours.
      if (span && (outcome === 'unavailable' || outcome === 'error')) {
        if (err instanceof Error) span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR });
        if (this.pool) span.setAttributes(databaseErrorAttributes(err));
      }
      this.record(op, outcome, startedAt, span);
      throw err;
    }
  }

  /**
   * A condition the service decided on an item it had read: counted on the operation it answers (a
   * 304's find, a refused replace or remove), beside the store's own outcomes. Only counted: the read
   * it was decided on has its own duration and span, and a refused write took no store time.
   */
  decided(op: StoreOperation, outcome: 'not_modified' | 'precondition_failed'): void {
    if (this.metricsEnabled) this.count(op, outcome);
  }

  /**
   * The PostgreSQL store's pool is open: its operations' spans become database client spans, named as
   * before (`store find`), with the attributes of OpenTelemetry's database conventions. The target
   * holds no credentials; the URL itself is never read here.
   */
  databaseOpened(target: ItemsDatabaseTarget, pool: () => ItemsDatabasePoolStats): void {
    this.pool = pool;
    this.spanKind = SpanKind.CLIENT;
    this.spanAttributes = new Map(
      OPERATIONS.map((op) => [
        op,
        {
          'items.store.operation': op,
          'db.system.name': 'postgresql',
          'db.namespace': target.database,
          'db.collection.name': SQL_TABLES[op],
          'db.operation.name': SQL_OPERATIONS[op],
          'db.query.summary': `${SQL_OPERATIONS[op]} ${SQL_TABLES[op]}`,
          'server.address': target.host,
          'server.port': target.port,
        },
      ]),
    );
  }

  /** The database pool's counters now; undefined with no database (the JSON-file store). */
  poolStats(): ItemsDatabasePoolStats | undefined {
    return this.pool?.();
  }

  /** The trace context to parent the spans of a write's later steps; none when tracing is off. */
  currentTraceParent(): Context | undefined {
    return this.tracer && trace.getActiveSpan()?.isRecording() ? context.active() : undefined;
  }

  /**
   * One group commit's fsync: observed once, and a span under each write that waited for it, so that a
   * slow write's trace shows the disk's share of its time.
   */
  fsynced(startedAt: number, endedAt: number, writes: readonly unknown[], failed: boolean): void {
    if (this.metricsEnabled) this.fsyncs.observe((endedAt - startedAt) / 1000);
    if (!this.tracer) return;
    for (const parent of writes) {
      if (!parent) continue;
      // performance.now() times, as the SDK's own spans use: it maps them onto the wall clock itself.
      const span = this.tracer.startSpan(
        'store fsync',
        { startTime: startedAt, attributes: { 'items.store.batch_size': writes.length } },
        parent as Context,
      );
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: 'fsync failed' });
      span.end(endedAt);
    }
  }

  /** The store's size after a load, a commit or a compaction. */
  sized(items: number, journalBytes: number): void {
    if (!this.metricsEnabled) return;
    this.items.set(items);
    this.journalBytes.set(journalBytes);
  }

  nonconforming(items: number): void {
    if (this.metricsEnabled) this.nonconformingItems.set(items);
  }

  private record(op: StoreOperation, outcome: string, startedAt: number, span: Span | undefined): void {
    if (this.metricsEnabled) {
      this.count(op, outcome);
      this.durations.get(op)!.observe((performance.now() - startedAt) / 1000);
    }
    if (span) {
      span.setAttribute('items.store.outcome', outcome);
      span.end();
    }
  }

  private count(op: StoreOperation, outcome: string): void {
    const key = `${op} ${outcome}`;
    let counter = this.outcomes.get(key);
    if (!counter) {
      counter = this.operations.labels({ op, outcome });
      this.outcomes.set(key, counter);
    }
    counter.inc();
  }
}

/**
 * `error.type` and `db.response.status_code` of a failed database operation, from the driver's error
 * the store keeps as the cause: PostgreSQL's SQLSTATE (`57014`: the statement timed out), or Node's
 * code for a connection that failed (`ECONNREFUSED`).
 */
function databaseErrorAttributes(err: unknown): Attributes {
  const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
  const code = (cause as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && SQLSTATE.test(code)) return { 'error.type': code, 'db.response.status_code': code };
  if (typeof code === 'string' && code !== '') return { 'error.type': code };
  return { 'error.type': cause instanceof Error ? cause.name : '_OTHER' };
}
