import assert from './support/assert.js';
import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import fc from 'fast-check';
import { assertProblem, jsonRequest } from './support/http.js';
import { readAllItems, type StoredItem } from './support/items.js';
import { logLines } from './support/logs.js';
import { OPENAPI_DOCUMENT_PATH } from './support/openapi-contract.js';
import { parseExposition } from './support/prometheus.js';
import { type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const EMOJI = '\u{1F600}';

/**
 * What the API promises for a name, written from the OpenAPI document's words rather than from the
 * service's code: trimmed, then 1-200 code points ([...s] counts code points), valid Unicode.
 */
function acceptable(name: string): boolean {
  const trimmed = name.trim();
  return trimmed.isWellFormed() && trimmed.length > 0 && [...trimmed].length <= 200;
}

/** One character of a name: any code point, the awkward ones often, and now and then an unpaired surrogate. */
const character = fc.oneof(
  { weight: 12, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 6, arbitrary: fc.constantFrom(EMOJI, '\u{1F469}\u200D\u{1F4BB}', '\u{10FFFF}', '\u{20000}') },
  { weight: 3, arbitrary: fc.constantFrom('e\u0301', '\u0301', '\u20DD', '\uFE0F', '\uFE0E', '\u200D') },
  {
    weight: 3,
    arbitrary: fc.constantFrom('\u0000', '\u2028', '\u2029', '\n', '\t', ' ', '\u00A0', '\uFEFF', '"', '\\'),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)) },
);
/** Mostly valid names from 0 to 230 code points, many of them past 200 UTF-16 units. */
const name = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: character, maxLength: 230, size: 'max' }) },
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(EMOJI, 'a', 'e\u0301'), minLength: 95, maxLength: 205 }) },
  { weight: 1, arbitrary: fc.string({ unit: character, maxLength: 8 }) },
);

describe('Item names: what the API accepts, the store loads', () => {
  const temp = makeTempDir();
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ DB_PATH: temp.dbPath });
  });
  afterAll(async () => {
    await server.stop();
    temp.remove();
  });

  async function restart(signal: NodeJS.Signals): Promise<void> {
    const code = await server.stop(signal);
    assert.equal(code, signal === 'SIGKILL' ? 'SIGKILL' : 0, server.stderr());
    server = await startServer({ DB_PATH: temp.dbPath });
  }

  it('when names of 101 and 200 emoji are created and patched, then they survive a restart; 201 emoji get 400', async () => {
    const created = await jsonRequest(`${server.url}/items`, 'POST', { id: 'emoji-101', name: EMOJI.repeat(101) });
    assert.equal(created.status, 201);
    const other = await jsonRequest(`${server.url}/items`, 'POST', { id: 'emoji-patched', name: 'x' });
    const patched = await jsonRequest(`${server.url}/items/emoji-patched`, 'PATCH', { name: EMOJI.repeat(200) });
    assert.equal(patched.status, 200);
    for (const [method, url] of [
      ['POST', `${server.url}/items`],
      ['PATCH', `${server.url}/items/emoji-101`],
    ] as const) {
      const refused = await jsonRequest(url, method, { name: EMOJI.repeat(201) });
      assertProblem(refused, 400);
      assert.equal(refused.body.errors[0].field, 'name');
    }

    await restart('SIGTERM');
    assert.deepEqual((await jsonRequest(`${server.url}/items/emoji-101`, 'GET')).body, created.body);
    assert.deepEqual((await jsonRequest(`${server.url}/items/${other.body.id}`, 'GET')).body, patched.body);
  });

  it('when a name holds an unpaired surrogate (a JSON escape), then it is a 400 problem that echoes nothing of it', async () => {
    for (const raw of ['"\\ud800"', '"ok \\udfff"', '"\\udc00\\ud800"', `"${'a'.repeat(10)}\\ud83d"`]) {
      const response = await fetch(`${server.url}/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"name":${raw}}`,
      });
      const body = await response.text();
      assertProblem({ status: response.status, headers: response.headers, body }, 400);
      assert.equal(JSON.parse(body).errors[0].field, 'name');
      assert.doesNotMatch(body, /\\ud[89a-f]/i, 'the surrogate is not quoted back');
    }
  });

  it('when fast-check writes arbitrary Unicode names through the API and the server restarts, then every acknowledged name reads back exactly and every refusal was a name the rules refuse', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ name, rename: fc.option(name, { nil: undefined }) }), { minLength: 20, maxLength: 40 }),
        async (writes) => {
          runs++;
          const expected = await readAllItems(server.url);
          for (const write of writes) {
            const created = await jsonRequest(`${server.url}/items`, 'POST', { name: write.name });
            assert.equal(created.status, acceptable(write.name) ? 201 : 400, `POST ${JSON.stringify(write.name)}`);
            if (created.status !== 201) continue;
            assert.equal(created.body.name, write.name.trim());
            let item = created.body as StoredItem;
            if (write.rename !== undefined) {
              const patched = await jsonRequest(`${server.url}/items/${item.id}`, 'PATCH', { name: write.rename });
              assert.equal(
                patched.status,
                acceptable(write.rename) ? 200 : 400,
                `PATCH ${JSON.stringify(write.rename)}`,
              );
              if (patched.status === 200) item = patched.body as StoredItem;
            }
            expected.set(item.id, item);
          }
          // Half the restarts are kill -9: an acknowledged write is on disk, not just in a clean shutdown's flush.
          await restart(runs % 2 === 0 ? 'SIGKILL' : 'SIGTERM');
          const actual = await readAllItems(server.url);
          assert.deepEqual([...actual.entries()], [...expected.entries()]);
        },
      ),
      { numRuns: 6, endOnFailure: true },
    );
  });
});

