import assert from './support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { assertProblem, rawRequest } from './support/http.js';
import { type RunningApp, startApp } from './support/in-process-app.js';
import { makeTempDir } from './support/temp-dir.js';

const BODY_LIMIT = 64 * 1024;

interface BadRequest {
  name: string;
  method?: string;
  path?: string;
  contentType?: string | null;
  body?: string | Buffer;
  status: number;
}

const nested = (depth: number, open: string, close: string, inner = '1') =>
  open.repeat(depth) + inner + close.repeat(depth);

const CASES: BadRequest[] = [
  { name: 'truncated JSON', body: '{"name":', status: 400 },
  { name: 'unquoted key', body: '{name:"x"}', status: 400 },
  { name: 'trailing garbage', body: '{"name":"x"} trailing', status: 400 },
  { name: 'single quotes', body: "{'name':'x'}", status: 400 },
  { name: 'empty body with JSON content type', body: '', status: 400 },
  { name: 'whitespace body', body: '   \n ', status: 400 },
  { name: 'no content type', contentType: null, body: '{"name":"x"}', status: 415 },
  { name: 'text/plain', contentType: 'text/plain', body: '{"name":"x"}', status: 415 },
  { name: 'form encoded', contentType: 'application/x-www-form-urlencoded', body: 'name=x', status: 415 },
  { name: 'multipart', contentType: 'multipart/form-data; boundary=x', body: '--x\r\n\r\nname\r\n--x--', status: 415 },
  { name: 'xml', contentType: 'application/xml', body: '<name>x</name>', status: 415 },
  { name: 'no body, no content type', contentType: null, body: undefined, status: 415 },
  { name: 'body over the limit', body: JSON.stringify({ name: 'x'.repeat(BODY_LIMIT + 10) }), status: 413 },
  { name: 'arrays nested 10,000 deep', body: `{"name":${nested(10_000, '[', ']')}}`, status: 400 },
  { name: 'objects nested 10,000 deep', body: `{"name":${nested(10_000, '{"a":', '}')}}`, status: 400 },
  { name: 'a JSON array', body: '[{"name":"x"}]', status: 400 },
  { name: 'a JSON string', body: '"name"', status: 400 },
  { name: 'a JSON number', body: '42', status: 400 },
  { name: 'JSON null', body: 'null', status: 400 },
  { name: 'JSON true', body: 'true', status: 400 },
  {
    name: 'invalid UTF-8',
    body: Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]),
    status: 400,
  },
  {
    name: 'UTF-16 body',
    contentType: 'application/json; charset=utf-16le',
    body: Buffer.from('{"name":"x"}', 'utf16le'),
    status: 400,
  },
  { name: 'huge name under the body limit', body: JSON.stringify({ name: 'n'.repeat(BODY_LIMIT - 100) }), status: 400 },
  { name: 'empty name', body: '{"name":""}', status: 400 },
  { name: 'blank name', body: '{"name":"   "}', status: 400 },
  { name: 'missing name', body: '{}', status: 400 },
  { name: 'numeric name', body: '{"name":42}', status: 400 },
  { name: 'null name', body: '{"name":null}', status: 400 },
  { name: 'array name', body: '{"name":["x"]}', status: 400 },
  { name: 'object name', body: '{"name":{"first":"x"}}', status: 400 },
  { name: 'id with a slash', body: '{"id":"a/b","name":"x"}', status: 400 },
  { name: 'id too long', body: JSON.stringify({ id: 'i'.repeat(65), name: 'x' }), status: 400 },
  { name: 'numeric id', body: '{"id":7,"name":"x"}', status: 400 },
  { name: 'unknown field', body: '{"name":"x","colour":"red"}', status: 400 },
  { name: 'server-owned field', body: '{"name":"x","version":5}', status: 400 },
  { name: 'long unknown field', body: JSON.stringify({ name: 'x', ['k'.repeat(5000)]: 1 }), status: 400 },
  { name: '__proto__ key', body: '{"name":"x","__proto__":{"polluted":true}}', status: 400 },
  { name: 'constructor key', body: '{"name":"x","constructor":"y"}', status: 400 },
  { name: 'constructor.prototype', body: '{"name":"x","constructor":{"prototype":{"polluted":true}}}', status: 400 },
  { name: 'nested __proto__', body: '{"name":{"__proto__":{"polluted":true}}}', status: 400 },
  { name: 'PATCH with truncated JSON', method: 'PATCH', path: '/items/x', body: '{"name"', status: 400 },
  {
    name: 'PATCH with text/plain',
    method: 'PATCH',
    path: '/items/x',
    contentType: 'text/plain',
    body: 'x',
    status: 415,
  },
  { name: 'PUT is not a method of the path', method: 'PUT', path: '/items/x', body: '{"name":"x"}', status: 405 },
  {
    name: 'limit of 10^30',
    method: 'GET',
    path: '/items?limit=1000000000000000000000000000000',
    body: undefined,
    status: 400,
  },
  {
    name: 'invalid percent-encoding in the path',
    method: 'GET',
    path: '/items/%E0%A4%A',
    body: undefined,
    status: 400,
  },
  {
    name: 'a path of 5,000 characters',
    method: 'GET',
    path: `/items/${'p'.repeat(5000)}`,
    body: undefined,
    status: 414,
  },
];

