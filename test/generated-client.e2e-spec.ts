import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import createClient from 'openapi-fetch';
import type { components, paths } from '../clients/typescript/dist/items-api.js';
import { assertMatchesContract } from './support/openapi-contract.js';
import { type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

type Problem = components['schemas']['Problem'];

/**
 * A client as a team would generate it: `openapi-typescript` turns openapi/openapi.json into the client
 * package's types (clients/typescript, `npm run client`, before every build of the tests), used here
 * directly with openapi-fetch, so this file is type-checked against the document: a renamed operation,
 * field or parameter fails the build. test/client-package.e2e-spec.ts uses the package's own client.
 */
describe('Generated TypeScript client (openapi-typescript + openapi-fetch) against the built server', () => {
  const temp = makeTempDir();
  const key = 'client-key-0123456789abcdef';
  let server: ServerProcess;
  let client: ReturnType<typeof createClient<paths>>;
  let anonymous: ReturnType<typeof createClient<paths>>;
  // Every response the client receives is checked against the document too.
  const validatingFetch = async (request: Request) => {
    const response = await fetch(request);
    const text = await response.clone().text();
    assertMatchesContract(request.method, request.url, response.status, response.headers, text);
    return response;
  };

  beforeAll(async () => {
    server = await startServer({ DB_PATH: temp.dbPath, API_KEYS: key });
    client = createClient<paths>({
      baseUrl: server.url,
      fetch: validatingFetch,
      headers: { authorization: `Bearer ${key}` },
    });
    anonymous = createClient<paths>({ baseUrl: server.url, fetch: validatingFetch });
  });
  afterAll(async () => {
    await server.stop();
    temp.remove();
  });

  it('when used for the whole CRUD flow, then each call returns the typed result', async () => {
    const created = await client.POST('/items', { body: { id: 'ts-1', name: '  Kettle  ' } });
    assert.equal(created.response.status, 201);
    assert.equal(created.data?.name, 'Kettle');
    assert.equal(created.response.headers.get('location'), '/items/ts-1');
    const etag = created.response.headers.get('etag')!;

    const got = await client.GET('/items/{id}', { params: { path: { id: 'ts-1' } } });
    assert.deepEqual(got.data, created.data);
    // Revalidation with the typed If-None-Match parameter. openapi-fetch returns data only for a 2xx,
    // so a 304 is told by its status (its `error` is the empty body): the cached copy is still current.
    const revalidated = await client.GET('/items/{id}', {
      params: { path: { id: 'ts-1' }, header: { 'If-None-Match': etag } },
    });
    assert.equal(revalidated.response.status, 304);
    assert.equal(revalidated.data, undefined);
    assert.equal(revalidated.response.headers.get('etag'), etag);

    await client.POST('/items', { body: { name: 'Mug' } });
    const page = await client.GET('/items', { params: { query: { limit: 1 } } });
    assert.equal(page.data?.items.length, 1);
    const cursor = page.data?.next_cursor;
    assert.ok(typeof cursor === 'string');
    const next = await client.GET('/items', { params: { query: { limit: 1, cursor } } });
    assert.equal(next.data?.items[0]?.name, 'Mug');
    assert.equal(next.data?.next_cursor, null);

    const updated = await client.PATCH('/items/{id}', {
      params: { path: { id: 'ts-1' }, header: { 'If-Match': etag } },
      body: { name: 'Teapot' },
    });
    assert.equal(updated.data?.version, 2);

    const deleted = await client.DELETE('/items/{id}', {
      params: { path: { id: 'ts-1' }, header: { 'If-Match': updated.response.headers.get('etag')! } },
    });
    assert.equal(deleted.response.status, 204);
    const gone = await client.GET('/items/{id}', { params: { path: { id: 'ts-1' } } });
    assert.equal(gone.response.status, 404);
  });

  it('when a call fails, then `error` is the typed problem, with the documented status and code', async () => {
    const expectProblem = (error: Problem | undefined, status: number, code: string) => {
      assert.equal(error?.status, status);
      assert.equal(error?.code, code);
    };
    const missing = await client.GET('/items/{id}', { params: { path: { id: 'nope' } } });
    expectProblem(missing.error, 404, 'ITEM_NOT_FOUND');

    await client.POST('/items', { body: { id: 'ts-2', name: 'a' } });
    const taken = await client.POST('/items', { body: { id: 'ts-2', name: 'b' } });
    expectProblem(taken.error, 409, 'ITEM_ALREADY_EXISTS');

    const invalid = await client.POST('/items', { body: { name: '' } });
    expectProblem(invalid.error, 400, 'VALIDATION_FAILED');
    assert.equal(invalid.error?.errors?.[0]?.field, 'name');

    const stale = await client.PATCH('/items/{id}', {
      params: { path: { id: 'ts-2' }, header: { 'If-Match': '"99"' } },
      body: { name: 'c' },
    });
    expectProblem(stale.error, 412, 'ITEM_VERSION_MISMATCH');

    const badLimit = await client.GET('/items', { params: { query: { limit: 0 } } });
    expectProblem(badLimit.error, 400, 'VALIDATION_FAILED');

    const noKey = await anonymous.POST('/items', { body: { name: 'x' } });
    expectProblem(noKey.error, 401, 'UNAUTHENTICATED');
    assert.match(noKey.response.headers.get('www-authenticate')!, /^Bearer /);
    // Reads are open unless AUTH_READS=true: the document says their key is optional.
    assert.equal((await anonymous.GET('/items/{id}', { params: { path: { id: 'ts-2' } } })).response.status, 200);
  });

  it('when the probes are called through the client, then they answer as documented', async () => {
    for (const path of ['/healthz', '/readyz', '/startupz'] as const) {
      const { data } = await anonymous.GET(path);
      assert.equal(data?.status, 'ok');
    }
  });
});
