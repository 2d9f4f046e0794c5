import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './items-api.js';

export type { components, paths } from './items-api.js';
export type Item = components['schemas']['Item'];
export type NewItem = components['schemas']['NewItem'];
export type ItemChanges = components['schemas']['ItemChanges'];
export type ItemsPage = components['schemas']['ItemsPage'];
/** An RFC 9457 problem, as every error response carries it. */
export type Problem = components['schemas']['Problem'];
/** Every `code` a problem can have: switch on it. */
export type ProblemCode = components['schemas']['ProblemCode'];

/** An error response from the API: `code` narrows to the documented codes. */
export class ItemsApiError extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = 'ItemsApiError';
    this.status = problem.status;
    this.code = problem.code;
  }
}

/** An item with the ETag it was served with. */
export interface CachedItem {
  item: Item;
  etag: string;
}

/** Where getItem keeps what it revalidates; a Map will do, and is the default. */
export interface ItemCache {
  get(id: string): CachedItem | undefined;
  set(id: string, entry: CachedItem): unknown;
  delete(id: string): unknown;
}

export interface ItemsClientOptions {
  /** The service's URL, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** An API key, sent as `Authorization: Bearer <key>` on every request. */
  apiKey?: string;
  /** A fetch of your own (a proxy, a test double); the global fetch by default. */
  fetch?: (request: Request) => Promise<Response>;
  /** The items getItem has seen, by id, with their ETags; a new Map by default. */
  cache?: ItemCache;
  /** How often createItem retries a POST that failed on the way (network, 503, key in use); 2 by default. */
  retries?: number;
  /** The longest createItem waits between tries, in ms, whatever Retry-After says; 2000 by default. */
  maxRetryDelayMs?: number;
}

export interface CreateItemOptions {
  /**
   * Sent as `Idempotency-Key`, and the same on every retry, so that a retry whose first try did reach the
   * service gives back that first item instead of a second one. A new UUID by default; pass your own to
   * retry across restarts of your process.
   */
  idempotencyKey?: string;
}

export interface CreatedItem extends CachedItem {
  /** True when the service replayed an earlier answer to this key (`Idempotent-Replayed: true`). */
  replayed: boolean;
  idempotencyKey: string;
}

export interface ItemsClient {
  /** The typed openapi-fetch client, for any operation as the document describes it. */
  readonly api: Client<paths>;
  /**
   * The item, revalidated: when it was fetched before, the request carries its ETag as If-None-Match, and a
   * 304 returns the cached item without a body on the wire.
   */
  getItem(id: string): Promise<Item>;
  /** Creates an item; retried with the same Idempotency-Key when a try fails on the way. */
  createItem(item: NewItem, options?: CreateItemOptions): Promise<CreatedItem>;
  /** Changes an item; with `ifMatch` (an ETag), only if it has not changed since (else 412). */
  updateItem(id: string, changes: ItemChanges, options?: { ifMatch?: string }): Promise<CachedItem>;
  deleteItem(id: string, options?: { ifMatch?: string }): Promise<void>;
  /** Every item, page by page (`limit` per request), in the API's order. */
  listItems(options?: { limit?: number }): AsyncGenerator<Item, void, undefined>;
}

/** A client of the items API. */
export function createItemsClient(options: ItemsClientOptions): ItemsClient {
  const api = createClient<paths>({
    baseUrl: options.baseUrl,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    headers: options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` },
  });
  const cache = options.cache ?? new Map<string, CachedItem>();
  const retries = options.retries ?? 2;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 2000;

  return {
    api,

    async getItem(id) {
      const cached = cache.get(id);
      const { data, error, response } = await api.GET('/items/{id}', {
        params: { path: { id } },
        headers: cached ? { 'if-none-match': cached.etag } : {},
      });
      if (response.status === 304 && cached) return cached.item;
      if (error !== undefined || data === undefined) {
        if (response.status === 404) cache.delete(id);
        throw toError(error, response);
      }
      const etag = response.headers.get('etag');
      if (etag !== null) cache.set(id, { item: data, etag });
      return data;
    },

    async createItem(item, { idempotencyKey = crypto.randomUUID() } = {}) {
      for (let attempt = 0; ; attempt++) {
        let result;
        try {
          result = await api.POST('/items', { body: item, headers: { 'idempotency-key': idempotencyKey } });
        } catch (err) {
          // The request may or may not have reached the service: the same key makes trying again safe.
          if (attempt >= retries) throw err;
          await delay(backoff(attempt, undefined, maxRetryDelayMs));
          continue;
        }
        const { data, error, response } = result;
        if (data !== undefined && error === undefined) {
          const entry = { item: data, etag: response.headers.get('etag') ?? '' };
          if (entry.etag !== '') cache.set(data.id, entry);
          const replayed = response.headers.get('idempotent-replayed') === 'true';
          return { ...entry, replayed, idempotencyKey };
        }
        const failure = toError(error, response);
        const retryable = failure.status === 503 || failure.code === 'IDEMPOTENCY_KEY_IN_USE';
        if (!retryable || attempt >= retries) throw failure;
        await delay(backoff(attempt, response.headers.get('retry-after'), maxRetryDelayMs));
      }
    },

    async updateItem(id, changes, { ifMatch } = {}) {
      const { data, error, response } = await api.PATCH('/items/{id}', {
        params: { path: { id }, header: ifMatch === undefined ? {} : { 'If-Match': ifMatch } },
        body: changes,
      });
      if (error !== undefined || data === undefined) throw toError(error, response);
      const entry = { item: data, etag: response.headers.get('etag') ?? '' };
      if (entry.etag !== '') cache.set(id, entry);
      return entry;
    },

    async deleteItem(id, { ifMatch } = {}) {
      const { error, response } = await api.DELETE('/items/{id}', {
        params: { path: { id }, header: ifMatch === undefined ? {} : { 'If-Match': ifMatch } },
      });
      if (!response.ok) throw toError(error, response);
      cache.delete(id);
    },

    async *listItems({ limit } = {}) {
      let cursor: string | undefined;
      do {
        const query = { ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) };
        const { data, error, response } = await api.GET('/items', { params: { query } });
        if (error !== undefined || data === undefined) throw toError(error, response);
        yield* data.items;
        cursor = data.next_cursor ?? undefined;
      } while (cursor !== undefined);
    },
  };
}

/** The problem the API answered with; a problem of its own when the body was not one (a proxy's page). */
function toError(error: unknown, response: Response): ItemsApiError {
  if (typeof error === 'object' && error !== null && 'code' in error && 'status' in error) {
    return new ItemsApiError(error as Problem);
  }
  return new ItemsApiError({
    type: 'about:blank',
    title: response.statusText,
    status: response.status,
    detail: `Unexpected response ${response.status} without a problem body.`,
    code: response.status >= 500 ? 'INTERNAL_ERROR' : 'CLIENT_ERROR',
    request_id: response.headers.get('x-request-id') ?? '',
  });
}

function backoff(attempt: number, retryAfter: string | null | undefined, max: number): number {
  const seconds = retryAfter ? Number(retryAfter) : NaN;
  const wait = Number.isFinite(seconds) ? seconds * 1000 : 100 * 2 ** attempt;
  return Math.min(wait, max);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
