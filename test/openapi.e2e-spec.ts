import assert from './support/assert.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { generateOpenApiJson, OPENAPI_PATH } from '../scripts/openapi.js';
import { startApp, type RunningApp } from './support/in-process-app.js';
import { OpenApiContract } from './support/openapi-contract.js';
import { PROJECT_ROOT, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const committed = () => readFileSync(OPENAPI_PATH, 'utf8');

describe('OpenAPI document (generated from the code, committed, served)', () => {
  it('when generated from the code, then it is byte for byte the committed openapi/openapi.json', async () => {
    const generated = await generateOpenApiJson();
    assert.ok(generated === committed(), 'openapi/openapi.json is stale: run `npm run openapi` and commit it');
  });

  it('documents every operation with an operationId, every error as problem+json, and the headers', () => {
    const document = JSON.parse(committed()) as {
      paths: Record<string, Record<string, { operationId: string; responses: Record<string, any> }>>;
      components: {
        securitySchemes: Record<string, { scheme: string; bearerFormat?: string }>;
        headers: Record<string, unknown>;
        schemas: Record<string, { required?: string[]; properties: Record<string, { nullable?: boolean }> }>;
      };
    };
    const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
    assert.deepEqual(operations.map((operation) => operation.operationId).sort(), [
      'createItem',
      'deleteItem',
      'getItem',
      'listItems',
      'liveness',
      'readiness',
      'startup',
      'updateItem',
    ]);
    for (const operation of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue;
        assert.deepEqual(
          Object.keys(response.content),
          ['application/problem+json'],
          `${operation.operationId} ${status}`,
        );
        assert.ok(response.headers['X-Request-Id'], `${operation.operationId} ${status} documents X-Request-Id`);
      }
    }
    const get = document.paths['/items/{id}']!.get! as unknown as {
      parameters: Array<{ name: string; in: string }>;
      responses: Record<string, { headers: Record<string, unknown>; content?: unknown }>;
    };
    assert.ok(get.parameters.some((parameter) => parameter.name === 'If-None-Match' && parameter.in === 'header'));
    assert.ok(get.responses['304']!.headers.ETag, 'a 304 documents its ETag');
    assert.equal(get.responses['304']!.content, undefined, 'a 304 has no body');
    const create = document.paths['/items']!.post!.responses;
    assert.ok(create['201'].headers.Location && create['201'].headers.ETag);
    assert.ok(create['429'].headers['Retry-After'] && create['401'].headers['WWW-Authenticate']);
    assert.equal(document.components.securitySchemes.apiKey?.scheme, 'bearer');
    assert.equal(document.components.securitySchemes.apiKey?.bearerFormat, undefined, 'the keys are opaque, not JWTs');
    const page = document.components.schemas.ItemsPage!;
    assert.ok(
      page.required?.includes('next_cursor') && page.properties.next_cursor?.nullable,
      'next_cursor: required, null',
    );
    for (const probe of ['/healthz', '/readyz', '/startupz']) {
      assert.ok(document.paths[probe]!.get!.responses['503'].content['application/problem+json'], `${probe} 503`);
    }
  });

  it('when the validator is given a response that breaks the document, then it reports each violation', () => {
    const contract = new OpenApiContract();
    const json = new Headers({ 'content-type': 'application/json', 'x-request-id': 'r1', etag: '"1"' });
    const item = { id: 'a1', name: 'x', created_at: '2026-11-21T10:00:00.000Z', updated_at: 'x', version: 1 };
    assert.deepEqual(
      contract.check('GET', 'http://h/items/a1', 200, json, JSON.stringify({ ...item, updated_at: item.created_at })),
      [],
    );
    assert.equal(contract.check('GET', 'http://h/items/a1', 200, json, JSON.stringify(item))!.length, 1);
    assert.match(contract.check('GET', 'http://h/items/a1', 418, json, '{}')![0]!, /status not documented/);
    assert.match(contract.check('GET', 'http://h/items/a1', 404, json, '{}')![0]!, /content-type application\/json/);
    const problem = new Headers({ 'content-type': 'application/problem+json', 'x-request-id': 'r1' });
    assert.match(contract.check('POST', 'http://h/items', 401, problem, '{}')![0]!, /WWW-Authenticate missing/);
    const noEtag = new Headers({ 'content-type': 'application/json', 'x-request-id': 'r1' });
    const valid = JSON.stringify({ ...item, updated_at: item.created_at });
    assert.match(contract.check('GET', 'http://h/items/a1', 200, noEtag, valid)![0]!, /required header ETag missing/);
    assert.equal(contract.check('GET', 'http://h/metrics', 200, json, ''), undefined);
    // HEAD is its GET without the body; a method the path lacks is a 405 whose Allow is the document's.
    assert.deepEqual(contract.check('HEAD', 'http://h/items/a1', 200, json, ''), []);
    assert.match(contract.check('HEAD', 'http://h/items/a1', 200, noEtag, '')![0]!, /required header ETag missing/);
    const body = JSON.stringify({
      type: 'urn:items-service:problem:method-not-allowed',
      title: 'Method Not Allowed',
      status: 405,
      detail: 'd',
      code: 'METHOD_NOT_ALLOWED',
      request_id: 'r1',
    });
    const allow = (value: string) => new Headers({ 'content-type': 'application/problem+json', allow: value });
    assert.deepEqual(contract.check('PUT', 'http://h/items/a1', 405, allow('DELETE, GET, HEAD, PATCH'), body), []);
    assert.deepEqual(contract.check('PUT', 'http://h/items', 405, allow('GET, HEAD, OPTIONS, POST'), body), []);
    assert.match(contract.check('PUT', 'http://h/items/a1', 405, allow('DELETE, GET, PATCH'), body)![0]!, /Allow/);
    assert.match(contract.check('PUT', 'http://h/items/a1', 404, problem, '{}')![0]!, /404 instead of 405/);
    assert.match(contract.check('PUT', 'http://h/items', 405, allow('GET, HEAD, POST'), '{}')![0]!, /required/);
  });
});