function buildRequest(host: string, c: BadRequest): Buffer {
  const body = c.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body);
  const contentType = c.contentType === undefined ? 'application/json' : c.contentType;
  const lines = [`${c.method ?? 'POST'} ${c.path ?? '/items'} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
  if (contentType !== null && c.body !== undefined) lines.push(`Content-Type: ${contentType}`);
  if (c.body !== undefined) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]);
}

describe('Malformed requests', () => {
  const temp = makeTempDir();
  let running: RunningApp;
  beforeAll(async () => {
    running = await startApp({ DB_PATH: temp.dbPath, BODY_LIMIT: String(BODY_LIMIT) });
  });
  afterAll(async () => {
    await running.close();
    temp.remove();
  });

  it(`the table holds at least 30 kinds of malformed request (${CASES.length})`, () => {
    assert.ok(CASES.length >= 30);
  });

  for (const c of CASES) {
    it(`when sent ${c.name}, then ${c.status} problem+json that echoes little of the input`, async () => {
      const response = await rawRequest(running.url, buildRequest(new URL(running.url).host, c));
      assert.ok(response.status < 500, `got ${response.status}: ${response.body.slice(0, 300)}`);
      assertProblem(response, c.status);
      assert.ok(response.body.length < 1000, `error body is ${response.body.length} bytes`);
    });
  }

  // Node's HTTP parser refuses these before a request exists; the answer is still a problem.
  for (const [name, bytes, status, code] of [
    [
      'headers over HTTP_MAX_HEADER_SIZE',
      `GET /items HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      431,
      'HEADERS_TOO_LARGE',
    ],
    ['bytes that are not HTTP', 'HELLO THERE\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ['a request line with a space in the path', 'GET /items /x HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'MALFORMED_REQUEST'],
  ] as const) {
    it(`when sent ${name}, then ${status} problem+json and the connection is closed`, async () => {
      const response = await rawRequest(running.url, bytes);
      assert.equal(response.status, status);
      assert.match(response.headers['content-type'] ?? '', /^application\/problem\+json/);
      const problem = JSON.parse(response.body) as Record<string, unknown>;
      assert.equal(problem.status, status);
      assert.equal(problem.code, code);
      assert.equal(problem.request_id, response.headers['x-request-id']);
      assert.equal(response.headers.connection, 'close');
    });
  }

  it('when all of them have been sent, then nothing was stored', async () => {
    const response = await fetch(`${running.url}/items?limit=1000`);
    assert.deepEqual(await response.json(), { items: [], next_cursor: null });
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  });
});
