import assert from './support/assert.js';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { assertProblem, jsonRequest } from './support/http.js';
import { type RunningApp, startApp } from './support/in-process-app.js';
import { makeTempDir } from './support/temp-dir.js';

const ALLOWED = 'https://app.example.com';
const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

describe('Security headers and CORS', () => {
  const temp = makeTempDir();
  let closed: RunningApp;
  let open: RunningApp;
  beforeAll(async () => {
    closed = await startApp({ DB_PATH: path.join(temp.dir, 'a.json') });
    open = await startApp({ DB_PATH: path.join(temp.dir, 'b.json'), CORS_ORIGINS: `${ALLOWED},http://localhost:3000` });
  });
  afterAll(async () => {
    await closed.close();
    await open.close();
    temp.remove();
  });

  it('when any route answers (success, problem, probe, document, UI, unknown route, URL refused before routing), then it carries the security headers', async () => {
    for (const [method, route] of [
      ['GET', '/items'],
      ['HEAD', '/items'],
      ['GET', '/items/nope'],
      ['POST', '/items'],
      ['GET', '/healthz'],
      ['GET', '/openapi.json'],
      ['GET', '/docs'],
      ['GET', '/docs/swagger-ui.css'],
      ['GET', '/no-such-route'],
      // Refused by Fastify before routing, where no hook runs (frameworkErrors): 400 and 414.
      ['GET', '/items/%zz'],
      ['GET', `/items/${'a'.repeat(120)}`],
    ] as const) {
      const response = await fetch(`${closed.url}${route}`, { method });
      await response.arrayBuffer();
      const headers = response.headers;
      const where = `${method} ${route} (${response.status})`;
      assert.equal(headers.get('x-content-type-options'), 'nosniff', where);
      assert.match(headers.get('content-security-policy') ?? '', /default-src 'self'/, where);
      assert.match(headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, where);
      assert.match(headers.get('strict-transport-security') ?? '', /max-age=\d+/, where);
      assert.equal(headers.get('x-frame-options'), 'DENY', where);
      assert.equal(headers.get('referrer-policy'), 'no-referrer', where);
      assert.equal(headers.get('cross-origin-resource-policy'), 'same-origin', where);
      assert.equal(headers.get('x-powered-by'), null, where);
    }
  });

  it('when CORS_ORIGINS is not set, then no response has an Access-Control-* header, preflight included', async () => {
    const simple = await jsonRequest(`${closed.url}/items`, 'GET', undefined, { origin: ALLOWED });
    assert.equal(simple.status, 200);
    assert.equal(simple.headers.get('access-control-allow-origin'), null);
    const response = await preflight(`${closed.url}/items`, ALLOWED);
    await response.arrayBuffer();
    assert.ok(response.status >= 400, `preflight answered ${response.status}`);
    for (const [name] of response.headers) assert.ok(!name.startsWith('access-control-'), name);
  });

  it('when CORS_ORIGINS lists an origin, then it (and only it) is allowed, with the API headers exposed', async () => {
    const response = await preflight(`${open.url}/items`, ALLOWED);
    await response.arrayBuffer();
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(response.headers.get('access-control-allow-headers')!, /Authorization/);
    // A page's safe retry of a POST sends its key, and reads whether the answer was replayed.
    assert.match(response.headers.get('access-control-allow-headers')!, /Idempotency-Key/);
    assert.match(response.headers.get('access-control-allow-methods')!, /POST/);
    assert.equal(response.headers.get('access-control-allow-credentials'), null);

    const simple = await jsonRequest(`${open.url}/items`, 'GET', undefined, { origin: ALLOWED });
    assert.equal(simple.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(simple.headers.get('access-control-expose-headers')!, /ETag.*X-Request-Id.*Retry-After/);
    assert.match(simple.headers.get('access-control-expose-headers')!, /Idempotent-Replayed/);
    assert.match(simple.headers.get('vary') ?? '', /Origin/i);

    // A bare OPTIONS (no Origin, no Access-Control-Request-Method) is answered like a preflight, not
    // with @fastify/cors' strict plain-text 400.
    const bare = await fetch(`${open.url}/items`, { method: 'OPTIONS' });
    assert.equal(bare.status, 204);
    assert.equal(await bare.text(), '');

    for (const origin of ['https://evil.example.com', 'https://app.example.com.evil.net', 'null']) {
      const refused = await jsonRequest(`${open.url}/items`, 'GET', undefined, { origin });
      assert.equal(refused.headers.get('access-control-allow-origin'), null, origin);
    }
  });

  it('when CORS_ORIGINS is set, then OPTIONS answers every known path, so a 405 lists it in Allow; without CORS, OPTIONS itself is a 405 that does not', async () => {
    const closedOptions = await jsonRequest(`${closed.url}/items`, 'OPTIONS');
    assertProblem(closedOptions, 405);
    assert.equal(closedOptions.headers.get('allow'), 'GET, HEAD, POST');
    const closedPut = await jsonRequest(`${closed.url}/items`, 'PUT', { name: 'x' });
    assertProblem(closedPut, 405);
    assert.equal(closedPut.headers.get('allow'), 'GET, HEAD, POST');

    const openPut = await jsonRequest(`${open.url}/items`, 'PUT', { name: 'x' });
    assertProblem(openPut, 405);
    assert.equal(openPut.headers.get('allow'), 'GET, HEAD, OPTIONS, POST');
    const healthz = await jsonRequest(`${open.url}/healthz`, 'DELETE');
    assert.equal(healthz.headers.get('allow'), 'GET, HEAD, OPTIONS');
    // Answered on every path, so it makes no unknown path a known one.
    assertProblem(await jsonRequest(`${open.url}/no-such-route`, 'PUT', { name: 'x' }), 404);
  });

  it('when a page on an allowed origin revalidates an item with If-None-Match, then the preflight allows the header and the 304 carries the CORS headers and Vary a 200 would', async () => {
    const response = await fetch(`${open.url}/items/a1`, {
      method: 'OPTIONS',
      headers: {
        origin: ALLOWED,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'if-none-match',
      },
    });
    await response.arrayBuffer();
    assert.equal(response.status, 204);
    assert.match(response.headers.get('access-control-allow-headers')!, /If-None-Match/);

    const created = await jsonRequest(`${open.url}/items`, 'POST', { name: 'cors' });
    const path = `${open.url}/items/${created.body.id}`;
    const full = await jsonRequest(path, 'GET', undefined, { origin: ALLOWED });
    const notModified = await jsonRequest(path, 'GET', undefined, {
      origin: ALLOWED,
      'if-none-match': created.headers.get('etag')!,
    });
    assert.equal(notModified.status, 304);
    for (const name of ['etag', 'vary', 'access-control-allow-origin', 'access-control-expose-headers'])
      assert.equal(notModified.headers.get(name), full.headers.get(name), name);
  });
});
