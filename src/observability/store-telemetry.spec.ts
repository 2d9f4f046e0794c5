import assert from '../../test/support/assert.js';
import { afterAll, beforeEach, describe, it } from '@jest/globals';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { Registry } from 'prom-client';
import { Counter, Gauge, Histogram } from 'prom-client';
import { loadConfig } from '../config/app-config.js';
import { ItemAlreadyExistsError, StoreUnavailableError } from '../items/items.errors.js';
import { StoreTelemetry } from './store-telemetry.js';

// The real SDK with an in-memory exporter: the spans are the ones an OTLP exporter would send.
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
afterAll(() => provider.shutdown());

function telemetry() {
  const registers = [new Registry()];
  const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
  return new StoreTelemetry(
    new Counter({ name: 'ops', help: 'h', labelNames: ['op', 'outcome'], registers }),
    new Histogram({ name: 'duration', help: 'h', labelNames: ['op'], registers }),
    new Histogram({ name: 'fsync', help: 'h', registers }),
    new Gauge({ name: 'items', help: 'h', registers }),
    new Gauge({ name: 'journal', help: 'h', registers }),
    new Gauge({ name: 'nonconforming', help: 'h', registers }),
    config.app,
    config.metrics,
    config.tracing,
  );
}

/** Runs `fn` inside a sampled request's span, as HttpTelemetry's preHandler does. */
function inRequest<T>(fn: () => Promise<T>): { result: Promise<T>; request: ReturnType<typeof startRequest> } {
  const request = startRequest();
  return { result: context.with(trace.setSpan(context.active(), request), fn), request };
}
const startRequest = () => trace.getTracer('test').startSpan('GET /items/{id}');

describe('StoreTelemetry spans', () => {
  beforeEach(() => exporter.reset());

  it('when an operation runs in a sampled request, then its span is the request span’s child, with its outcome', async () => {
    const store = telemetry();
    const { result, request } = inRequest(() => store.measure('find', () => Promise.resolve(undefined), Boolean));
    await result;
    request.end();
    const [span] = exporter.getFinishedSpans().filter((s) => s.name === 'store find');
    assert.ok(span);
    assert.equal(span.parentSpanContext?.spanId, request.spanContext().spanId);
    assert.equal(span.attributes['items.store.outcome'], 'not_found');
    assert.equal(span.status.code, SpanStatusCode.UNSET);
  });

  it('when the store is unavailable, then the span is an error with the exception; a conflict is not', async () => {
    const store = telemetry();
    const failing = inRequest(() => store.measure('insert', () => Promise.reject(new StoreUnavailableError())));
    await assert.rejects(failing.result, StoreUnavailableError);
    const conflicting = inRequest(() => store.measure('insert', () => Promise.reject(new ItemAlreadyExistsError('a'))));
    await assert.rejects(conflicting.result, ItemAlreadyExistsError);
    const [unavailable, conflict] = exporter.getFinishedSpans().filter((s) => s.name === 'store insert');
    assert.equal(unavailable!.status.code, SpanStatusCode.ERROR);
    assert.equal(unavailable!.events[0]?.name, 'exception');
    assert.equal(unavailable!.attributes['items.store.outcome'], 'unavailable');
    assert.equal(conflict!.status.code, SpanStatusCode.UNSET);
    assert.equal(conflict!.attributes['items.store.outcome'], 'conflict');
  });

  it('when no sampled request is active, then no span is made (it would start a trace of its own)', async () => {
    const store = telemetry();
    await store.measure('list', () => Promise.resolve([]));
    assert.equal(store.currentTraceParent(), undefined);
    assert.deepEqual(exporter.getFinishedSpans(), []);
  });

  it('when a group commit is fsynced, then each waiting write gets an fsync span under its own operation', async () => {
    const store = telemetry();
    const parents = [
      inRequest(() => Promise.resolve(store.currentTraceParent())),
      inRequest(() => Promise.resolve(store.currentTraceParent())),
    ];
    const captured = await Promise.all(parents.map((parent) => parent.result));
    const started = performance.now();
    store.fsynced(started, started + 3, captured, false);
    const fsyncs = exporter.getFinishedSpans().filter((s) => s.name === 'store fsync');
    for (const span of fsyncs) assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.deepEqual(
      fsyncs.map((span) => span.parentSpanContext?.spanId).sort(),
      parents.map((parent) => parent.request.spanContext().spanId).sort(),
    );
    for (const span of fsyncs) assert.equal(span.attributes['items.store.batch_size'], 2);
    // performance.now() times are mapped onto the wall clock by the SDK, as for its own spans.
    assert.ok(Math.abs(fsyncs[0]!.startTime[0] - Date.now() / 1000) < 60, 'the fsync span is dated now');
  });

  it('when the fsync fails, then the fsync spans are errors', async () => {
    const store = telemetry();
    const parent = await inRequest(() => Promise.resolve(store.currentTraceParent())).result;
    const started = performance.now();
    store.fsynced(started, started + 1, [parent], true);
    const [fsync] = exporter.getFinishedSpans().filter((s) => s.name === 'store fsync');
    assert.equal(fsync!.status.code, SpanStatusCode.ERROR);
  });
});

