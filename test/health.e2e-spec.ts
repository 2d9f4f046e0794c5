import assert from './support/assert.js';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../src/app.factory.js';
import { Lifecycle } from '../src/lifecycle/lifecycle.js';
import { assertProblem, jsonRequest } from './support/http.js';
import { type RunningApp, startApp } from './support/in-process-app.js';
import { logLines } from './support/logs.js';
import { type Exposition, sampleValue, scrape, scrapeUntil } from './support/prometheus.js';
import { startServer, UNPRIVILEGED } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitFor } from './support/timing.js';

/** items_health_probe_status by probe, as a scrape reports it. */
function probeStatus(exposition: Exposition) {
  const status = (probe: string) => sampleValue(exposition, 'items_health_probe_status', { probe });
  return { liveness: status('liveness'), readiness: status('readiness'), startup: status('startup') };
}

/** Polls until the probe answers `status` (the store check is cached for a second). */
async function probeUntil(url: string, status: number, timeoutMs = 5_000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const response = await jsonRequest(url, 'GET');
    if (response.status === status || performance.now() > deadline) return response;
    await delay(100);
  }
}

describe('Health probes (real app, real HTTP)', () => {
  const temp = makeTempDir();
  let running: RunningApp;
  beforeAll(async () => (running = await startApp({ DB_PATH: temp.dbPath })));
  afterAll(async () => {
    await running.close();
    temp.remove();
  });

  for (const [probe, checks] of [
    ['healthz', ['event_loop']],
    ['readyz', ['shutdown', 'store']],
    ['startupz', ['startup']],
  ] as const) {
    it(`when the service is up, then /${probe} is 200 with its checks (${checks.join(', ')}) up`, async () => {
      const response = await jsonRequest(`${running.url}/${probe}`, 'GET');
      assert.equal(response.status, 200);
      assert.equal(response.body.status, 'ok');
      assert.deepEqual(Object.keys(response.body.details).sort(), [...checks]);
      for (const check of checks) assert.equal(response.body.details[check].status, 'up');
      assert.match(response.headers.get('cache-control') ?? '', /no-store/);
    });
  }

  it('when a shutdown has begun, then /readyz is 503 naming the shutdown check while /healthz and the API still answer', async () => {
    const lifecycle = running.app.get(Lifecycle);
    lifecycle.beginDraining();
    const ready = await jsonRequest(`${running.url}/readyz`, 'GET');
    assertProblem(ready, 503);
    assert.equal(ready.body.code, 'NOT_READY');
    assert.match(ready.body.detail, /shutdown \(the service is shutting down\)/);
    assert.equal(ready.body.checks.shutdown.status, 'down');
    assert.equal(ready.body.checks.store.status, 'up');
    assert.equal(ready.headers.get('retry-after'), '1');
    assert.equal((await jsonRequest(`${running.url}/healthz`, 'GET')).status, 200);
    assert.equal((await jsonRequest(`${running.url}/items`, 'POST', { name: 'while draining' })).status, 201);
  });
});

