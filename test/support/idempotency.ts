import { jsonRequest } from './http.js';

export type JsonResponse = Awaited<ReturnType<typeof jsonRequest>>;

/** POST /items with an Idempotency-Key (unless undefined) and, when given, an API key. */
export function postWithKey(
  url: string,
  body: unknown,
  idempotencyKey?: string,
  apiKey?: string,
): Promise<JsonResponse> {
  const headers: Record<string, string> = {};
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
  return jsonRequest(`${url}/items`, 'POST', body, headers);
}

/** What a client compares between the first answer and its replay. */
export function answerOf(response: JsonResponse) {
  return {
    status: response.status,
    location: response.headers.get('location'),
    etag: response.headers.get('etag'),
    body: response.body as unknown,
  };
}