describe('OpenAPI document served by the built server', () => {
  const temp = makeTempDir();
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ DB_PATH: temp.dbPath });
  });
  afterAll(async () => {
    await server.stop();
    temp.remove();
  });

  it('when GET /openapi.json, then the committed document, as JSON', async () => {
    const response = await fetch(`${server.url}/openapi.json`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^application\/json/);
    const { version } = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const served = (await response.json()) as { info: { version: string } };
    assert.equal(served.info.version, version);
    assert.deepEqual(served, JSON.parse(committed()));
  });

  it('when GET /docs outside prod, then Swagger UI, whose scripts load under the Content-Security-Policy', async () => {
    const page = await fetch(`${server.url}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    const html = await page.text();
    assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/);
    // Every script is a same-origin file (no inline script, which the CSP would block), and each loads.
    const scripts = [...html.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)];
    assert.ok(scripts.length >= 3);
    for (const [, attributes, inline] of scripts) {
      assert.equal(inline!.trim(), '', 'no inline script');
      const src = /src=["']([^"']+)["']/.exec(attributes!)![1]!;
      const script = await fetch(new URL(src, `${server.url}/docs`));
      assert.equal(script.status, 200, src);
      await script.arrayBuffer();
    }
  });
});

describe('Swagger UI switched off', () => {
  const temp = makeTempDir();
  const apps: RunningApp[] = [];
  afterAll(async () => {
    for (const app of apps) await app.close();
    temp.remove();
  });

  for (const [name, env] of [
    ['DOCS_ENABLED=false', { DOCS_ENABLED: 'false' }],
    ['APP_ENV=prod (its default)', { APP_ENV: 'prod', AUTH_DISABLED: 'true' }],
  ] as const) {
    it(`when ${name}, then /docs is a 404 and /openapi.json is still served`, async () => {
      const app = await startApp({ DB_PATH: path.join(temp.dir, `${apps.length}.json`), ...env });
      apps.push(app);
      assert.equal((await fetch(`${app.url}/docs`)).status, 404);
      assert.equal((await fetch(`${app.url}/openapi.json`)).status, 200);
    });
  }
});
