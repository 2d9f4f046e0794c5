import assert from './support/assert.js';
import http from 'node:http';
import { describe, it } from '@jest/globals';
import { diagnostic } from './support/diagnostic.js';
import { setTimeout as delay } from 'node:timers/promises';
import { jsonRequest } from './support/http.js';
import { createItemRequest, HttpSocket, requestHead } from './support/http-socket.js';
import { startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { percentile, waitFor } from './support/timing.js';

interface Outcome {
  started: number;
  finished: number;
  status?: number;
  error?: string;
}

/** One request on a connection of its own (no keep-alive), as a client arriving anew would make it. */
function requestOnNewConnection(url: string, method: string, path: string, body?: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: hostname,
        port,
        method,
        path,
        agent: false,
        timeout: 15_000,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end(body);
  });
}

const SHUTDOWN_STEPS = new Set(['shutting down', 'stopped accepting connections', 'store closed', 'shutdown complete']);

/** The shutdown's milestones, in the order the server logged them. */
function shutdownSteps(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => (JSON.parse(line) as { msg?: string }).msg ?? '')
    .filter((msg) => SHUTDOWN_STEPS.has(msg));
}

describe('Graceful shutdown of the built server (real signals, real sockets)', () => {
  it('when SIGTERM arrives under load, then readiness fails at once, every request started before the drain ends succeeds, and the exit is 0 and on time', async () => {
    const DRAIN_MS = 2_000;
    const CLIENTS = 64;
    const PERIOD_MS = 50;
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath, SHUTDOWN_DRAIN_DELAY: `${DRAIN_MS}ms` });
    try {
      const seeded = await jsonRequest(`${server.url}/items`, 'POST', { name: 'seed' });
      const outcomes: Outcome[] = [];
      let stopStartingAt = Infinity;
      const client = async (n: number) => {
        for (let i = 0; ; i++) {
          const started = performance.now();
          if (started >= stopStartingAt) return;
          const write = (n + i) % 3 === 0;
          const outcome: Outcome = { started, finished: 0 };
          try {
            outcome.status = write
              ? await requestOnNewConnection(server.url, 'POST', '/items', JSON.stringify({ name: `c${n}-${i}` }))
              : await requestOnNewConnection(server.url, 'GET', `/items/${seeded.body.id}`);
          } catch (err) {
            outcome.error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          }
          outcome.finished = performance.now();
          outcomes.push(outcome);
          await delay(Math.max(0, PERIOD_MS - (outcome.finished - started)));
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
      await delay(1_000);

      const signalledAt = performance.now();
      stopStartingAt = signalledAt + DRAIN_MS;
      const exited = server.stop('SIGTERM').then((code) => ({ code, at: performance.now() }));
      let readinessFailedAt: number | undefined;
      while (readinessFailedAt === undefined && performance.now() - signalledAt < 1_500) {
        const status = await requestOnNewConnection(server.url, 'GET', '/readyz').catch(() => 0);
        if (status === 503) readinessFailedAt = performance.now();
        else await delay(20);
      }
      await Promise.all(clients);
      const { code, at: exitedAt } = await exited;

      const counted = outcomes.filter((o) => o.started < stopStartingAt);
      const failed = counted.filter((o) => o.status === undefined || o.status >= 300);
      const longest = Math.max(...counted.map((o) => o.finished - o.started));
      const afterSignal = counted.filter((o) => o.started >= signalledAt).length;
      diagnostic(
        `${counted.length} requests (${afterSignal} after SIGTERM), ${failed.length} failed; ` +
          `p99 ${percentile(
            counted.map((o) => o.finished - o.started),
            99,
          ).toFixed(1)} ms, longest ${longest.toFixed(1)} ms; readiness 503 after ` +
          `${readinessFailedAt === undefined ? 'never' : (readinessFailedAt - signalledAt).toFixed(0)} ms; ` +
          `exit ${String(code)} after ${(exitedAt - signalledAt).toFixed(0)} ms; ` +
          `${/"late_connections":(\d+)/.exec(server.stdout())?.[1] ?? '?'} connections accepted between the drain's end and the close`,
      );
      assert.deepEqual(failed.slice(0, 5), [], `${failed.length} requests started before the drain ended failed`);
      assert.ok(afterSignal > CLIENTS, 'the clients went on opening connections during the drain');
      assert.ok(readinessFailedAt !== undefined && readinessFailedAt - signalledAt < 1_000, '/readyz 503 within 1 s');
      assert.equal(code, 0);
      assert.ok(exitedAt - signalledAt <= DRAIN_MS + longest + 2_000, 'exit within drain + longest request + 2 s');
      assert.match(server.stdout(), /"msg":"shutdown complete","exit_code":0/);
      // Each step is a Nest hook of its own module; Nest decides their order, and this is the one the
      // guarantees need: the drain first, the store after the last request, the logs last of all.
      assert.deepEqual(shutdownSteps(server.stdout()), [
        'shutting down',
        'stopped accepting connections',
        'store closed',
        'shutdown complete',
      ]);
      assert.match(server.stdout().trimEnd().split('\n').at(-1) ?? '', /"msg":"shutdown complete"/, 'the last line');
    } finally {
      await server.stop('SIGKILL');
      temp.remove();
    }
  });

  it('when a keep-alive client goes on through the drain, then its response after the drain says Connection: close, no request is reset, and the exit is on time', async () => {
    const DRAIN_MS = 1_000;
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath, SHUTDOWN_DRAIN_DELAY: `${DRAIN_MS}ms` });
    try {
      const keepAlive = await HttpSocket.connect(server.url);
      // An upload that spans the end of the drain: in flight from before the signal to after the stop.
      const upload = await HttpSocket.connect(server.url);
      const { head, body } = createItemRequest({ id: 'spans-the-stop', name: 'uploaded slowly' });
      const uploadResponse = upload.response();
      upload.write(head + body.slice(0, 5));

      const responses: Array<{ at: number; connection: string | undefined; status: number }> = [];
      let signalledAt = Infinity;
      let exited: Promise<{ code: number | string; at: number }> | undefined;
      for (let i = 0; keepAlive.isOpen; i++) {
        if (i === 5) {
          signalledAt = performance.now();
          exited = server.stop('SIGTERM').then((code) => ({ code, at: performance.now() }));
        }
        const response = await keepAlive.request(requestHead('GET', '/healthz'));
        responses.push({ at: performance.now(), connection: response.headers.connection, status: response.status });
        if (response.headers.connection === 'close') break;
        await delay(100);
      }
      upload.write(body.slice(5));
      const uploaded = await uploadResponse;
      const closed = await keepAlive.closed;
      const { code, at: exitedAt } = await exited!;

      // The server's drain starts when it gets the signal, a little after signalledAt: the response
      // that says close is the first one after the drain, within one period (100 ms) and some slack.
      const closing = responses.findIndex((r) => r.connection === 'close');
      const closingAt = responses[closing]?.at ?? Infinity;
      assert.equal(closing, responses.length - 1, `one Connection: close, the last: ${JSON.stringify(responses)}`);
      assert.ok(closingAt >= signalledAt + DRAIN_MS, `Connection: close ${closingAt - signalledAt} ms after SIGTERM`);
      assert.ok(closingAt <= signalledAt + DRAIN_MS + 1_000, `Connection: close ${closingAt - signalledAt} ms after`);
      assert.ok(
        responses.every((r) => r.status === 200 && (r.connection === 'keep-alive' || r.at === closingAt)),
        JSON.stringify(responses),
      );
      assert.equal(closed.requestInFlight, false, 'no request was waiting when the connection closed');
      assert.equal(closed.how, 'end', `closed without a reset (${closed.error})`);
      assert.equal(uploaded.status, 201, 'the upload in flight at the stop was answered');
      assert.equal(uploaded.headers.connection, 'close');
      assert.equal(code, 0);
      assert.ok(exitedAt - signalledAt <= DRAIN_MS + 2_000, `exited ${exitedAt - signalledAt} ms after SIGTERM`);
    } finally {
      await server.stop('SIGKILL');
      temp.remove();
    }
  });

  it('when a second signal arrives during the drain, then the process exits at once with 128 + the signal', async () => {
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath, SHUTDOWN_DRAIN_DELAY: '30s' });
    try {
      void server.stop('SIGTERM');
      await waitFor(() => /"msg":"shutting down"/.test(server.stdout()), 'the shutting down line');
      const code = await server.stop('SIGINT');
      assert.equal(code, 130);
      assert.match(server.stdout(), /"msg":"second signal during shutdown; exiting now","signal":"SIGINT"/);
      assert.doesNotMatch(server.stdout(), /"msg":"shutdown complete"/);
    } finally {
      await server.stop('SIGKILL');
      temp.remove();
    }
  });

  it('when Ctrl-C under npm delivers SIGINT twice at once, then that is one shutdown, which drains and exits 0', async () => {
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath, SHUTDOWN_DRAIN_DELAY: '300ms' });
    try {
      process.kill(server.pid, 'SIGINT');
      const code = await server.stop('SIGINT');
      assert.equal(code, 0);
      assert.doesNotMatch(server.stdout(), /second signal/);
      assert.match(server.stdout(), /"msg":"shutdown complete","exit_code":0/);
    } finally {
      await server.stop('SIGKILL');
      temp.remove();
    }
  });

  it('when a request is still in flight at SHUTDOWN_TIMEOUT, then it is cut, the count is logged, and the exit code is 75', async () => {
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath, SHUTDOWN_TIMEOUT: '500ms' });
    try {
      const stuck = await HttpSocket.connect(server.url);
      const { head, body } = createItemRequest({ id: 'never-finished', name: 'the body never ends' });
      const outcome = stuck.response().then(
        (response) => `answered ${response.status}`,
        (err: Error) => err.message,
      );
      stuck.write(head + body.slice(0, 5));
      await delay(100);
      const code = await server.stop('SIGINT');
      assert.match(await outcome, /connection closed before the response/);
      assert.equal(code, 75);
      assert.match(
        server.stdout(),
        /"msg":"shutdown timeout expired: cut the requests still in flight","requests_cut":1,/,
      );
      assert.match(server.stdout(), /"msg":"shutdown complete","exit_code":75/);
    } finally {
      await server.stop('SIGKILL');
      temp.remove();
    }
  });
});
