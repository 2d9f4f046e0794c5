import assert from './assert.js';
import { assertMatchesContract } from './openapi-contract.js';
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends bytes exactly as given (malformed requests that fetch refuses to send) and reads one
 * response. The request should carry `Connection: close`. With `halfClose`, the socket's sending side
 * is shut after the request; Node's HTTP server then aborts a request still being handled, so a request
 * that needs a handler to answer is sent with `halfClose: false`.
 */
export function rawRequest(
  url: string,
  request: Buffer | string,
  timeoutMs = 10_000,
  { halfClose = true } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('raw request timed out')), timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      // A server may close right after answering; keep what arrived.
      if (chunks.length > 0) resolve(parseResponse(Buffer.concat(chunks)));
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (chunks.length === 0) return reject(new Error('connection closed without a response'));
      resolve(parseResponse(Buffer.concat(chunks)));
    });
    if (halfClose) socket.end(request);
    else socket.write(request);
  });
}

function parseResponse(bytes: Buffer): RawResponse {
  const text = bytes.toString('utf8');
  const headerEnd = text.indexOf('\r\n\r\n');
  return { ...parseResponseHead(text.slice(0, headerEnd)), body: text.slice(headerEnd + 4) };
}

/** The status and headers (names lower-cased) of a response head, without its blank line. */
export function parseResponseHead(head: string): Omit<RawResponse, 'body'> {
  const [statusLine, ...headerLines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine!.split(' ')[1]), headers };
}

/** JSON request through fetch; the response is checked against the OpenAPI document (it throws if it breaks it). */
export async function jsonRequest(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assertMatchesContract(method, url, response.status, response.headers, text);
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** Checks the RFC 9457 shape this API promises for every error. */
export function assertProblem(
  response: { status: number; headers: Headers | Record<string, string>; body: any },
  status: number,
): void {
  const contentType =
    response.headers instanceof Headers ? response.headers.get('content-type') : response.headers['content-type'];
  if (!contentType?.startsWith('application/problem+json')) throw new Error(`not problem+json: ${contentType}`);
  const problem = typeof response.body === 'string' ? JSON.parse(response.body) : response.body;
  const expected = {
    status,
    title: 'string',
    type: 'string',
    detail: 'string',
    instance: 'string',
    code: 'string',
    request_id: 'string',
  };
  if (response.status !== status || problem.status !== status)
    throw new Error(`status ${response.status}/${problem.status}, expected ${status}`);
  for (const [key, type] of Object.entries(expected)) {
    if (key !== 'status' && typeof problem[key] !== type)
      throw new Error(`problem.${key} is not a ${type}: ${JSON.stringify(problem)}`);
  }
}

/**
 * Asks a probe with a spent rate-limit budget and checks that the limiter let it through. Readiness
 * and startup must answer 200. Liveness may also answer 503 NOT_LIVE: it reports the longest event
 * loop stall since it was last asked, and when the app runs inside the Jest worker on a busy 2-core
 * CI machine, that worker can be held up for more than a second; that is the probe working, not
 * the limiter refusing it.
 */
export async function assertProbeNotLimited(url: string, probe: string, headers: Record<string, string> = {}) {
  const response = await jsonRequest(`${url}${probe}`, 'GET', undefined, headers);
  assert.equal(response.headers.get('ratelimit-limit'), null, `${probe} carries a rate-limit header`);
  if (probe === '/healthz' && response.status === 503) {
    assert.equal(response.body.code, 'NOT_LIVE', JSON.stringify(response.body));
    assert.ok(response.body.checks?.event_loop, JSON.stringify(response.body));
  } else assert.equal(response.status, 200, `${probe}: ${JSON.stringify(response.body)}`);
}
