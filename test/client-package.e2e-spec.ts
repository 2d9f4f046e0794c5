import assert from './support/assert.js';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, it } from '@jest/globals';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type * as clientPackage from '../clients/typescript/dist/index.js';
import type { ItemsClient, ProblemCode } from '../clients/typescript/dist/index.js';
import { assertMatchesContract, OPENAPI_DOCUMENT_PATH } from './support/openapi-contract.js';
import { PROJECT_ROOT, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const run = promisify(execFile);
const PACKAGE_DIR = path.join(PROJECT_ROOT, 'clients/typescript');
/**
 * The built package, as a consumer gets it (clients/typescript/dist, built by `npm run client`). Imported by
 * its path from the project root: this file runs from build/test/, where a relative import would miss it.
 */
const loadPackage = async () =>
  (await import(pathToFileURL(path.join(PACKAGE_DIR, 'dist/index.js')).href)) as typeof clientPackage;

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const result: T[] = [];
  for await (const item of items) result.push(item);
  return result;
}
const readJson = <T>(file: string) => JSON.parse(readFileSync(file, 'utf8')) as T;

interface Exchange {
  method: string;
  url: string;
  requestHeaders: Headers;
  status: number;
  headers: Headers;
  body: string;
}

describe('The TypeScript client package (clients/typescript)', () => {
  it('when its package.json is read, then its version is the document info.version and its exports are built', () => {
    const pkg = readJson<{
      name: string;
      version: string;
      exports: Record<string, { types: string; default: string }>;
    }>(path.join(PACKAGE_DIR, 'package.json'));
    const document = readJson<{ info: { version: string } }>(OPENAPI_DOCUMENT_PATH);
    assert.equal(pkg.name, '@items-service/client');
    assert.equal(pkg.version, document.info.version, 'clients/typescript/package.json version = info.version');
    for (const [entry, target] of Object.entries(pkg.exports)) {
      for (const file of [target.types, target.default]) {
        assert.ok(existsSync(path.join(PACKAGE_DIR, file)), `${entry}: ${file} is built`);
      }
    }
  });

  it('when installed under its name, then a consumer imports it by name, through its exports', async () => {
    const project = makeTempDir('items-consumer-');
    try {
      mkdirSync(path.join(project.dir, 'node_modules/@items-service'), { recursive: true });
      symlinkSync(PACKAGE_DIR, path.join(project.dir, 'node_modules/@items-service/client'), 'dir');
      const consumer = path.join(project.dir, 'consumer.mjs');
      writeFileSync(
        consumer,
        "import { createItemsClient, ItemsApiError } from '@items-service/client';\n" +
          "import '@items-service/client/items-api';\n" +
          'console.log(typeof createItemsClient, typeof ItemsApiError);\n',
      );
      const { stdout } = await run(process.execPath, [consumer], { cwd: project.dir });
      assert.equal(stdout.trim(), 'function function');
    } finally {
      project.remove();
    }
  });
});

