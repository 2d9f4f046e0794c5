import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { assertProblem, jsonRequest, rawRequest } from './support/http.js';
import { type RunningApp, startApp } from './support/in-process-app.js';
import { makeTempDir } from './support/temp-dir.js';

describe('Items API (real app, real HTTP, real files)', () => {
  const temp = makeTempDir();
  let running: RunningApp;
  let url: string;
  beforeAll(async () => {
    running = await startApp({ DB_PATH: temp.dbPath });
    url = running.url;
  });
  afterAll(async () => {
    await running.close();
    temp.remove();
  });

  it('when an item is created, then 201 with Location, ETag, X-Request-Id and the item', async () => {
    const response = await jsonRequest(`${url}/items`, 'POST', { name: '  demo  ' });
    assert.equal(response.status, 201);
    const item = response.body;
    assert.deepEqual(Object.keys(item), ['id', 'name', 'created_at', 'updated_at', 'version']);
    assert.equal(item.name, 'demo', 'the name is trimmed');
    assert.equal(item.version, 1);
    assert.equal(response.headers.get('location'), `/items/${item.id}`);
    assert.match(response.headers.get('etag')!, /^"1\.[0-9a-z]+"$/);
    assert.match(response.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);

    const fetched = await jsonRequest(`${url}${response.headers.get('location')}`, 'GET');
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.body, item);
    assert.equal(fetched.headers.get('etag'), response.headers.get('etag'));
  });

  it('when the client sends a well-formed X-Request-Id, then it is echoed and used in problems', async () => {
    const response = await jsonRequest(`${url}/items/missing`, 'GET', undefined, { 'x-request-id': 'req-123.abc' });
    assert.equal(response.headers.get('x-request-id'), 'req-123.abc');
    assert.equal(response.body.request_id, 'req-123.abc');
    const bad = await jsonRequest(`${url}/items/missing`, 'GET', undefined, { 'x-request-id': 'bad id with spaces' });
    assert.match(bad.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  });

  it('when an id is chosen and taken, then 409 problem+json', async () => {
    assert.equal((await jsonRequest(`${url}/items`, 'POST', { id: 'chosen-1', name: 'a' })).status, 201);
    const again = await jsonRequest(`${url}/items`, 'POST', { id: 'chosen-1', name: 'b' });
    assertProblem(again, 409);
    assert.equal(again.body.code, 'ITEM_ALREADY_EXISTS');
  });

  it('when patching with the current ETag, then 200 and a new ETag; with a stale one, then 412', async () => {
    const created = await jsonRequest(`${url}/items`, 'POST', { id: 'patch-me', name: 'a' });
    const etag = created.headers.get('etag')!;
    const patched = await jsonRequest(`${url}/items/patch-me`, 'PATCH', { name: 'b' }, { 'if-match': etag });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.name, 'b');
    assert.equal(patched.body.version, 2);
    assert.notEqual(patched.headers.get('etag'), etag);
    const stale = await jsonRequest(`${url}/items/patch-me`, 'PATCH', { name: 'c' }, { 'if-match': etag });
    assertProblem(stale, 412);
    assert.equal((await jsonRequest(`${url}/items/patch-me`, 'GET')).body.name, 'b');
    const unconditional = await jsonRequest(`${url}/items/patch-me`, 'PATCH', { name: 'd' });
    assert.equal(unconditional.body.version, 3);
  });

  it('when patching a field the server owns or an unknown field, then 400 and nothing changes', async () => {
    await jsonRequest(`${url}/items`, 'POST', { id: 'owned', name: 'a' });
    for (const body of [{ name: 'x', version: 9 }, { name: 'x', id: 'other' }, { name: 'x', created_at: 'y' }, {}]) {
      const response = await jsonRequest(`${url}/items/owned`, 'PATCH', body);
      assertProblem(response, 400);
      assert.ok(Array.isArray(response.body.errors) && response.body.errors.length > 0);
    }
    assert.equal((await jsonRequest(`${url}/items/owned`, 'GET')).body.version, 1);
  });

  it('when deleting, then 204, then 404 for the item and for a second delete', async () => {
    await jsonRequest(`${url}/items`, 'POST', { id: 'delete-me', name: 'a' });
    const deleted = await fetch(`${url}/items/delete-me`, { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    assert.equal(await deleted.text(), '');
    assertProblem(await jsonRequest(`${url}/items/delete-me`, 'GET'), 404);
    assertProblem(await jsonRequest(`${url}/items/delete-me`, 'DELETE'), 404);
  });

  it('when deleting with a stale If-Match, then 412 and the item stays', async () => {
    const created = await jsonRequest(`${url}/items`, 'POST', { id: 'guarded', name: 'a' });
    await jsonRequest(`${url}/items/guarded`, 'PATCH', { name: 'b' });
    const response = await jsonRequest(`${url}/items/guarded`, 'DELETE', undefined, {
      'if-match': created.headers.get('etag')!,
    });
    assertProblem(response, 412);
    assert.equal((await jsonRequest(`${url}/items/guarded`, 'GET')).status, 200);
  });

  it('when listing with a limit, then pages follow (created_at, id) order with no gaps or repeats', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      ids.push((await jsonRequest(`${url}/items`, 'POST', { name: `page ${i}` })).body.id as string);
    }
    const all = (await jsonRequest(`${url}/items?limit=1000`, 'GET')).body.items as Array<{
      id: string;
      created_at: string;
    }>;
    const sorted = [...all].sort((a, b) =>
      a.created_at === b.created_at ? (a.id < b.id ? -1 : 1) : a.created_at < b.created_at ? -1 : 1,
    );
    assert.deepEqual(all, sorted);

    const seen: string[] = [];
    let next: string | null = null;
    do {
      const page = await jsonRequest(`${url}/items?limit=7${next ? `&cursor=${next}` : ''}`, 'GET');
      assert.equal(page.status, 200);
      assert.ok(page.body.items.length <= 7);
      seen.push(...page.body.items.map((i: { id: string }) => i.id));
      next = page.body.next_cursor;
    } while (next !== null);
    assert.deepEqual(
      seen,
      all.map((i) => i.id),
    );
    for (const id of ids) assert.ok(seen.includes(id));
  });

  it('when listing without a limit, then at most 50 items come back', async () => {
    const page = await jsonRequest(`${url}/items`, 'GET');
    assert.ok(page.body.items.length <= 50);
    assert.ok('next_cursor' in page.body);
  });

  for (const query of [
    'limit=0',
    'limit=1001',
    'limit=abc',
    'limit=1.5',
    'cursor=garbage',
    'limit=5&limit=6',
    'other=1',
  ]) {
    it(`when listing with ${query}, then 400 problem+json`, async () => {
      assertProblem(await jsonRequest(`${url}/items?${query}`, 'GET'), 400);
    });
  }

  it('when the id in the path is not a valid id, then 400', async () => {
    assertProblem(await jsonRequest(`${url}/items/${'x'.repeat(65)}`, 'GET'), 400);
    assertProblem(await jsonRequest(`${url}/items/a%20b`, 'GET'), 400);
  });

  /** One request as raw bytes, so that a body the server sent where it must not shows. */
  const raw = (method: string, path: string, headers: Record<string, string> = {}) =>
    rawRequest(
      url,
      [`${method} ${path} HTTP/1.1`, `Host: ${new URL(url).host}`, 'Connection: close']
        .concat(Object.entries(headers).map(([name, value]) => `${name}: ${value}`))
        .join('\r\n') + '\r\n\r\n',
      10_000,
      { halfClose: false },
    );

  it('when GET or HEAD /items/{id} has an If-None-Match naming the current ETag (alone, weak, in a list, or *), then 304 with that ETag and no body or Content-Type', async () => {
    const created = await jsonRequest(`${url}/items`, 'POST', { id: 'cached', name: 'a' });
    const etag = created.headers.get('etag')!;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, ` "x" ,, W/${etag} `, '*']) {
      const checked = await jsonRequest(`${url}/items/cached`, 'GET', undefined, { 'if-none-match': ifNoneMatch });
      assert.equal(checked.status, 304, ifNoneMatch);
      assert.equal(checked.headers.get('etag'), etag, ifNoneMatch);
      for (const method of ['GET', 'HEAD']) {
        const response = await raw(method, '/items/cached', { 'If-None-Match': ifNoneMatch });
        const where = `${method} with If-None-Match: ${ifNoneMatch}`;
        assert.equal(response.status, 304, where);
        assert.equal(response.headers.etag, etag, where);
        assert.match(response.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/, where);
        assert.ok(response.headers.date, where);
        assert.equal(response.body, '', where);
        assert.equal(response.headers['content-type'], undefined, where);
        assert.equal(response.headers['content-length'], undefined, where);
      }
    }
  });

  it('when the item has changed since the ETag in If-None-Match, or it names other tags only, then 200 with the item and its new ETag', async () => {
    const created = await jsonRequest(`${url}/items`, 'POST', { id: 'revalidated', name: 'a' });
    const old = created.headers.get('etag')!;
    const other = await jsonRequest(`${url}/items/revalidated`, 'GET', undefined, { 'if-none-match': '"1.other"' });
    assert.equal(other.status, 200);
    assert.equal(other.body.name, 'a');
    const patched = await jsonRequest(`${url}/items/revalidated`, 'PATCH', { name: 'b' });
    for (const ifNoneMatch of [old, `W/${old}`]) {
      const response = await jsonRequest(`${url}/items/revalidated`, 'GET', undefined, {
        'if-none-match': ifNoneMatch,
      });
      assert.equal(response.status, 200, ifNoneMatch);
      assert.equal(response.body.name, 'b');
      assert.equal(response.headers.get('etag'), patched.headers.get('etag'));
    }
    // A condition is no reason to hide that the item is gone.
    assertProblem(await jsonRequest(`${url}/items/never-was`, 'GET', undefined, { 'if-none-match': '*' }), 404);
  });

  it('when If-Match or If-None-Match is not * or a list of entity-tags, then 400 INVALID_PRECONDITION on GET, PATCH and DELETE, and nothing changes', async () => {
    const created = await jsonRequest(`${url}/items`, 'POST', { id: 'preconditioned', name: 'a' });
    const etag = created.headers.get('etag')!;
    const malformed = [
      'nonsense',
      '"unterminated',
      'W/ "spaced"',
      'w/"lower"',
      '"a" "b"',
      `${etag} x`,
      '*, "a"',
      // A space is not an etagc.
      '"with space"',
      '"quote"inside"',
    ];
    for (const value of malformed) {
      const responses = [
        await jsonRequest(`${url}/items/preconditioned`, 'GET', undefined, { 'if-none-match': value }),
        await jsonRequest(`${url}/items/preconditioned`, 'PATCH', { name: 'b' }, { 'if-match': value }),
        await jsonRequest(`${url}/items/preconditioned`, 'DELETE', undefined, { 'if-match': value }),
      ];
      for (const response of responses) {
        assertProblem(response, 400);
        assert.equal(response.body.code, 'INVALID_PRECONDITION', value);
      }
    }
    const after = await jsonRequest(`${url}/items/preconditioned`, 'GET');
    assert.equal(after.status, 200);
    assert.equal(after.headers.get('etag'), etag, 'neither the PATCHes nor the DELETEs changed it');
  });

  it('when If-None-Match or If-Match is an empty list (RFC 9110 #entity-tag), then it names no tag: 200 on GET, 412 on PATCH', async () => {
    await jsonRequest(`${url}/items`, 'POST', { id: 'empty-condition', name: 'a' });
    for (const value of ['', ' , ']) {
      const read = await jsonRequest(`${url}/items/empty-condition`, 'GET', undefined, { 'if-none-match': value });
      assert.equal(read.status, 200, JSON.stringify(value));
      const write = await jsonRequest(`${url}/items/empty-condition`, 'PATCH', { name: 'b' }, { 'if-match': value });
      assertProblem(write, 412);
    }
  });

  it('when If-Match is a well-formed weak tag of the current version, then 412 (strong comparison); the strong tag in a list, then 200', async () => {
    const created = await jsonRequest(`${url}/items`, 'POST', { id: 'strong', name: 'a' });
    const etag = created.headers.get('etag')!;
    const weak = await jsonRequest(`${url}/items/strong`, 'PATCH', { name: 'b' }, { 'if-match': `W/${etag}` });
    assertProblem(weak, 412);
    assert.equal(weak.body.code, 'ITEM_VERSION_MISMATCH');
    assertProblem(await jsonRequest(`${url}/items/strong`, 'DELETE', undefined, { 'if-match': `W/${etag}` }), 412);
    const listed = await jsonRequest(`${url}/items/strong`, 'PATCH', { name: 'b' }, { 'if-match': `"x", ${etag}` });
    assert.equal(listed.status, 200);
    const star = await jsonRequest(`${url}/items/strong`, 'DELETE', undefined, { 'if-match': '*' });
    assert.equal(star.status, 204);
  });

  it('when a known path is asked with a method it does not have, then 405 METHOD_NOT_ALLOWED with Allow listing exactly its methods; an unknown path stays 404', async () => {
    await jsonRequest(`${url}/items`, 'POST', { id: 'allowed', name: 'a' });
    for (const [method, path, allow] of [
      ['PUT', '/items/allowed', 'DELETE, GET, HEAD, PATCH'],
      ['POST', '/items/allowed', 'DELETE, GET, HEAD, PATCH'],
      ['OPTIONS', '/items/allowed', 'DELETE, GET, HEAD, PATCH'],
      ['DELETE', '/items', 'GET, HEAD, POST'],
      ['PATCH', '/items?limit=1', 'GET, HEAD, POST'],
      ['PATCH', '/healthz', 'GET, HEAD'],
      ['DELETE', '/readyz', 'GET, HEAD'],
      ['POST', '/startupz', 'GET, HEAD'],
      ['POST', '/metrics', 'GET, HEAD'],
      ['PUT', '/openapi.json', 'GET, HEAD'],
      ['POST', '/admin/log-level', 'GET, HEAD, PUT'],
    ] as const) {
      // A JSON body: a write without one is refused (415) before routing is looked at.
      const body = ['PUT', 'POST', 'PATCH'].includes(method) ? { name: 'x' } : undefined;
      const response = await jsonRequest(`${url}${path}`, method, body);
      assertProblem(response, 405);
      assert.equal(response.body.code, 'METHOD_NOT_ALLOWED', `${method} ${path}`);
      assert.equal(response.headers.get('allow'), allow, `${method} ${path}`);
    }
    for (const [method, path] of [
      ['GET', '/no-such-route'],
      ['PUT', '/no-such-route'],
      ['GET', '/items/allowed/more'],
      ['DELETE', '/items/'],
      ['GET', '/Items'],
    ] as const) {
      const response = await jsonRequest(`${url}${path}`, method, method === 'PUT' ? { name: 'x' } : undefined);
      assertProblem(response, 404);
      assert.equal(response.body.code, 'ROUTE_NOT_FOUND', `${method} ${path}`);
      assert.equal(response.headers.get('allow'), null, `${method} ${path}`);
    }
    assert.equal((await jsonRequest(`${url}/items/allowed`, 'GET')).body.name, 'a', 'the PUT and POST changed nothing');
  });

  it('when HEAD is asked of each GET route, then the GET’s status and headers, and no body', async () => {
    await jsonRequest(`${url}/items`, 'POST', { id: 'headed', name: 'a' });
    // Bodies that change from one request to the next: their length may differ.
    const volatile = new Set(['/healthz', '/readyz', '/startupz', '/metrics']);
    for (const path of [
      '/items',
      '/items?limit=1',
      '/items/headed',
      '/items/missing',
      '/healthz',
      '/readyz',
      '/startupz',
      '/metrics',
      '/openapi.json',
      '/docs',
      '/admin/log-level',
    ]) {
      const get = await raw('GET', path);
      const head = await raw('HEAD', path);
      assert.equal(head.status, get.status, path);
      assert.equal(head.body, '', `HEAD ${path} sent a body`);
      assert.ok(get.body.length > 0, `GET ${path} has a body`);
      const comparable = (headers: Record<string, string>) =>
        Object.entries(headers)
          .filter(([name]) => !['date', 'x-request-id'].includes(name))
          .map(([name, value]) => (name === 'content-length' && volatile.has(path) ? [name, '*'] : [name, value]));
      assert.deepEqual(comparable(head.headers), comparable(get.headers), path);
      if (!volatile.has(path)) assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)), path);
    }
  });
});

describe('Items API with API keys', () => {
  const temp = makeTempDir();
  const key = 'test-key-0123456789abcdef';
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ DB_PATH: temp.dbPath, API_KEYS: key });
  });
  afterAll(async () => {
    await running.close();
    temp.remove();
  });

  it('when a write has no key or a wrong key, then 401 with WWW-Authenticate; with the key, then 201', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong-key-0123456789' },
      { authorization: `Basic ${key}` },
    ];
    for (const headers of attempts) {
      const response = await jsonRequest(`${running.url}/items`, 'POST', { name: 'a' }, headers);
      assertProblem(response, 401);
      assert.match(response.headers.get('www-authenticate')!, /^Bearer/);
    }
    const ok = await jsonRequest(`${running.url}/items`, 'POST', { name: 'a' }, { authorization: `Bearer ${key}` });
    assert.equal(ok.status, 201);
  });

  it('when reads are not protected, then a read needs no key', async () => {
    assert.equal((await jsonRequest(`${running.url}/items`, 'GET')).status, 200);
  });
});
