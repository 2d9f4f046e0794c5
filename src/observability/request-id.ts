import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';

/** A caller's X-Request-Id is kept when it looks like an id; anything else gets a new UUID. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFor(request: IncomingMessage): string {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID_PATTERN.test(header) ? header : randomUUID();
}
