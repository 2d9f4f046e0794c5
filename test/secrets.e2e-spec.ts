import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawRequest } from './support/http.js';
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver.js';
import { runServerToExit, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

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
  before(async () => (receiver = await startOtlpReceiver()));
  after(async () => {
    await receiver.close();
    temp.remove();
  });

  it('when the service runs with canary API keys (from a file) and exporter headers, then no canary appears in stdout, stderr, a response, /metrics or a span', async () => {
    const keys = [canary('KeyOne'), canary('KeyTwo')] as const;
    const otlpToken = canary('Otlp');
    const keysFile = path.join(temp.dir, 'api-keys');
    writeFileSync(keysFile, `${keys.join(',')}\n`);
    const canaries = [...keys, otlpToken];
    const server = await startServer({
      DB_PATH: temp.dbPath,
      API_KEYS_FILE: keysFile,
      AUTH_READS: 'true',
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
        // A near miss: the presented key contains the real one; it must not be echoed or logged either.
        (await send('wrong key', `GET /items/${id} HTTP/1.1\r\nAuthorization: Bearer ${keys[0]}x`)).status,
        (await send('basic auth', `GET /items HTTP/1.1\r\nAuthorization: Basic ${keys[0]}`)).status,
        (await send('invalid body', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, '{"name":""}')).status,
        (await send('malformed JSON', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, `{"name":"${keys[0]}`)).status,
        (await send('not JSON', `POST /items HTTP/1.1\r\n${right}\r\nContent-Type: text/plain`, 'x')).status,
        (await send('too large', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, `{"name":"${'x'.repeat(2048)}"}`))
          .status,
        (await send('missing', `GET /items/missing HTTP/1.1\r\n${right}`)).status,
        (await send('duplicate', `POST /items HTTP/1.1\r\n${right}\r\n${json}`, `{"id":"${id}","name":"d"}`)).status,
        (await send('unknown route', `GET /${keys[0].slice(0, 10)} HTTP/1.1`)).status,
        (await send('bad cursor', `GET /items?cursor=zzz HTTP/1.1\r\n${right}`)).status,
        (await send('admin get', `GET /admin/log-level HTTP/1.1\r\n${right}`)).status,
        (await send('admin put', `PUT /admin/log-level HTTP/1.1\r\n${right}\r\n${json}`, '{"level":"trace"}')).status,
        (await send('admin wrong key', `GET /admin/log-level HTTP/1.1\r\nAuthorization: Bearer ${keys[1]}!`)).status,
        (await send('liveness', 'GET /healthz HTTP/1.1')).status,
        (await send('readiness', 'GET /readyz HTTP/1.1')).status,
        (await send('startup', 'GET /startupz HTTP/1.1')).status,
        (await send('metrics', 'GET /metrics HTTP/1.1')).status,
        (await send('delete', `DELETE /items/${id} HTTP/1.1\r\n${right}`)).status,
      ];
      assert.deepEqual(
        statuses,
        [
          200, 200, 200, 412, 401, 401, 401, 400, 400, 415, 413, 404, 409, 404, 400, 200, 200, 401, 200, 200, 200, 200,
          204,
        ],
      );
      const malformed = await rawRequest(server.url, 'GARBAGE\r\n\r\n');
      exposures.push({ where: 'malformed request', text: `${JSON.stringify(malformed.headers)}\n${malformed.body}` });
      assert.equal(malformed.status, 400);
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
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
