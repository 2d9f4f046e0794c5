import assert from './support/assert.js';
import net from 'node:net';
import { describe, it } from '@jest/globals';
import { diagnostic } from './support/diagnostic.js';
import { setTimeout as delay } from 'node:timers/promises';
import { jsonRequest } from './support/http.js';
import { createItemRequest, HttpSocket } from './support/http-socket.js';
import { startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { percentile } from './support/timing.js';

const HEADERS_TIMEOUT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 3_000;
const limitedServerEnv = (dbPath: string) => ({
  DB_PATH: dbPath,
  HTTP_HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS}ms`,
  HTTP_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS}ms`,
});
/** Node checks the two timeouts at this interval (min(1 s, HTTP_HEADERS_TIMEOUT), set by the app). */
const CHECK_INTERVAL_MS = 1_000;

/** A slowloris client: a request line, then one more header line every `everyMs`, never the end. */
function slowloris(url: string, everyMs: number): Promise<{ closedAfterMs: number; received: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let started = 0;
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      started = performance.now();
      socket.write('GET /items HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      let n = 0;
      timer = setInterval(() => socket.write(`X-Slow-${n++}: still here\r\n`), everyMs);
    });
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', () => undefined); // a reset still ends the connection; 'close' follows
    socket.on('close', () => {
      clearInterval(timer);
      if (started === 0) return reject(new Error('never connected'));
      resolve({ closedAfterMs: performance.now() - started, received });
    });
    // A bound, in case the server never closes it: the assertion below then fails.
    setTimeout(() => socket.destroy(), 30_000).unref();
  });
}

describe('Slow clients against the built server (HTTP_HEADERS_TIMEOUT, HTTP_REQUEST_TIMEOUT)', () => {
  it('when 500 slowloris sockets trickle headers, then the server closes them all by the headers timeout + check interval + 2 s, and normal requests meanwhile succeed', async () => {
    const temp = makeTempDir();
    const server = await startServer(limitedServerEnv(temp.dbPath));
    try {
      const slow = Array.from({ length: 500 }, () => slowloris(server.url, 700));
      let done = false;
      const all = Promise.all(slow).finally(() => (done = true));
      const latencies: number[] = [];
      const failures: string[] = [];
      for (let i = 0; !done; i++) {
        const started = performance.now();
        const response =
          i % 2 === 0
            ? await jsonRequest(`${server.url}/items`, 'POST', { name: `meanwhile ${i}` })
            : await jsonRequest(`${server.url}/items?limit=10`, 'GET');
        latencies.push(performance.now() - started);
        if (response.status >= 300) failures.push(`${i}: ${response.status}`);
        await delay(20);
      }
      const closed = await all;
      const slowest = Math.max(...closed.map((c) => c.closedAfterMs));
      diagnostic(
        `slowloris: 500 closed after ${Math.min(...closed.map((c) => c.closedAfterMs)).toFixed(0)}–` +
          `${slowest.toFixed(0)} ms; ${latencies.length} normal requests meanwhile, ${failures.length} failed, ` +
          `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
      );
      assert.deepEqual(failures, []);
      assert.ok(latencies.length > 10, 'normal requests were made while the slow ones were open');
      assert.ok(slowest <= HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + 2_000, `the last closed after ${slowest} ms`);
      // Closed by the timeout, not by chance: none before it, and each was told why.
      assert.ok(Math.min(...closed.map((c) => c.closedAfterMs)) >= HEADERS_TIMEOUT_MS - 50);
      assert.ok(closed.every((c) => c.received.startsWith('HTTP/1.1 408 ')));
    } finally {
      await server.stop();
      temp.remove();
    }
  });

  it('when a body comes at 1 byte per 200 ms, then it is cut at the request timeout with a 408 problem', async () => {
    const temp = makeTempDir();
    const server = await startServer(limitedServerEnv(temp.dbPath));
    try {
      const socket = await HttpSocket.connect(server.url);
      const { head, body } = createItemRequest({ id: 'trickled', name: 'x'.repeat(100) });
      const started = performance.now();
      const response = socket.response();
      socket.write(head);
      let sent = 0;
      const trickle = setInterval(() => socket.isOpen && sent < body.length && socket.write(body[sent++]!), 200);
      const answered = await response.finally(() => clearInterval(trickle));
      assert.equal(answered.status, 408);
      const closed = await socket.closed;
      const cutAfter = closed.at - started;

      assert.match(answered.headers['content-type'] ?? '', /^application\/problem\+json/);
      assert.equal(JSON.parse(answered.body).code, 'REQUEST_TIMEOUT');
      assert.ok(sent < body.length, 'the body was still arriving');
      assert.ok(cutAfter >= REQUEST_TIMEOUT_MS - 50, `cut after ${cutAfter} ms`);
      assert.ok(cutAfter <= REQUEST_TIMEOUT_MS + CHECK_INTERVAL_MS + 2_000, `cut after ${cutAfter} ms`);
      assert.equal((await jsonRequest(`${server.url}/items/trickled`, 'GET')).status, 404, 'nothing was stored');
    } finally {
      await server.stop();
      temp.remove();
    }
  });
});
