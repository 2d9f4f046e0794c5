import assert from '../../test/support/assert.js';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { startTestingApp } from '../../test/support/nest-testing.js';
import type { FastifyInstance } from 'fastify';
import type { ProblemDetails } from '../common/problem-details.filter.js';
import { loadConfig } from '../config/app-config.js';
import { configModule } from '../config/config.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import type { Item, ItemPosition } from './item.js';
import { JsonFileItemsRepository } from './json-file/json-file-items.repository.js';
import { ItemsModule } from './items.module.js';
import { LifecycleModule } from '../lifecycle/lifecycle.module.js';
import { ITEMS_REPOSITORY } from './items.repository.js';
import { InMemoryItemsRepository } from '../../test/support/in-memory-items.repository.js';

const KEY = 'controller-spec-key-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };
const config = loadConfig({ API_KEYS: KEY, LOG_LEVEL: 'silent' });

function seed(repository: InMemoryItemsRepository, ids: readonly string[]): void {
  for (const [i, id] of ids.entries()) {
    const at = new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
    repository.index.put({ id, name: `name ${id}`, created_at: at, updated_at: at, version: 1 });
  }
}

describe('ItemsModule (controller, service, guards), with the repository overridden by an in-memory one', () => {
  let app: NestFastifyApplication;
  let http: FastifyInstance;
  let repository: InMemoryItemsRepository;

  beforeEach(async () => {
    repository = new InMemoryItemsRepository();
    // The module as the app imports it; only storage is replaced: the port, and the JSON-file store
    // behind it, which would otherwise open files.
    const moduleRef = await Test.createTestingModule({
      imports: [
        await configModule(config),
        RateLimitModule.forRoot(config),
        LifecycleModule.forRoot(),
        ItemsModule.forRoot('json-file'),
      ],
    })
      .overrideProvider(JsonFileItemsRepository)
      .useValue({})
      .overrideProvider(ITEMS_REPOSITORY)
      .useValue(repository)
      .compile();
    ({ app, http } = await startTestingApp(moduleRef, { config }));
  });

  afterEach(async () => {
    await app.close();
  });

  it('when an item is created, then 201 with its Location and ETag, and the repository stored it', async () => {
    const response = await http.inject({ method: 'POST', url: '/items', headers: AUTH, payload: { name: '  a  ' } });

    assert.equal(response.statusCode, 201);
    const body = response.json<Item>();
    assert.match(body.id, /^[0-9a-f-]{36}$/);
    assert.equal(body.name, 'a');
    assert.equal(body.version, 1);
    assert.equal(response.headers.location, `/items/${body.id}`);
    assert.match(String(response.headers.etag), /^"1\.[0-9a-z]+"$/);
    assert.deepEqual(repository.calls, [['insert', body]]);
  });

  it('when an item is fetched by id, then 200 with the stored item and the same ETag its creation gave', async () => {
    const created = await http.inject({
      method: 'POST',
      url: '/items',
      headers: AUTH,
      payload: { id: 'a1', name: 'first' },
    });

    const response = await http.inject({ method: 'GET', url: '/items/a1' });

    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), created.json());
    assert.equal(response.headers.etag, created.headers.etag);
    assert.deepEqual(repository.calls.at(-1), ['findById', 'a1']);
  });

  it('when the id does not exist, then 404 problem+json that names it', async () => {
    const response = await http.inject({ method: 'GET', url: '/items/missing' });

    assert.equal(response.statusCode, 404);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    const { request_id: requestId, ...problem } = response.json<ProblemDetails>();
    assert.deepEqual(problem, {
      type: 'urn:items-service:problem:item-not-found',
      title: 'Not Found',
      status: 404,
      detail: 'Item "missing" does not exist.',
      instance: '/items/missing',
      code: 'ITEM_NOT_FOUND',
    });
    assert.equal(requestId, response.headers['x-request-id']);
    assert.deepEqual(repository.calls, [['findById', 'missing']]);
  });

  it('when the id already exists, then 409 and the stored item is untouched', async () => {
    seed(repository, ['a1']);
    const before = repository.index.get('a1');

    const response = await http.inject({
      method: 'POST',
      url: '/items',
      headers: AUTH,
      payload: { id: 'a1', name: 'other' },
    });

    assert.equal(response.statusCode, 409);
    assert.equal(response.json().code, 'ITEM_ALREADY_EXISTS');
    assert.equal(repository.index.get('a1'), before);
  });

  it('when PATCH carries the current ETag, then 200 with the next version; the old ETag is then refused with 412', async () => {
    const created = await http.inject({
      method: 'POST',
      url: '/items',
      headers: AUTH,
      payload: { id: 'a1', name: 'v1' },
    });
    const staleEtag = String(created.headers.etag);

    const updated = await http.inject({
      method: 'PATCH',
      url: '/items/a1',
      headers: { ...AUTH, 'if-match': staleEtag },
      payload: { name: 'v2' },
    });
    const callsBeforeStale = repository.calls.length;
    const refused = await http.inject({
      method: 'PATCH',
      url: '/items/a1',
      headers: { ...AUTH, 'if-match': staleEtag },
      payload: { name: 'v3' },
    });

    assert.equal(updated.statusCode, 200);
    assert.equal(updated.json().version, 2);
    assert.notEqual(updated.headers.etag, staleEtag);
    assert.equal(refused.statusCode, 412);
    assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
    assert.equal(refused.json().code, 'ITEM_VERSION_MISMATCH');
    // The precondition is checked against a read; nothing is written.
    assert.deepEqual(repository.methodsCalled().slice(callsBeforeStale), ['findById']);
    assert.equal(repository.index.get('a1')?.name, 'v2');
  });

  it('when DELETE carries the current ETag, then 204 and the item is gone', async () => {
    const created = await http.inject({
      method: 'POST',
      url: '/items',
      headers: AUTH,
      payload: { id: 'a1', name: 'x' },
    });

    const response = await http.inject({
      method: 'DELETE',
      url: '/items/a1',
      headers: { ...AUTH, 'if-match': String(created.headers.etag) },
    });

    assert.equal(response.statusCode, 204);
    assert.equal(response.body, '');
    assert.deepEqual(repository.calls.at(-1), ['remove', 'a1', 1]);
    assert.equal(repository.index.get('a1'), undefined);
  });

  it('when the list is read page by page, then each item comes once, in order, and the last cursor is null', async () => {
    const ids = ['e', 'd', 'c', 'b', 'a'];
    seed(repository, ids);

    const seen: string[] = [];
    const cursors: (string | null)[] = [];
    let url = '/items?limit=2';
    for (let page = 0; page < 5; page++) {
      const response = await http.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200);
      const body = response.json<{ items: Item[]; next_cursor: string | null }>();
      seen.push(...body.items.map((item) => item.id));
      cursors.push(body.next_cursor);
      if (body.next_cursor === null) break;
      url = `/items?limit=2&cursor=${encodeURIComponent(body.next_cursor)}`;
    }

    // Seeded one second apart: creation order, not id order.
    assert.deepEqual(seen, ids);
    assert.equal(cursors.length, 3);
    assert.equal(cursors.at(-1), null);
    assert.deepEqual(
      repository.calls.map(([method, limit, after]) => [method, limit, (after as ItemPosition | undefined)?.id]),
      [
        ['list', 2, undefined],
        ['list', 2, 'd'],
        ['list', 2, 'b'],
      ],
    );
  });

  it('when the body has a field the DTO does not know, then 400 naming it, and the repository is not called', async () => {
    const response = await http.inject({
      method: 'POST',
      url: '/items',
      headers: AUTH,
      payload: { name: 'a', version: 7 },
    });

    assert.equal(response.statusCode, 400);
    assert.equal(response.json().code, 'VALIDATION_FAILED');
    assert.deepEqual(response.json().errors, [{ field: 'version', message: 'is not a known field' }]);
    assert.deepEqual(repository.calls, []);
  });

  it('when a write comes without the API key, then 401 and the repository is not called; a read needs none', async () => {
    seed(repository, ['a1']);

    const write = await http.inject({ method: 'PATCH', url: '/items/a1', payload: { name: 'b' } });
    const read = await http.inject({ method: 'GET', url: '/items/a1' });

    assert.equal(write.statusCode, 401);
    assert.equal(write.json().code, 'UNAUTHENTICATED');
    assert.equal(read.statusCode, 200);
    assert.deepEqual(repository.methodsCalled(), ['findById']);
  });
});
