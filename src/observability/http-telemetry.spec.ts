import assert from '../../test/support/assert.js';
import { Writable } from 'node:stream';
import { afterAll, describe, it } from '@jest/globals';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import Fastify from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import { pino } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { loadConfig } from '../config/app-config.js';
import { HttpTelemetry } from './http-telemetry.js';
import { requestIdFor } from './request-id.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

const lines: Record<string, unknown>[] = [];
// nestjs-pino sets its root logger when the app starts; here, one that writes to memory.
(PinoLogger as unknown as { root: unknown }).root = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  }),
);

async function appWithTelemetry() {
  const registry = new Registry();
  const requests = new Counter({
    name: 'requests',
    help: 'h',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'duration',
    help: 'h',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry],
  });
  const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
  const telemetry = new HttpTelemetry(requests, duration, config.app, config.metrics, config.tracing);
  const fastify = Fastify({ logger: false, genReqId: requestIdFor });
  telemetry.register(fastify);
  fastify.get('/items/:id', () => ({ ok: true }));
  fastify.get('/boom', (_request, reply) => reply.code(500).send({ failed: true }));
  await fastify.ready();
  return { fastify, requests };
}

describe('HttpTelemetry', () => {
  afterAll(() => provider.shutdown());

  it('when requests are answered, then each is counted by template, logged once and spanned; a 500 marks its span as an error', async () => {
    const { fastify, requests } = await appWithTelemetry();
    const ok = await fastify.inject({ method: 'GET', url: '/items/abc', headers: { 'x-request-id': 'req-1' } });
    const failed = await fastify.inject({ method: 'GET', url: '/boom' });
    const unknown = await fastify.inject({ method: 'PROPFIND', url: '/somewhere/else' });
    assert.deepEqual([ok.statusCode, failed.statusCode, unknown.statusCode], [200, 500, 404]);
    assert.equal(ok.headers['x-request-id'], 'req-1');

    const counted = (await requests.get()).values.map(
      (v) => `${v.labels.method} ${v.labels.route} ${v.labels.status_code} ${v.value}`,
    );
    assert.deepEqual(counted.sort(), ['GET /boom 500 1', 'GET /items/{id} 200 1', '_OTHER unmatched 404 1']);

    const spans = exporter.getFinishedSpans();
    assert.deepEqual(spans.map((span) => span.name).sort(), ['GET /boom', 'GET /items/{id}', '_OTHER']);
    for (const span of spans) assert.equal(span.kind, SpanKind.SERVER);
    assert.equal(spans.find((span) => span.name === 'GET /boom')!.status.code, SpanStatusCode.ERROR);
    assert.equal(spans.find((span) => span.name === 'GET /items/{id}')!.status.code, SpanStatusCode.UNSET);

    const line = lines.find((entry) => entry.request_id === 'req-1')!;
    const span = spans.find((candidate) => candidate.name === 'GET /items/{id}')!;
    assert.equal(line.trace_id, span.spanContext().traceId);
    assert.equal(line.span_id, span.spanContext().spanId);
    assert.equal(lines.find((entry) => entry.route === '/boom')?.level, 50, 'a 5xx line is at error');
    await fastify.close();
  });
});
