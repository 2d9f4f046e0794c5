import assert from './support/assert.js';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, it } from '@jest/globals';
import { assertProbeNotLimited, assertProblem, jsonRequest } from './support/http.js';
import { type RunningApp, startApp } from './support/in-process-app.js';
import { makeTempDir } from './support/temp-dir.js';

const LIMIT = 5;

describe('Rate limit (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW, per client)', () => {
  const temp = makeTempDir();
  const apps: RunningApp[] = [];
  const start = async (env: Record<string, string> = {}) => {
    const app = await startApp({
      DB_PATH: path.join(temp.dir, `${apps.length}.json`),
      RATE_LIMIT_MAX: String(LIMIT),
      RATE_LIMIT_WINDOW: '1m',
      ...env,
    });
    apps.push(app);
    return app;
  };
  afterAll(async () => {
    for (const app of apps) await app.close();
    temp.remove();
  });

  const assertLimited = async (url: string, headers: Record<string, string> = {}) => {
    const response = await jsonRequest(url, 'GET', undefined, headers);
    assertProblem(response, 429);
    assert.equal(response.body.code, 'RATE_LIMITED');
    const retryAfter = Number(response.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal(response.headers.get('ratelimit-limit'), String(LIMIT));
    assert.equal(response.headers.get('ratelimit-remaining'), '0');
    assert.equal(response.headers.get('ratelimit-reset'), String(retryAfter));
  };

  it(`when a client makes ${LIMIT} requests, then exactly ${LIMIT} succeed with RateLimit-* headers, then 429 with Retry-After`, async () => {
    const { url } = await start();
    for (let i = 0; i < LIMIT; i++) {
      // Reads and writes share one budget.
      const response =
        i % 2 === 0
          ? await jsonRequest(`${url}/items`, 'GET')
          : await jsonRequest(`${url}/items`, 'POST', { name: 'x' });
      assert.ok(response.status < 300, `request ${i + 1}: ${response.status}`);
      assert.equal(response.headers.get('ratelimit-limit'), String(LIMIT));
      assert.equal(response.headers.get('ratelimit-remaining'), String(LIMIT - 1 - i));
      const reset = Number(response.headers.get('ratelimit-reset'));
      assert.ok(reset >= 1 && reset <= 60, `RateLimit-Reset ${reset}`);
    }
    await assertLimited(`${url}/items`);
    const refusedWrite = await jsonRequest(`${url}/items`, 'POST', { name: 'y' });
    assert.equal(refusedWrite.status, 429);
    assert.equal((await jsonRequest(`${url}/items`, 'GET', undefined, {})).status, 429);
    // Probes are never limited: a spent budget must not get the pod restarted or taken out of service.
    for (const probe of ['/healthz', '/readyz', '/startupz']) await assertProbeNotLimited(url, probe);
  });

  it('when a client sends a different X-Forwarded-For each time, without TRUST_PROXY, then its budget is the same one', async () => {
    const { url } = await start();
    for (let i = 0; i < LIMIT; i++) {
      const response = await jsonRequest(`${url}/items`, 'GET', undefined, { 'x-forwarded-for': `203.0.113.${i}` });
      assert.equal(response.status, 200);
    }
    for (const spoofed of ['203.0.113.99', '198.51.100.7, 203.0.113.1', '::1', 'unknown'])
      await assertLimited(`${url}/items`, { 'x-forwarded-for': spoofed, 'x-real-ip': spoofed });
  });

  it('when TRUST_PROXY names the proxy (loopback here), then each forwarded client has its own budget', async () => {
    const { url } = await start({ TRUST_PROXY: 'loopback' });
    for (let i = 0; i < LIMIT; i++)
      assert.equal(
        (await jsonRequest(`${url}/items`, 'GET', undefined, { 'x-forwarded-for': '203.0.113.1' })).status,
        200,
      );
    await assertLimited(`${url}/items`, { 'x-forwarded-for': '203.0.113.1' });
    const other = await jsonRequest(`${url}/items`, 'GET', undefined, { 'x-forwarded-for': '203.0.113.2' });
    assert.equal(other.status, 200);
  });

  it('when TRUST_PROXY names another proxy, then a loopback client cannot use X-Forwarded-For either', async () => {
    const { url } = await start({ TRUST_PROXY: '10.0.0.1' });
    for (let i = 0; i < LIMIT; i++)
      assert.equal(
        (await jsonRequest(`${url}/items`, 'GET', undefined, { 'x-forwarded-for': `203.0.113.${i}` })).status,
        200,
      );
    await assertLimited(`${url}/items`, { 'x-forwarded-for': '203.0.113.50' });
  });

  it('when a client guesses API keys, then the guesses spend its budget too', async () => {
    const { url } = await start({ API_KEYS: 'rate-limit-key-0123456789' });
    for (let i = 0; i < LIMIT; i++) {
      const guess = await jsonRequest(
        `${url}/items`,
        'POST',
        { name: 'x' },
        { authorization: `Bearer guess-${i}-0123456789abcdef` },
      );
      assert.equal(guess.status, 401);
    }
    const response = await jsonRequest(
      `${url}/items`,
      'POST',
      { name: 'x' },
      { authorization: 'Bearer rate-limit-key-0123456789' },
    );
    assert.equal(response.status, 429);
  });

  it('when a refused client waits the Retry-After it was given, then it is served again, with its whole budget', async () => {
    // The shortest window there is: the test waits it out once.
    const { url } = await start({ RATE_LIMIT_WINDOW: '1s' });
    for (let i = 0; i < LIMIT; i++) assert.equal((await jsonRequest(`${url}/items`, 'GET')).status, 200);
    const refused = await jsonRequest(`${url}/items`, 'GET');
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.equal(retryAfter, 1);

    await delay(retryAfter * 1000);
    const again = await jsonRequest(`${url}/items`, 'GET');

    assert.equal(again.status, 200);
    assert.equal(again.headers.get('ratelimit-remaining'), String(LIMIT - 1));
    assert.equal(again.headers.get('ratelimit-reset'), '1');
  });

  it('when RATE_LIMIT_MAX=0, then nothing is limited and no RateLimit-* header is sent', async () => {
    const { url } = await start({ RATE_LIMIT_MAX: '0' });
    for (let i = 0; i < LIMIT * 3; i++) {
      const response = await jsonRequest(`${url}/items`, 'GET');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('ratelimit-limit'), null);
    }
  });
});