describe('StoreTelemetry on a database (the PostgreSQL store opened its pool)', () => {
  beforeEach(() => exporter.reset());

  const target = { database: 'items_prod', host: 'db.internal', port: 6543 };
  const pool = { total: 3, idle: 1, waiting: 0, max: 10 };
  function onDatabase() {
    const store = telemetry();
    store.databaseOpened(target, () => pool);
    return store;
  }
  const spanOf = async (store: StoreTelemetry, op: 'find' | 'list' | 'insert' | 'replace' | 'remove') => {
    const { result, request } = inRequest(() => store.measure(op, () => Promise.resolve(undefined)));
    await result;
    request.end();
    return exporter.getFinishedSpans().find((s) => s.name === `store ${op}`)!;
  };

  it('when an operation runs, then its span is a client span with the database conventions’ attributes, named as on the JSON file', async () => {
    const store = onDatabase();
    const span = await spanOf(store, 'replace');
    assert.equal(span.kind, SpanKind.CLIENT);
    assert.deepEqual(span.attributes, {
      'items.store.operation': 'replace',
      'items.store.outcome': 'ok',
      'db.system.name': 'postgresql',
      'db.namespace': 'items_prod',
      'db.collection.name': 'items',
      'db.operation.name': 'UPDATE',
      'db.query.summary': 'UPDATE items',
      'server.address': 'db.internal',
      'server.port': 6543,
    });
  });

  it('when each operation runs, then db.operation.name is its SQL statement', async () => {
    const store = onDatabase();
    const names: Record<string, unknown> = {};
    for (const op of ['find', 'list', 'insert', 'replace', 'remove'] as const)
      names[op] = (await spanOf(store, op)).attributes['db.operation.name'];
    assert.deepEqual(names, { find: 'SELECT', list: 'SELECT', insert: 'INSERT', replace: 'UPDATE', remove: 'DELETE' });
  });

  it('when the database refuses, then the span carries the SQLSTATE as error.type and db.response.status_code; a lost connection its code', async () => {
    const store = onDatabase();
    const timedOut = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    for (const cause of [timedOut, refused]) {
      const failing = inRequest(() =>
        store.measure('find', () => Promise.reject(Object.assign(new StoreUnavailableError(), { cause }))),
      );
      await assert.rejects(failing.result, StoreUnavailableError);
    }
    const [statement, connection] = exporter.getFinishedSpans().filter((s) => s.name === 'store find');
    assert.equal(statement!.status.code, SpanStatusCode.ERROR);
    assert.equal(statement!.attributes['error.type'], '57014');
    assert.equal(statement!.attributes['db.response.status_code'], '57014');
    assert.equal(connection!.attributes['error.type'], 'ECONNREFUSED');
    assert.equal(connection!.attributes['db.response.status_code'], undefined, 'ECONNREFUSED is not a SQLSTATE');
  });

  it('when the item is missing or stale, then the span is no error and has no error.type', async () => {
    const store = onDatabase();
    const conflicting = inRequest(() => store.measure('insert', () => Promise.reject(new ItemAlreadyExistsError('a'))));
    await assert.rejects(conflicting.result, ItemAlreadyExistsError);
    const [span] = exporter.getFinishedSpans().filter((s) => s.name === 'store insert');
    assert.equal(span!.status.code, SpanStatusCode.UNSET);
    assert.equal(span!.attributes['error.type'], undefined);
  });

  it('when the pool is read, then it gives the pool’s counters of the moment; without a database, nothing', () => {
    assert.equal(telemetry().poolStats(), undefined);
    const store = onDatabase();
    assert.deepEqual(store.poolStats(), pool);
    pool.idle = 3;
    assert.equal(store.poolStats()?.idle, 3);
  });

  it('when no database is opened (the JSON-file store), then the spans stay internal, without db.* attributes', async () => {
    const span = await spanOf(telemetry(), 'insert');
    assert.equal(span.kind, SpanKind.INTERNAL);
    assert.deepEqual(Object.keys(span.attributes).sort(), ['items.store.operation', 'items.store.outcome']);
  });
});
