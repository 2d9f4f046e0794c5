import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { diagnostic } from './support/diagnostic.js';
import fc from 'fast-check';
import { rawRequest } from './support/http.js';
import { assertMatchesContract, contractStats } from './support/openapi-contract.js';
import { type RunningApp, startApp } from './support/in-process-app.js';
import { makeTempDir } from './support/temp-dir.js';

const RUNS = 10_000;
const KEY = 'fuzz-key-0123456789abcdef';
/** An error body may quote a little of the request (an id, a path), never more than this. */
const MAX_ECHO = 200;

// Bytes an attacker controls, and those that make parsers stumble: quotes, escapes, control
// characters, percent signs, non-ASCII and lone surrogates (sent as UTF-8 where possible).
const nasty = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '%', '%zz', '%00', '..', '../..', '\\', '"', "'", '{', '}', '__proto__', 'constructor'),
  fc.string({ minLength: MAX_ECHO + 1, maxLength: 700 }),
  fc.string({ unit: fc.constantFrom('a', 'b', '-', '.', '_'), minLength: 60, maxLength: 300 }),
);
/** Header values: what an HTTP/1.1 client can put on the wire (visible ASCII and spaces). */
const headerText = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: fc.constantFrom('x', 'y', '=', ',', ' '), minLength: MAX_ECHO + 1, maxLength: 600 }),
);
const longText = fc.string({ minLength: MAX_ECHO + 1, maxLength: 700 });
const segment = nasty.map((text) => encodeURIComponent(text));
const path = fc.oneof(
  fc.constant('/items'),
  segment.map((s) => `/items/${s}`),
  fc.tuple(segment, segment).map(([a, b]) => `/items/${a}/${b}`),
  fc.tuple(nasty, nasty).map(([k, v]) => `/items?${encodeURIComponent(k)}=${encodeURIComponent(v)}`),
  fc.integer({ min: -5, max: 2000 }).map((limit) => `/items?limit=${limit}`),
  segment.map((s) => `/items?cursor=${s}`),
  fc.constantFrom('/healthz', '/readyz', '/startupz', '/openapi.json', '/admin/log-level', '/metrics', '/', '//items'),
  segment.map((s) => `/${s}`),
  fc.string({ unit: fc.constantFrom('a', '/', '.', '%', '?', '#', ';', '&', '='), maxLength: 80 }).map((s) => `/${s}`),
);
const name = fc.oneof(nasty, fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.boolean());
const body = fc.oneof(
  fc.constant(undefined),
  fc.record({ name }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
  fc.record({ id: name, name }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  fc.dictionary(nasty, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }).map((value) => JSON.stringify(value)),
  fc.integer({ min: 1, max: 80 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  nasty,
  fc.string({ minLength: 4000, maxLength: 6000 }).map((s) => JSON.stringify({ name: s })),
);
const anything = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS', 'TRACE', 'FOO'),
  path,
  body,
  contentType: fc.option(
    fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/merge-patch+json',
        'text/plain',
      ),
      headerText,
    ),
  ),
  authorization: fc.option(
    fc.oneof(
      fc.constant(`Bearer ${KEY}`),
      headerText.map((t) => `Bearer ${t}`),
      headerText,
    ),
  ),
  ifMatch: fc.option(headerText),
  ifNoneMatch: fc.option(headerText),
  requestId: fc.option(headerText),
  forwardedFor: fc.option(headerText),
});

/** Requests a client of the API could mean to send (the right key, JSON, known ids): they reach the store. */
const plausible = fc.record({
  method: fc.constantFrom('GET', 'POST', 'POST', 'PATCH', 'DELETE'),
  path: fc.oneof(
    fc.constant('/items'),
    fc.constantFrom('a', 'b', 'c', 'nope').map((id) => `/items/${id}`),
  ),
  body: fc
    .oneof(
      { arbitrary: fc.record({ id: fc.constantFrom('a', 'b', 'c'), name }, { requiredKeys: ['name'] }), weight: 3 },
      { arbitrary: fc.record({ name }), weight: 2 },
      // A long name, or long text that is not JSON at all: what an error message might be tempted to quote.
      { arbitrary: fc.record({ name: longText }), weight: 1 },
    )
    .map((value) => JSON.stringify(value))
    .chain((json) => fc.oneof({ arbitrary: fc.constant(json), weight: 5 }, { arbitrary: longText, weight: 1 })),
  contentType: fc.constant('application/json'),
  authorization: fc.constant(`Bearer ${KEY}`),
  ifMatch: fc.option(fc.constantFrom('"1"', '"2"', '*', 'W/"1"', '"x"', 'nonsense')),
  ifNoneMatch: fc.option(fc.constantFrom('"1"', '*', '*', 'W/"1", "x"', 'nonsense')),
  requestId: fc.option(headerText),
  forwardedFor: fc.option(headerText),
});
const request = fc.oneof({ arbitrary: anything, weight: 4 }, { arbitrary: plausible, weight: 1 });

