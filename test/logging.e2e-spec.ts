import assert from './support/assert.js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { assertProblem, jsonRequest } from './support/http.js';
import { logLines } from './support/logs.js';
import { MAIN, runServerToExit, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitFor } from './support/timing.js';

const KEY = 'logging-test-key-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
const ADMIN_KEY = 'logging-test-admin-key-9876543210';
const ADMIN = { authorization: `Bearer ${ADMIN_KEY}` };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('Logs (the built server’s stdout)', () => {
  const temp = makeTempDir();
  let server: ServerProcess;
  beforeAll(
    async () =>
      (server = await startServer({
        DB_PATH: temp.dbPath,
        API_KEYS: KEY,
        ADMIN_API_KEYS: ADMIN_KEY,
        LOG_LEVEL: 'info',
      })),
  );
  afterAll(async () => {
    await server.stop();
    temp.remove();
  });

  /** The request line of the response, once pino has written it. */
  async function requestLine(requestId: string) {
    await waitFor(
      () => logLines(server.stdout()).some((line) => line.request_id === requestId),
      `the log line of ${requestId}`,
    );
    return logLines(server.stdout()).find((line) => line.request_id === requestId)!;
  }

  it('when the server starts normally, then it writes a handful of info lines, and Nest’s module and route narration only at debug', async () => {
    const startup = logLines(server.stdout()).filter((line) => line.msg !== undefined && line.request_id === undefined);
    const upToListening = startup.slice(0, startup.findIndex((line) => line.msg === 'listening') + 1);
    assert.ok(upToListening.length > 0 && upToListening.length <= 6, JSON.stringify(upToListening.map((l) => l.msg)));
    assert.deepEqual(
      upToListening.filter((line) => ['InstanceLoader', 'RoutesResolver', 'RouterExplorer'].includes(line.context)),
      [],
    );

    const verbose = makeTempDir();
    const debug = await startServer({ DB_PATH: verbose.dbPath, LOG_LEVEL: 'debug' });
    try {
      const mapped = logLines(debug.stdout()).filter((line) => line.context === 'RouterExplorer');
      assert.ok(mapped.length > 5, 'at debug, every mapped route is still there');
      assert.ok(mapped.every((line) => line.level === 'debug'));
    } finally {
      await debug.stop();
      verbose.remove();
    }
  });

  it('when a request is answered, then one JSON line has its id, method, route template, status, duration and size, and no headers', async () => {
    const created = await jsonRequest(`${server.url}/items`, 'POST', { name: 'logged' }, AUTH);
    const read = await jsonRequest(`${server.url}/items/${created.body.id}`, 'GET');
    const line = await requestLine(read.headers.get('x-request-id')!);
    assert.deepEqual(Object.keys(line).sort(), [
      'bytes',
      'duration_ms',
      'level',
      'method',
      'msg',
      'request_id',
      'route',
      'service',
      'status_code',
      'time',
      'version',
    ]);
    assert.equal(line.level, 'info');
    assert.equal(line.msg, 'request completed');
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/items/{id}');
    assert.equal(line.status_code, 200);
    assert.equal(line.bytes, Number(read.headers.get('content-length')));
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok(line.duration_ms >= 0);
    const lines = logLines(server.stdout()).filter((entry) => entry.request_id === read.headers.get('x-request-id'));
    assert.equal(lines.length, 1, 'one line per request');
  });

  it('when X-Request-Id is well-formed, then it is kept, echoed and logged; when not, a new UUID replaces it', async () => {
    const kept = await jsonRequest(`${server.url}/items/none`, 'GET', undefined, { 'x-request-id': 'abc.DEF_1:2-3' });
    assert.equal(kept.headers.get('x-request-id'), 'abc.DEF_1:2-3');
    assert.equal(kept.body.request_id, 'abc.DEF_1:2-3');
    assert.equal((await requestLine('abc.DEF_1:2-3')).status_code, 404);

    for (const bad of ['x'.repeat(129), 'has space', 'semi;colon', '"quoted"', 'ünïcode']) {
      const response = await fetch(`${server.url}/items/none`, { headers: { 'x-request-id': encodeURI(bad) } });
      const echoed = response.headers.get('x-request-id')!;
      assert.match(echoed, UUID, `kept ${bad}`);
      assert.equal(((await response.json()) as { request_id: string }).request_id, echoed);
      assert.equal((await requestLine(echoed)).route, '/items/{id}');
    }
    const missing = await jsonRequest(`${server.url}/healthz`, 'GET');
    assert.match(missing.headers.get('x-request-id')!, UUID);
  });

  it('when the client goes away before its response, then the request is still logged (and counted) as aborted, 499', async () => {
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    await once(socket, 'connect');
    // Headers and half the body: the request is in flight, waiting for the rest.
    socket.write(
      `POST /items HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH.authorization}\r\n` +
        'X-Request-Id: aborted-request-1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"name":',
    );
    // In flight once the server has read its head: the scrape itself is the other one.
    let inFlight = 0;
    while (inFlight < 2) {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      inFlight = Number(/^http_requests_in_flight (\d+)/m.exec(metrics)?.[1]);
    }
    socket.destroy();
    const line = await requestLine('aborted-request-1');
    assert.equal(line.msg, 'request aborted');
    assert.equal(line.status_code, 499);
    assert.equal(line.route, '/items');
    assert.equal(line.bytes, 0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /http_requests_total\{method="POST",route="\/items",status_code="499"\} 1/);
  });

  it('when the probes and /metrics are polled, then their request lines are at debug, so not written at info', async () => {
    const ids: string[] = [];
    for (const path of ['/healthz', '/readyz', '/startupz', '/metrics']) {
      const response = await fetch(`${server.url}${path}`);
      ids.push(response.headers.get('x-request-id')!);
      await response.arrayBuffer();
    }
    // A later line at info proves the earlier ones had their chance to be written.
    const marker = await jsonRequest(`${server.url}/items/marker`, 'GET');
    await requestLine(marker.headers.get('x-request-id')!);
    const written = logLines(server.stdout()).filter((line) => ids.includes(line.request_id));
    assert.deepEqual(written, []);
  });

  it('when the log level is changed through the admin endpoint, then probes are logged at debug until it is set back', async () => {
    const unauthenticated = await jsonRequest(`${server.url}/admin/log-level`, 'GET');
    assertProblem(unauthenticated, 401);
    assert.match(unauthenticated.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrongKey = await jsonRequest(
      `${server.url}/admin/log-level`,
      'PUT',
      { level: 'debug' },
      {
        authorization: `Bearer ${ADMIN_KEY}x`,
      },
    );
    assertProblem(wrongKey, 401);
    // An API client's key is not an admin key: it must not be able to silence the logs.
    assertProblem(await jsonRequest(`${server.url}/admin/log-level`, 'PUT', { level: 'silent' }, AUTH), 401);
    const invalid = await jsonRequest(`${server.url}/admin/log-level`, 'PUT', { level: 'verbose' }, ADMIN);
    assertProblem(invalid, 400);
    assert.equal((await jsonRequest(`${server.url}/admin/log-level`, 'GET', undefined, ADMIN)).body.level, 'info');

    const changed = await jsonRequest(`${server.url}/admin/log-level`, 'PUT', { level: 'debug' }, ADMIN);
    assert.equal(changed.status, 200);
    assert.deepEqual(changed.body, { level: 'debug' });
    const probe = await fetch(`${server.url}/healthz`);
    await probe.arrayBuffer();
    const line = await requestLine(probe.headers.get('x-request-id')!);
    assert.equal(line.level, 'debug');
    assert.ok(
      logLines(server.stdout()).some((entry) => entry.msg === 'log level changed' && entry.to === 'debug'),
      'the change itself is logged',
    );

    assert.equal((await jsonRequest(`${server.url}/admin/log-level`, 'PUT', { level: 'info' }, ADMIN)).status, 200);
    const quiet = await fetch(`${server.url}/healthz`);
    await quiet.arrayBuffer();
    const marker = await jsonRequest(`${server.url}/items/marker-2`, 'GET');
    await requestLine(marker.headers.get('x-request-id')!);
    assert.ok(!logLines(server.stdout()).some((entry) => entry.request_id === quiet.headers.get('x-request-id')));
  });
});

describe('Log settings', () => {
  it('when no admin key is configured, then the admin endpoint is refused (403) even with an API key, not open', async () => {
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath, API_KEYS: KEY });
    try {
      const response = await jsonRequest(`${server.url}/admin/log-level`, 'PUT', { level: 'debug' }, AUTH);
      assertProblem(response, 403);
      assert.equal(response.body.code, 'ADMIN_DISABLED');
    } finally {
      await server.stop();
      temp.remove();
    }
  });

  it('when LOG_FORMAT=pretty, then lines are for people (not JSON); when it is unknown, start-up stops naming it', async () => {
    const temp = makeTempDir();
    const child = spawn(process.execPath, [MAIN], {
      cwd: temp.dir,
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        DB_PATH: temp.dbPath,
        LOG_FORMAT: 'pretty',
        SHUTDOWN_DRAIN_DELAY: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = once(child, 'exit');
    try {
      await waitFor(() => /listening/.test(stdout), 'the pretty "listening" line', 15_000);
      const listening = stdout.split('\n').find((line) => /listening/.test(line))!;
      assert.ok(!listening.trimStart().startsWith('{'), `not pretty: ${listening}`);
      assert.match(listening, /INFO/);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const wrong = await runServerToExit({ DB_PATH: temp.dbPath, LOG_FORMAT: 'xml' });
    temp.remove();
    assert.equal(wrong.code, 78);
    assert.match(wrong.stderr, /LOG_FORMAT must be one of \[json, pretty\]/);
  });
});
