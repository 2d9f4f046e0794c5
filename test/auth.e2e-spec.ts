import assert from './support/assert.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { assertProblem, jsonRequest } from './support/http.js';
import { type RunningApp, startApp } from './support/in-process-app.js';
import { runServerToExit, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const KEY_A = 'auth-key-a-0123456789abcdef';
const KEY_B = 'auth-key-b-0123456789abcdef';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function assertUnauthenticated(url: string, method: string, headers: Record<string, string>, body?: unknown) {
  const response = await jsonRequest(url, method, body, headers);
  assertProblem(response, 401);
  assert.equal(response.body.code, 'UNAUTHENTICATED');
  assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="items-service"');
  // The presented key is never echoed back.
  for (const value of Object.values(headers)) {
    const token = value.split(' ').at(-1)!;
    if (token.length >= 16) assert.ok(!JSON.stringify(response.body).includes(token), 'the key is echoed');
  }
}

describe('Auth: API_KEYS, writes protected, reads open', () => {
  const temp = makeTempDir();
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ DB_PATH: temp.dbPath, API_KEYS: `${KEY_A}, ${KEY_B}` });
  });
  afterAll(async () => {
    await running.close();
    temp.remove();
  });

  it('when a write has no key, a wrong key, a truncated or extended key, or another scheme, then 401', async () => {
    const url = `${running.url}/items`;
    for (const headers of [
      {},
      bearer('wrong-key-0123456789abcdef'),
      bearer(KEY_A.slice(0, -1)),
      bearer(`${KEY_A}x`),
      { authorization: `Basic ${KEY_A}` },
      { authorization: KEY_A },
      { authorization: 'Bearer' },
    ])
      await assertUnauthenticated(url, 'POST', headers, { name: 'x' });
    await assertUnauthenticated(`${url}/any`, 'PATCH', {}, { name: 'x' });
    await assertUnauthenticated(`${url}/any`, 'DELETE', bearer('wrong-key-0123456789abcdef'));
    assert.deepEqual((await jsonRequest(url, 'GET')).body.items, [], 'nothing was written');
  });

  it('when a write has either configured key (any case of "Bearer"), then it is done', async () => {
    const url = `${running.url}/items`;
    assert.equal((await jsonRequest(url, 'POST', { id: 'a', name: 'x' }, bearer(KEY_A))).status, 201);
    assert.equal((await jsonRequest(url, 'POST', { id: 'b', name: 'x' }, bearer(KEY_B))).status, 201);
    const lower = await jsonRequest(`${url}/a`, 'PATCH', { name: 'y' }, { authorization: `bearer ${KEY_B}` });
    assert.equal(lower.status, 200);
    assert.equal((await jsonRequest(`${url}/b`, 'DELETE', undefined, bearer(KEY_A))).status, 204);
  });

  it('when AUTH_READS is not set, then reads need no key', async () => {
    assert.equal((await jsonRequest(`${running.url}/items`, 'GET')).status, 200);
    assert.equal((await jsonRequest(`${running.url}/items/a`, 'GET')).status, 200);
  });
});

describe('Auth: keys from API_KEYS_FILE, reads closed with AUTH_READS=true', () => {
  const temp = makeTempDir();
  let running: RunningApp;
  beforeAll(async () => {
    const keysFile = path.join(temp.dir, 'api-keys');
    // As a mounted Secret holds them: one key per line, a trailing newline.
    writeFileSync(keysFile, `${KEY_A}\n${KEY_B}\n`, { mode: 0o600 });
    running = await startApp({ DB_PATH: temp.dbPath, API_KEYS_FILE: keysFile, AUTH_READS: 'true' });
  });
  afterAll(async () => {
    await running.close();
    temp.remove();
  });

  it('when a key from the file is sent, then writes and reads are done; without one, 401', async () => {
    const url = `${running.url}/items`;
    assert.equal((await jsonRequest(url, 'POST', { id: 'f', name: 'x' }, bearer(KEY_B))).status, 201);
    await assertUnauthenticated(url, 'POST', bearer('not-in-the-file-0123456789'), { name: 'x' });
    await assertUnauthenticated(url, 'GET', {});
    await assertUnauthenticated(`${url}/f`, 'GET', bearer('not-in-the-file-0123456789'));
    assert.equal((await jsonRequest(`${url}/f`, 'GET', undefined, bearer(KEY_A))).status, 200);
  });

  it('when reads are closed, then health, metrics and the OpenAPI document stay open', async () => {
    for (const path of ['/healthz', '/readyz', '/startupz', '/metrics', '/openapi.json'])
      assert.equal((await fetch(`${running.url}${path}`)).status, 200, path);
  });
});

describe('Auth in prod (the built server)', () => {
  const temp = makeTempDir();
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    temp.remove();
  });

  it('when APP_ENV=prod has neither API_KEYS nor AUTH_DISABLED=true, then start-up stops naming both', async () => {
    const run = await runServerToExit({ APP_ENV: 'prod', DB_PATH: temp.dbPath });
    assert.equal(run.code, 78, run.stderr);
    assert.match(run.stderr, /API_KEYS \(or API_KEYS_FILE\) must be set when APP_ENV=prod/);
    assert.match(run.stderr, /AUTH_DISABLED=true/);
  });

  it('when APP_ENV=prod has AUTH_DISABLED=true, then it starts, warns that authentication is off, and writes need no key', async () => {
    server = await startServer({ APP_ENV: 'prod', DB_PATH: temp.dbPath, AUTH_DISABLED: 'true' });
    const warning = server
      .stdout()
      .split('\n')
      .find((line) => line.includes('authentication is off'));
    assert.ok(warning, server.stdout());
    assert.equal(JSON.parse(warning).level, 'warn');
    assert.match(warning, /AUTH_DISABLED=true/);
    assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { name: 'x' })).status, 201);
  });

  it('when APP_ENV=prod has both API_KEYS and AUTH_DISABLED=true, then start-up stops: one must be chosen', async () => {
    const run = await runServerToExit({
      APP_ENV: 'prod',
      DB_PATH: temp.dbPath,
      API_KEYS: KEY_A,
      AUTH_DISABLED: 'true',
    });
    assert.equal(run.code, 78);
    assert.match(run.stderr, /API_KEYS and AUTH_DISABLED=true are both set/);
  });
});