type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

function encode(host: string, r: FuzzRequest): { bytes: Buffer; inputs: string[] } {
  const payload = r.body === undefined ? undefined : Buffer.from(r.body);
  const lines = [`${r.method} ${r.path} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
  const headers: Array<[string, string | null]> = [
    ['Content-Type', r.contentType],
    ['Authorization', r.authorization],
    ['If-Match', r.ifMatch],
    ['If-None-Match', r.ifNoneMatch],
    ['X-Request-Id', r.requestId],
    ['X-Forwarded-For', r.forwardedFor],
  ];
  for (const [header, value] of headers) if (value !== null) lines.push(`${header}: ${value}`);
  if (payload) lines.push(`Content-Length: ${payload.length}`);
  const bytes = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload ?? Buffer.alloc(0)]);
  const inputs = [r.path, decodeURIComponentSafe(r.path), r.body ?? '', ...headers.map(([, value]) => value ?? '')];
  return { bytes, inputs };
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Every string in a JSON body, decoded (an echo may be escaped in the JSON text), or the raw text. */
function textOf(body: string): string {
  try {
    const strings: string[] = [];
    JSON.parse(body, (_key, value: unknown) => {
      if (typeof value === 'string') strings.push(value);
      return value;
    });
    return strings.join('\n');
  } catch {
    return body;
  }
}

/** A stretch of some input longer than MAX_ECHO that appears in the body, if any. */
function longEcho(responseBody: string, inputs: string[]): string | undefined {
  const body = textOf(responseBody);
  for (const input of inputs) {
    for (let start = 0; start + MAX_ECHO < input.length; start += 1) {
      const window = input.slice(start, start + MAX_ECHO + 1);
      if (body.includes(window)) return window;
    }
  }
  return undefined;
}

describe(`Fuzz: ${RUNS} random requests (paths, headers, bodies) over real HTTP`, () => {
  const temp = makeTempDir();
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({
      DB_PATH: temp.dbPath,
      API_KEYS: KEY,
      BODY_LIMIT: '4kb',
      // On, so that its guard is fuzzed too, but above the number of requests.
      RATE_LIMIT_MAX: String(RUNS * 2),
    });
  });
  afterAll(async () => {
    await running.close();
    temp.remove();
  });

  it('then no answer is a 5xx, every error is problem+json, none breaks the OpenAPI document, and no error body echoes over 200 characters of the input', async () => {
    const host = new URL(running.url).host;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const { bytes, inputs } = encode(host, r);
        const response = await rawRequest(running.url, bytes, 10_000, { halfClose: false });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        // Where the request names a documented operation, the answer must be one the document allows.
        const body = r.method === 'HEAD' ? '' : response.body;
        assertMatchesContract(
          r.method,
          `${running.url}${r.path}`,
          response.status,
          new Headers(response.headers),
          body,
        );
        assert.ok(
          response.status >= 200 && response.status < 500,
          `status ${response.status}: ${response.body.slice(0, 300)}`,
        );
        if (response.status >= 400 && r.method !== 'HEAD') {
          assert.match(
            response.headers['content-type'] ?? '',
            /^application\/problem\+json/,
            response.body.slice(0, 300),
          );
          const echo = longEcho(response.body, inputs);
          assert.equal(echo, undefined, `the error body echoes ${echo?.length} characters of the input`);
        }
      }),
      { numRuns: RUNS },
    );
    diagnostic(`${RUNS} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    diagnostic(
      `${contractStats.validated} answers to documented operations validated against openapi/openapi.json, ` +
        `${contractStats.violations.length} violations; ${contractStats.undocumented} to other routes or methods`,
    );
    assert.deepEqual(contractStats.violations, []);
    assert.ok(contractStats.validated > RUNS / 10, `only ${contractStats.validated} answers were validated`);
    // Not a property that holds by accident: the requests reached the handlers, with successes and refusals.
    for (const status of [200, 201, 304, 400, 401, 404, 405, 413, 415])
      assert.ok(statuses.has(status), `no ${status} in the run`);
  });

  it('then the service is still ready', async () => {
    assert.equal((await fetch(`${running.url}/readyz`)).status, 200);
  });
});
