import type { ConfigType } from '@nestjs/config';
import { Inject, Injectable } from '@nestjs/common';
import { type Context, context, type Span, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { DomainError } from '../common/domain-error.js';
import { appConfig, metricsConfig, tracingConfig } from '../config/config.namespaces.js';
import type { StoreObserver } from '../items/json-file/store-observer.js';
import { METRICS } from './metrics.js';
import { SERVICE_NAME } from './tracing.js';

export type StoreOperation = 'find' | 'list' | 'insert' | 'replace' | 'remove';
const OPERATIONS: readonly StoreOperation[] = ['find', 'list', 'insert', 'replace', 'remove'];

/**
 * Metrics and spans of the store: one span and one count per operation (whatever implementation is
 * behind the repository port), and the JSON-file store's own figures (fsync time, size).
 */
@Injectable()
export class StoreTelemetry implements StoreObserver {
  private readonly tracer?: Tracer;
  private readonly metricsEnabled: boolean;
  private readonly durations: ReadonlyMap<StoreOperation, Histogram.Internal<string>>;
  private readonly outcomes = new Map<string, Counter.Internal>();

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
      ? this.tracer?.startSpan(`store ${op}`, { attributes: { 'items.store.operation': op } })
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
      }
      this.record(op, outcome, startedAt, span);
      throw err;
    }
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
      const key = `${op} ${outcome}`;
      let counter = this.outcomes.get(key);
      if (!counter) {
        counter = this.operations.labels({ op, outcome });
        this.outcomes.set(key, counter);
      }
      counter.inc();
      this.durations.get(op)!.observe((performance.now() - startedAt) / 1000);
    }
    if (span) {
      span.setAttribute('items.store.outcome', outcome);
      span.end();
    }
  }
}
