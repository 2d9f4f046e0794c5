import assert from './support/assert.js';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { jsonRequest } from './support/http.js';
import { logLines } from './support/logs.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './support/otlp-receiver.js';
import { type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitFor } from './support/timing.js';

const SERVER_KIND = 2;
const INTERNAL_KIND = 1;
const ERROR_STATUS = 2;

function traceparent(traceId: string, parentId: string, sampled: boolean): string {
  return `00-${traceId}-${parentId}-${sampled ? '01' : '00'}`;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

describe('Tracing (built server, real OTLP/HTTP exporter, receiver on 127.0.0.1)', () => {
  describe('when an endpoint is configured (http/protobuf, parent-based ratio 1)', () => {
    const temp = makeTempDir();
    let receiver: OtlpReceiver;
    let server: ServerProcess;
    beforeAll(async () => {
      receiver = await startOtlpReceiver();
      server = await startServer({
        DB_PATH: temp.dbPath,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_SERVICE_NAME: 'items-e2e',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '1',
        OTEL_BSP_SCHEDULE_DELAY: '50',
      });
    });
    afterAll(async () => {
      await server.stop();
      await receiver.close();
      temp.remove();
    });

    const spansOf = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);

    it('then a request with a traceparent gives a server span named by route template, in the caller’s trace, with the store’s spans (fsync included) as its children', async () => {
      const traceId = hex(16);
      const callerSpanId = hex(8);
      const created = await jsonRequest(
        `${server.url}/items`,
        'POST',
        { name: 'traced' },
        { traceparent: traceparent(traceId, callerSpanId, true) },
      );
      assert.equal(created.status, 201);
      await waitFor(() => spansOf(traceId).length >= 3, 'the POST’s three spans', 10_000);

      const spans = spansOf(traceId);
      const serverSpan = spans.find((span) => span.kind === SERVER_KIND)!;
      assert.equal(serverSpan.name, 'POST /items');
      assert.equal(serverSpan.parentSpanId, callerSpanId);
      assert.equal(serverSpan.attributes['http.route'], '/items');
      assert.equal(serverSpan.attributes['http.response.status_code'], 201);
      assert.equal(serverSpan.resource['service.name'], 'items-e2e');
      assert.equal(serverSpan.resource['service.version'], '0.1.0');

      const insert = spans.find((span) => span.name === 'store insert')!;
      assert.ok(insert, `no store span among ${spans.map((span) => span.name).join(', ')}`);
      assert.equal(insert.parentSpanId, serverSpan.spanId);
      assert.equal(insert.kind, INTERNAL_KIND);
      assert.equal(insert.attributes['items.store.outcome'], 'ok');

      const fsync = spans.find((span) => span.name === 'store fsync')!;
      assert.ok(fsync, 'no fsync span');
      assert.equal(fsync.parentSpanId, insert.spanId);
      assert.ok(fsync.endTimeUnixNano > fsync.startTimeUnixNano, 'the fsync span has no duration');
      // Within its operation's span; the SDK rounds the clocks it reads, hence 1 ms of slack.
      const slack = 1_000_000n;
      assert.ok(fsync.startTimeUnixNano + slack >= insert.startTimeUnixNano, 'the fsync starts before its write');
      assert.ok(fsync.endTimeUnixNano <= insert.endTimeUnixNano + slack, 'the fsync ends after its write');

      // The request's log line carries the same trace and the server span's id (pino writes it asynchronously).
      const requestId = created.headers.get('x-request-id');
      await waitFor(() => logLines(server.stdout()).some((entry) => entry.request_id === requestId), 'the log line');
      const line = logLines(server.stdout()).find((entry) => entry.request_id === requestId);
      assert.ok(line, 'no log line for the request');
      assert.equal(line.trace_id, traceId);
      assert.equal(line.span_id, serverSpan.spanId);
      assert.equal(line.route, '/items');
    });

    it('then a GET by id is named by its template, never by the id, and a problem body carries the trace id', async () => {
      const traceId = hex(16);
      const id = `no-such-item-${hex(4)}`;
      const missing = await jsonRequest(`${server.url}/items/${id}`, 'GET', undefined, {
        traceparent: traceparent(traceId, hex(8), true),
      });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.trace_id, traceId);
      await waitFor(() => spansOf(traceId).some((span) => span.kind === SERVER_KIND), 'the GET’s server span');
      const [serverSpan] = spansOf(traceId).filter((span) => span.kind === SERVER_KIND);
      assert.equal(serverSpan!.name, 'GET /items/{id}');
      assert.equal(serverSpan!.statusCode, 0, 'a 404 is the client’s error, not the span’s');
      const exported = JSON.stringify(spansOf(traceId), (_key, value: unknown) =>
        typeof value === 'bigint' ? String(value) : value,
      );
      assert.ok(!exported.includes(id), 'the id leaked into a span');
      const find = spansOf(traceId).find((span) => span.name === 'store find');
      assert.equal(find?.attributes['items.store.outcome'], 'not_found');
    });

    it('then a request without a traceparent starts a trace of its own, and an unknown path one span named by the method only', async () => {
      const response = await jsonRequest(`${server.url}/no/such/${hex(4)}`, 'GET');
      assert.equal(response.status, 404);
      const traceId = response.body.trace_id as string;
      assert.match(traceId, /^[0-9a-f]{32}$/);
      await waitFor(() => spansOf(traceId).length > 0, 'the unmatched request’s span');
      const [span] = spansOf(traceId) as [ReceivedSpan];
      assert.equal(span.name, 'GET');
      assert.equal(span.parentSpanId, '');
      assert.equal(span.attributes['http.route'], 'unmatched');
    });

    it('then a store that refuses a write marks its span as an error only when the fault is the server’s', async () => {
      const traceId = hex(16);
      const id = `dup-${hex(4)}`;
      await jsonRequest(`${server.url}/items`, 'POST', { id, name: 'first' });
      const duplicate = await jsonRequest(
        `${server.url}/items`,
        'POST',
        { id, name: 'second' },
        { traceparent: traceparent(traceId, hex(8), true) },
      );
      assert.equal(duplicate.status, 409);
      await waitFor(() => spansOf(traceId).some((span) => span.name === 'store insert'), 'the conflicting insert span');
      const insert = spansOf(traceId).find((span) => span.name === 'store insert')!;
      assert.equal(insert.attributes['items.store.outcome'], 'conflict');
      assert.notEqual(insert.statusCode, ERROR_STATUS);
    });
  });

  describe('when sampling keeps no new trace and the buffer is only exported at shutdown', () => {
    const temp = makeTempDir();
    let receiver: OtlpReceiver;
    beforeAll(async () => (receiver = await startOtlpReceiver()));
    afterAll(async () => {
      await receiver.close();
      temp.remove();
    });

    it('then unsampled requests export nothing yet keep their trace id in logs, sampled callers are followed, and SIGTERM flushes the exporter before exit (http/json)', async () => {
      const server = await startServer({
        DB_PATH: temp.dbPath,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0',
        // Nothing is exported on the timer during the test: only the shutdown's flush can deliver.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      });
      const unsampled = await jsonRequest(`${server.url}/items`, 'POST', { name: 'not sampled' });
      assert.equal(unsampled.status, 201);
      const sampledTrace = hex(16);
      const sampled = await jsonRequest(
        `${server.url}/items`,
        'POST',
        { name: 'sampled by the caller' },
        {
          traceparent: traceparent(sampledTrace, hex(8), true),
        },
      );
      assert.equal(sampled.status, 201);
      assert.equal(receiver.spans.length, 0, 'exported before the shutdown');

      assert.equal(await server.stop('SIGTERM'), 0);
      // The exporter's request has completed before the process exited.
      const traces = new Set(receiver.spans.map((span) => span.traceId));
      assert.deepEqual([...traces], [sampledTrace]);
      assert.deepEqual(receiver.contentTypes, ['application/json']);
      assert.deepEqual(receiver.spans.map((span) => span.name).sort(), ['POST /items', 'store fsync', 'store insert']);
      const unsampledLine = logLines(server.stdout()).find(
        (line) => line.request_id === unsampled.headers.get('x-request-id'),
      );
      assert.match(String(unsampledLine?.trace_id), /^[0-9a-f]{32}$/);
    });
  });

  describe('when the tracing variables come from a .env file', () => {
    const temp = makeTempDir();
    let receiver: OtlpReceiver;
    beforeAll(async () => (receiver = await startOtlpReceiver()));
    afterAll(async () => {
      await receiver.close();
      temp.remove();
    });

    it('then the SDK uses them: spans reach that endpoint under that service name', async () => {
      writeFileSync(
        path.join(temp.dir, '.env'),
        [
          `OTEL_EXPORTER_OTLP_ENDPOINT=${receiver.endpoint}`,
          'OTEL_SERVICE_NAME=items-from-dotenv',
          'OTEL_TRACES_SAMPLER=always_on',
          'OTEL_BSP_SCHEDULE_DELAY=50',
          '',
        ].join('\n'),
      );
      const server = await startServer({ DB_PATH: temp.dbPath }, 15_000, { cwd: temp.dir });
      try {
        assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { name: 'traced' })).status, 201);
      } finally {
        assert.equal(await server.stop('SIGTERM'), 0);
      }
      const span = receiver.spans.find((candidate) => candidate.name === 'POST /items');
      assert.ok(span, `spans received: ${receiver.spans.map((candidate) => candidate.name).join(', ')}`);
      assert.equal(span.resource['service.name'], 'items-from-dotenv');
    });
  });

  describe('when no endpoint is configured', () => {
    const temp = makeTempDir();
    afterAll(() => temp.remove());

    it('then tracing is off: no trace id anywhere, and requests are served as usual', async () => {
      const server = await startServer({ DB_PATH: temp.dbPath, LOG_LEVEL: 'info' });
      try {
        const response = await jsonRequest(`${server.url}/items/missing`, 'GET', undefined, {
          traceparent: traceparent(hex(16), hex(8), true),
        });
        assert.equal(response.status, 404);
        assert.equal(response.body.trace_id, undefined);
      } finally {
        assert.equal(await server.stop(), 0);
      }
      const line = logLines(server.stdout()).find((entry) => entry.msg === 'request completed');
      assert.ok(line);
      assert.equal(line.trace_id, undefined);
    });
  });
});
