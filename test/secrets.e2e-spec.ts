import assert from './support/assert.js';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { rawRequest } from './support/http.js';
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver.js';
import { runServerToExit, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitFor } from './support/timing.js';

/** A value that appears nowhere unless the service leaks it. */
const canary = (name: string) => `canary${name}${randomBytes(12).toString('hex')}`;

/** Every place a secret could leak to: the process's two streams, each response, the metrics, the spans. */
interface Exposure {
  where: string;
  text: string;
}

function assertNoCanary(exposures: readonly Exposure[], canaries: readonly string[]): void {
  for (const { where, text } of exposures)
    for (const value of canaries) assert.ok(!text.includes(value), `${where} contains the secret ${value}`);
}

describe('Secrets (canary values through every endpoint, error path and a shutdown)', () => {
  const temp = makeTempDir();
  let receiver: OtlpReceiver;
  beforeAll(async () => (receiver = await startOtlpReceiver()));
  afterAll(async () => {
    await receiver.close();
    temp.remove();
  });

  it('when the service runs with canary API keys (from a file) and exporter headers, then no canary appears in stdout, stderr, a response, /metrics or a span', async () => {
    const keys = [canary('KeyOne'), canary('KeyTwo')] as const;
    const adminKey = canary('Admin');
    const otlpToken = canary('Otlp');
    // Not configured anywhere: a client's own wrong key, which must not be echoed or logged either.
    const presented = canary('Presented');
    const keysFile = path.join(temp.dir, 'api-keys');
    writeFileSync(keysFile, `${keys.join(',')}\n`);
    const canaries = [...keys, adminKey, otlpToken, presented];
    const server = await startServer({
      DB_PATH: temp.dbPath,
      API_KEYS_FILE: keysFile,
      AUTH_READS: 'true',
      ADMIN_API_KEYS: adminKey,
      SHUTDOWN_DRAIN_DELAY: '1s',
      // trace: every line the service can write is written.
      LOG_LEVEL: 'trace',
      HTTP_HEADERS_TIMEOUT: '500ms',
      BODY_LIMIT: '1kb',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${otlpToken}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    const exposures: Exposure[] = [];
    const [host, port] = server.url.slice('http://'.length).split(':') as [string, string];
    const send = async (what: string, head: string, body = '') => {
      const response = await rawRequest(
        server.url,
        `${head}\r\nHost: ${host}:${port}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        10_000,
        { halfClose: false },
      ).catch((err: unknown) => {
        throw new Error(`${what}: ${String(err)}`);
      });
      exposures.push({
        where: `${what}: ${response.status} response`,
        text: `${JSON.stringify(response.headers)}\n${response.body}`,
      });
      return response;
    };
    const json = 'Content-Type: application/json';
    const right = `Authorization: Bearer ${keys[1]}`;
    const admin = `Authorization: Bearer ${adminKey}`;

    try {
      const created = await send('create', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, '{"name":"canary test"}');
      assert.equal(created.status, 201);
      const { id } = JSON.parse(created.body) as { id: string };
      const etag = created.headers.etag!;
      const statuses = [
        (await send('get', `GET /items/${id} HTTP/1.1\r\n${right}`)).status,
        (await send('list', `GET /items?limit=5 HTTP/1.1\r\n${right}`)).status,
        (
          await send(
            'update',
            `PATCH /items/${id} HTTP/1.1\r\n${right}\r\n${json}\r\nIf-Match: ${etag}`,
            '{"name":"x"}',
          )
        ).status,
        (
          await send(
            'stale update',
            `PATCH /items/${id} HTTP/1.1\r\n${right}\r\n${json}\r\nIf-Match: ${etag}`,
            '{"name":"y"}',
          )
        ).status,
        (await send('no key', `GET /items/${id} HTTP/1.1`)).status,
        (await send('wrong key', `GET /items/${id} HTTP/1.1\r\nAuthorization: Bearer ${presented}`)).status,
        (await send('basic auth', `GET /items HTTP/1.1\r\nAuthorization: Basic ${presented}`)).status,
        (await send('invalid body', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, '{"name":""}')).status,
        (await send('malformed JSON', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, `{"name":"${presented}`)).status,
        (await send('not JSON', `POST /items HTTP/1.1\r\n${right}\r\nContent-Type: text/plain`, 'x')).status,
        (await send('too large', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, `{"name":"${'x'.repeat(2048)}"}`))
          .status,
        (await send('missing', `GET /items/missing HTTP/1.1\r\n${right}`)).status,
        (await send('duplicate', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, `{"id":"${id}","name":"d"}`)).status,
        (await send('unknown route', `GET /no/such/route HTTP/1.1`)).status,
        (await send('bad URL', `GET /items/%zz HTTP/1.1`)).status,
        (await send('long id', `GET /items/${'x'.repeat(101)} HTTP/1.1`)).status,
        (await send('bad cursor', `GET /items?cursor=zzz HTTP/1.1\r\n${right}`)).status,
        (await send('admin get', `GET /admin/log-level HTTP/1.1\r\n${admin}`)).status,
        (await send('admin put', `PUT /admin/log-level HTTP/1.1\r\n${admin}\r\n${json}`, '{"level":"trace"}')).status,
        (await send('admin with API key', `GET /admin/log-level HTTP/1.1\r\n${right}`)).status,
        (await send('admin wrong key', `GET /admin/log-level HTTP/1.1\r\nAuthorization: Bearer ${presented}`)).status,
        (await send('liveness', 'GET /healthz HTTP/1.1')).status,
        (await send('readiness', 'GET /readyz HTTP/1.1')).status,
        (await send('startup', 'GET /startupz HTTP/1.1')).status,
        (await send('metrics', 'GET /metrics HTTP/1.1')).status,
        (await send('delete', `DELETE /items/${id} HTTP/1.1\r\n${right}`)).status,
      ];
      assert.deepEqual(
        statuses,
        [
          200, 200, 200, 412, 401, 401, 401, 400, 400, 415, 413, 404, 409, 404, 400, 414, 400, 200, 200, 401, 401, 200,
          200, 200, 200, 204,
        ],
      );
      const malformed = await rawRequest(server.url, 'GARBAGE\r\n\r\n');
      exposures.push({ where: 'malformed request', text: `${JSON.stringify(malformed.headers)}\n${malformed.body}` });
      assert.equal(malformed.status, 400);
      // Headers that never end: answered 408 once HTTP_HEADERS_TIMEOUT has passed.
      const slow = await rawRequest(
        server.url,
        `GET /items HTTP/1.1\r\nAuthorization: Bearer ${presented}\r\n`,
        10_000,
        {
          halfClose: false,
        },
      );
      exposures.push({ where: 'slow request', text: `${JSON.stringify(slow.headers)}\n${slow.body}` });
      assert.equal(slow.status, 408);
      // A client that goes away with its request half sent.
      const aborted = net.connect(Number(port), host);
      await once(aborted, 'connect');
      aborted.write(`POST /items HTTP/1.1\r\nHost: x\r\n${right}\r\n${json}\r\nContent-Length: 99\r\n\r\n{"na`);
      aborted.destroy();
    } finally {
      const exited = server.stop('SIGTERM');
      // The drain: readiness is a 503 problem from now on.
      await waitFor(() => /"msg":"shutting down"/.test(server.stdout()), 'the shutdown to begin');
      assert.equal((await send('readiness while draining', 'GET /readyz HTTP/1.1')).status, 503);
      assert.equal(await exited, 0);
    }
    assert.match(server.stdout(), /"msg":"shutdown complete"/);
    assert.ok(receiver.spans.length > 0, 'spans were exported (with the canary header)');
    exposures.push(
      { where: 'stdout', text: server.stdout() },
      { where: 'stderr', text: server.stderr() },
      { where: 'spans', text: JSON.stringify(receiver.spans, (_key, value: unknown) => String(value)) },
    );
    const metrics = exposures.find((exposure) => exposure.where.startsWith('metrics'))!;
    assert.match(metrics.text, /http_requests_total/);
    assertNoCanary(exposures, canaries);
  });

  it('when the tracing backend refuses the exporter’s token, then the failure is logged and the token is not', async () => {
    const token = canary('Refused');
    const refusing = await startOtlpReceiver({ refuseWith: 401 });
    try {
      const server = await startServer({
        DB_PATH: temp.dbPath,
        OTEL_EXPORTER_OTLP_ENDPOINT: refusing.endpoint,
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${token}`,
        OTEL_BSP_SCHEDULE_DELAY: '50',
      });
      assert.equal((await fetch(`${server.url}/items/missing`)).status, 404);
      await waitFor(() => refusing.contentTypes.length > 0, 'an export attempt');
      await waitFor(() => /"msg":"opentelemetry"/.test(server.stdout()), 'the export failure in the log');
      assert.equal(await server.stop('SIGTERM'), 0);
      assertNoCanary(
        [
          { where: 'stdout', text: server.stdout() },
          { where: 'stderr', text: server.stderr() },
        ],
        [token],
      );
    } finally {
      await refusing.close();
    }
  });

  it('when a secret is itself invalid, or set twice, then start-up stops naming the variable and never quoting the value', async () => {
    const key = canary('Bad');
    const runs = [
      await runServerToExit({ DB_PATH: temp.dbPath, API_KEYS: `${key}!,short` }),
      await runServerToExit({ DB_PATH: temp.dbPath, API_KEYS: key, API_KEYS_FILE: '/nonexistent' }),
      await runServerToExit({ DB_PATH: temp.dbPath, APP_ENV: 'prod', API_KEYS: `${key} ${key}` }),
      await runServerToExit({
        DB_PATH: temp.dbPath,
        OTEL_EXPORTER_OTLP_ENDPOINT: `not a url ${key}`,
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=${key}`,
        OTEL_TRACES_SAMPLER: key,
      }),
    ];
    for (const run of runs) {
      assert.equal(run.code, 78, run.stderr);
      assert.match(run.stderr, /API_KEYS|OTEL_/);
    }
    assertNoCanary(
      runs.flatMap((run, index) => [
        { where: `run ${index} stdout`, text: run.stdout },
        { where: `run ${index} stderr`, text: run.stderr },
      ]),
      [key],
    );
  });
});