describe('Null for every field of every request body', () => {
  const temp = makeTempDir();
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ DB_PATH: temp.dbPath });
  });
  afterAll(async () => {
    await server.stop();
    temp.remove();
  });

  interface Schema {
    properties?: Record<string, { example?: unknown; nullable?: boolean; type?: string | string[] }>;
    $ref?: string;
  }
  const document = JSON.parse(readFileSync(OPENAPI_DOCUMENT_PATH, 'utf8')) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
    components: { schemas: Record<string, Schema> };
  };
  const bodies = Object.entries(document.paths).flatMap(([route, operations]) =>
    Object.entries(operations).flatMap(([method, operation]) => {
      const schema = operation.requestBody?.content['application/json']?.schema;
      if (!schema) return [];
      const resolved = schema.$ref ? document.components.schemas[schema.$ref.split('/').pop()!]! : schema;
      return [{ method: method.toUpperCase(), route, schema: resolved }];
    }),
  );

  it('when the document is read, then it has request bodies to check (POST and PATCH)', () => {
    assert.deepEqual(
      bodies.map((b) => `${b.method} ${b.route}`),
      ['POST /items', 'PATCH /items/{id}'],
    );
  });

  it('when a field the document does not mark nullable is sent as null, then the answer is 400 naming it, and the example body without it succeeds', async () => {
    assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { id: 'a1', name: 'first' })).status, 201);
    for (const { method, route, schema } of bodies) {
      const url = server.url + route.replace('{id}', 'a1');
      const example = Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([field, property]) => [field, property.example]),
      );
      // A fresh id for a create, so that the example body itself succeeds.
      if (method === 'POST') example.id = `null-check-${Math.random().toString(36).slice(2)}`;
      const sane = await jsonRequest(url, method, example);
      assert.ok(sane.status < 300, `${method} ${route} with the document's example: ${sane.status}`);
      for (const [field, property] of Object.entries(schema.properties ?? {})) {
        const nullable = property.nullable === true || [property.type].flat().includes('null');
        const response = await jsonRequest(url, method, { ...example, [field]: null });
        if (nullable) {
          assert.ok(response.status < 300, `${method} ${route} ${field}: null is documented as allowed`);
        } else {
          assertProblem(response, 400);
          assert.deepEqual(
            response.body.errors.map((e: { field: string }) => e.field),
            [field],
            `${method} ${route} ${field}: null`,
          );
        }
      }
    }
  });
});

describe('A store holding names that an earlier version accepted', () => {
  const temp = makeTempDir();
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    temp.remove();
  });

  async function nonconformingGauge(url: string): Promise<number | undefined> {
    const text = await (await fetch(`${url}/metrics`)).text();
    return parseExposition(text).samples.find((s) => s.name === 'items_store_nonconforming_items')?.value;
  }

  it('when its journal holds names the current rules reject, then the service starts, warns naming each item, counts them, serves them, and a rename clears them', async () => {
    server = await startServer({ DB_PATH: temp.dbPath });
    const created = await jsonRequest(`${server.url}/items`, 'POST', { id: 'valid', name: 'valid' });
    assert.equal(created.status, 201);
    assert.equal(await server.stop(), 0);

    // As the previous release wrote them: it took "\ud800" from JSON and JSON.stringify wrote it escaped.
    const journal = `${temp.dbPath}.journal`;
    const lines = readFileSync(journal, 'utf8').trimEnd().split('\n');
    const last = JSON.parse(lines.at(-1)!) as { seq: number; item: StoredItem };
    const earlier = (seq: number, id: string, itemName: string) =>
      JSON.stringify({ seq, op: 'put', item: { ...last.item, id, name: itemName } }) + '\n';
    appendFileSync(journal, earlier(last.seq + 1, 'old-1', 'lone \ud800 name-marker'));
    appendFileSync(journal, earlier(last.seq + 2, 'old-2', '\udfff'));

    server = await startServer({ DB_PATH: temp.dbPath });
    const warnings = logLines(server.stdout()).filter(
      (line) => line.level === 'warn' && line.context === 'JsonFileItemsRepository',
    );
    assert.deepEqual(
      warnings.map((line) => line.item_id),
      ['old-1', 'old-2'],
    );
    assert.doesNotMatch(server.stdout(), /name-marker|\\udfff/i, 'the names themselves are not logged');
    assert.equal(await nonconformingGauge(server.url), 2);

    const served = await jsonRequest(`${server.url}/items/old-1`, 'GET');
    assert.equal(served.status, 200);
    assert.equal(served.body.name, 'lone \ud800 name-marker');
    assert.equal((await jsonRequest(`${server.url}/items/old-1`, 'PATCH', { name: 'fixed' })).status, 200);
    assert.equal(await nonconformingGauge(server.url), 1);
    assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { name: 'still writable' })).status, 201);
  });
});
