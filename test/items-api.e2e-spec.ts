import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { assertProblem, jsonRequest } from './support/http.js';
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