describe('The TypeScript client package, used as a consumer would, against the built server', () => {
  const temp = makeTempDir();
  const key = 'package-key-0123456789abcdef';
  let server: ServerProcess;
  let exchanges: Exchange[];
  /** When set, the next POST reaches the server, but its answer is lost on the way back. */
  let dropNextPostAnswer = false;
  let ItemsApiError: typeof clientPackage.ItemsApiError;
  let client: ItemsClient;
  let anonymous: ItemsClient;

  // Each exchange is recorded and checked against the document.
  const recordingFetch = async (request: Request) => {
    const requestHeaders = new Headers(request.headers);
    const response = await fetch(request);
    const body = await response.clone().text();
    assertMatchesContract(request.method, request.url, response.status, response.headers, body);
    exchanges.push({
      method: request.method,
      url: request.url,
      requestHeaders,
      status: response.status,
      headers: response.headers,
      body,
    });
    if (request.method === 'POST' && dropNextPostAnswer) {
      dropNextPostAnswer = false;
      throw new TypeError('fetch failed (the connection dropped before the answer arrived)');
    }
    return response;
  };

  beforeAll(async () => {
    server = await startServer({ DB_PATH: temp.dbPath, API_KEYS: key });
    const loaded = await loadPackage();
    const { createItemsClient } = loaded;
    ItemsApiError = loaded.ItemsApiError;
    client = createItemsClient({ baseUrl: server.url, apiKey: key, fetch: recordingFetch });
    anonymous = createItemsClient({ baseUrl: server.url, fetch: recordingFetch });
  });
  beforeEach(() => {
    exchanges = [];
  });
  afterAll(async () => {
    await server.stop();
    temp.remove();
  });

  it('when used for create, get, update, list and delete, then each call returns the typed item', async () => {
    const created = await client.createItem({ id: 'pkg-1', name: '  Kettle  ' });
    assert.equal(created.item.name, 'Kettle');
    assert.match(created.etag, /^"[^"]+"$/, 'the ETag, kept for If-Match');
    assert.equal(created.replayed, false);
    assert.equal((await client.getItem('pkg-1')).name, 'Kettle');

    const updated = await client.updateItem('pkg-1', { name: 'Teapot' }, { ifMatch: created.etag });
    assert.equal(updated.item.version, 2);
    await client.createItem({ id: 'pkg-2', name: 'Mug' });

    const listed = [];
    for await (const item of client.listItems({ limit: 1 })) listed.push(item.id);
    assert.deepEqual(listed, ['pkg-1', 'pkg-2']);
    assert.equal(exchanges.filter((e) => e.method === 'GET' && e.url.includes('/items?')).length, 2, 'one page each');

    await client.deleteItem('pkg-1', { ifMatch: updated.etag });
    await client.deleteItem('pkg-2');
    assert.deepEqual(await all(client.listItems()), []);
  });

  it('when a call fails, then it throws ItemsApiError whose code narrows to the documented codes', async () => {
    const codeOf = async (call: Promise<unknown>): Promise<ProblemCode> => {
      try {
        await call;
      } catch (err) {
        if (err instanceof ItemsApiError) return err.code;
        throw err;
      }
      assert.fail('expected an ItemsApiError');
    };
    // What a consumer writes: advice by code, checked by the compiler against the enum.
    const ADVICE: Partial<Record<ProblemCode, string>> = {
      ITEM_NOT_FOUND: 'create it first',
      ITEM_VERSION_MISMATCH: 'fetch it again',
      UNAUTHENTICATED: 'send a key',
      // @ts-expect-error: a code the document does not list is no key of Record<ProblemCode, ...>
      NO_SUCH_CODE: 'never',
    };
    const advice = (code: ProblemCode) => ADVICE[code] ?? 'report it';
    assert.equal(advice(await codeOf(client.getItem('missing'))), 'create it first');
    await client.createItem({ id: 'pkg-3', name: 'a' });
    assert.equal(advice(await codeOf(client.updateItem('pkg-3', { name: 'b' }, { ifMatch: '"9"' }))), 'fetch it again');
    assert.equal(advice(await codeOf(anonymous.createItem({ name: 'x' }))), 'send a key');
    assert.equal(await codeOf(client.createItem({ id: 'pkg-3', name: 'again' })), 'ITEM_ALREADY_EXISTS');
    assert.equal(await codeOf(client.createItem({ name: '' })), 'VALIDATION_FAILED');
  });

  it('when an item fetched before is fetched again, then the client revalidates it: If-None-Match, 304, the cached item', async () => {
    const { item, etag } = await client.createItem({ id: 'pkg-4', name: 'Cached' });
    const first = await client.getItem('pkg-4');
    assert.deepEqual(first, item);

    const again = await client.getItem('pkg-4');

    assert.deepEqual(again, item);
    const revalidation = exchanges.at(-1)!;
    assert.equal(revalidation.requestHeaders.get('if-none-match'), etag);
    assert.equal(revalidation.status, 304);
    assert.equal(revalidation.headers.get('etag'), etag);
    assert.equal(revalidation.body, '');

    // Once the item changes, the same call gets the new one (200), not the cached copy.
    await client.updateItem('pkg-4', { name: 'Changed' }, { ifMatch: etag });
    const other = (await loadPackage()).createItemsClient({ baseUrl: server.url, apiKey: key, fetch: recordingFetch });
    await other.updateItem('pkg-4', { name: 'Changed twice' });
    assert.equal((await client.getItem('pkg-4')).name, 'Changed twice');
    assert.equal(exchanges.at(-1)!.status, 200);
  });

  it('when a POST is retried with its Idempotency-Key, then one item exists and the retry is the replayed first answer', async () => {
    // The first try reaches the server and creates the item, but its answer is lost: the client retries.
    dropNextPostAnswer = true;
    const created = await client.createItem({ name: 'Once' }, { idempotencyKey: 'pkg-retry-key-1' });

    const posts = exchanges.filter((e) => e.method === 'POST');
    assert.equal(posts.length, 2, 'the lost answer and the retry');
    assert.deepEqual(
      posts.map((e) => e.requestHeaders.get('idempotency-key')),
      ['pkg-retry-key-1', 'pkg-retry-key-1'],
    );
    assert.deepEqual(
      posts.map((e) => [e.status, e.headers.get('idempotent-replayed')]),
      [
        [201, null],
        [201, 'true'],
      ],
    );
    assert.equal(posts[1]!.body, posts[0]!.body, 'the replay is the first answer');
    assert.equal(created.replayed, true);

    // The same create sent again by hand, with the same key: still that one item.
    const again = await client.createItem({ name: 'Once' }, { idempotencyKey: 'pkg-retry-key-1' });
    assert.equal(again.item.id, created.item.id);
    assert.equal(again.replayed, true);
    const named = (await all(client.listItems())).filter((item) => item.name === 'Once');
    assert.equal(named.length, 1);
  });
});