describe('Startup probe before start-up has finished', () => {
  const temp = makeTempDir();
  let app: NestFastifyApplication;
  beforeAll(async () => {
    ({ app } = await createApp({ env: { LOG_LEVEL: 'silent', DB_PATH: temp.dbPath } }));
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(async () => {
    await app.close();
    temp.remove();
  });

  it('when the server has not started listening, then /startupz is 503 naming the startup check', async () => {
    const response = await app.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/startupz' });
    assert.equal(response.statusCode, 503);
    const body = response.json<{ code: string; detail: string; checks: Record<string, { status: string }> }>();
    assert.equal(body.code, 'NOT_STARTED');
    assert.match(body.detail, /startup \(the store is still loading\)/);
    assert.equal(body.checks.startup?.status, 'down');
  });
});

describe('Readiness when the disk is not writable (the built server, not as root)', () => {
  it('when the data directory becomes read-only, then /readyz is 503 naming the store, /healthz stays 200, reads go on, items_health_probe_status says so, and readiness comes back with the permission', async () => {
    const temp = makeTempDir();
    const dataDir = path.join(temp.dir, 'data');
    mkdirSync(dataDir);
    if (UNPRIVILEGED.uid !== undefined) {
      chownSync(temp.dir, UNPRIVILEGED.uid, UNPRIVILEGED.gid!);
      chownSync(dataDir, UNPRIVILEGED.uid, UNPRIVILEGED.gid!);
    }
    const server = await startServer({ DB_PATH: path.join(dataDir, 'items.json') }, 15_000, UNPRIVILEGED);
    try {
      const created = await jsonRequest(`${server.url}/items`, 'POST', { name: 'before' });
      assert.equal((await jsonRequest(`${server.url}/readyz`, 'GET')).status, 200);
      const metrics = `${server.url}/metrics`;
      assert.deepEqual(probeStatus((await scrape(metrics)).exposition), { liveness: 1, readiness: 1, startup: 1 });

      // Evaluated by the scrape itself, /readyz never asked meanwhile: what an alert reads where nothing
      // polls /readyz (compose), and no copy of the probe's last answer.
      chmodSync(dataDir, 0o555);
      const scrapedNotReady = await scrapeUntil(metrics, (e) => probeStatus(e).readiness === 0, 'readiness 0');
      assert.deepEqual(probeStatus(scrapedNotReady.exposition), { liveness: 1, readiness: 0, startup: 1 });
      const notReady = await probeUntil(`${server.url}/readyz`, 503);
      assertProblem(notReady, 503);
      assert.match(notReady.body.detail, /store \(the data directory is not writable: permission denied \(EACCES\)\)/);
      assert.equal(notReady.body.checks.store.status, 'down');
      assert.equal(notReady.body.checks.shutdown.status, 'up');
      assert.doesNotMatch(JSON.stringify(notReady.body), new RegExp(temp.dir), 'no path in a public answer');
      assert.equal((await jsonRequest(`${server.url}/healthz`, 'GET')).status, 200);
      assert.equal((await jsonRequest(`${server.url}/items/${created.body.id}`, 'GET')).status, 200);

      chmodSync(dataDir, 0o755);
      await scrapeUntil(metrics, (e) => probeStatus(e).readiness === 1, 'readiness 1 again');
      assert.equal((await probeUntil(`${server.url}/readyz`, 200)).status, 200);

      // Probes are polled every few seconds for the life of the pod: a change is logged, not each call.
      // The log line is written asynchronously: it may reach the pipe after the response.
      await waitFor(() => /"msg":"readiness probe passes again"/.test(server.stdout()), 'the log line').catch(
        () => undefined, // the assertion below reports what is there
      );
      // The request lines of the API calls above are at info; a probe's are at debug.
      const lines = logLines(server.stdout());
      assert.deepEqual(
        lines
          .slice(lines.findIndex((line) => line.msg === 'listening'))
          .filter((line) => !(line.msg === 'request completed' && String(line.route).startsWith('/items')))
          .map((line) => line.msg),
        ['listening', 'readiness probe fails', 'readiness probe passes again'],
        'many probe calls, two log lines',
      );
    } finally {
      chmodSync(dataDir, 0o755);
      await server.stop();
      temp.remove();
    }
  });
});

describe('The probe metric over a stalled event loop (the built server; nothing polls /healthz)', () => {
  it('when the process is stopped for 2.5 s (SIGSTOP) and resumed, then one scrape reports liveness 0, and the next 1 again', async () => {
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath });
    try {
      const metrics = `${server.url}/metrics`;
      assert.equal(probeStatus((await scrape(metrics)).exposition).liveness, 1);
      process.kill(server.pid, 'SIGSTOP');
      // Not a timing assertion: the stall to detect, longer than the 1 s the liveness check allows.
      await delay(2_500);
      process.kill(server.pid, 'SIGCONT');
      const stalled = await scrapeUntil(metrics, (e) => probeStatus(e).liveness === 0, 'liveness 0 after the stall');
      assert.deepEqual(probeStatus(stalled.exposition), { liveness: 0, readiness: 1, startup: 1 });
      // Each scrape judges the loop since the previous one: an old stall does not fail liveness forever.
      assert.equal(probeStatus((await scrape(metrics)).exposition).liveness, 1);
    } finally {
      process.kill(server.pid, 'SIGCONT');
      await server.stop();
      temp.remove();
    }
  });
});
