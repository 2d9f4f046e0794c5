import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../../config/app-config.js';

/** The `items` table as Kysely sees it (the migrations in `migrations.ts` create it). */
export interface ItemsTable {
  /** `collate "C"`: ordered by code point, as the JSON-file store orders ids (ids are ASCII). */
  id: string;
  /**
   * UTF-8 bytes, not `text`: PostgreSQL's text cannot hold U+0000, which a name may contain (the API
   * and the JSON-file store accept it), and a JS string with an unpaired surrogate would be replaced
   * silently on the way in (the writer refuses those first: `itemWriteProblem`).
   */
  name: Buffer;
  created_at: Date | string;
  updated_at: Date | string;
  version: number;
}

/** The `idempotency_keys` table (migration 0002): one row per live Idempotency-Key of a POST. */
export interface IdempotencyKeysTable {
  /** SHA-256 (hex) of the caller's scope and the key. */
  key: string;
  fingerprint: string;
  expires_at: Date | string;
  /**
   * The item as it was created, as JSON text: what a replay answers. JSON escapes U+0000, which a
   * name may hold and `text` may not; a name with an unpaired surrogate never gets this far.
   */
  item: string;
}

export interface ItemsDatabase {
  items: ItemsTable;
  idempotency_keys: IdempotencyKeysTable;
}

export interface ItemsDatabaseConnection {
  db: Kysely<ItemsDatabase>;
  pool: pg.Pool;
}

/**
 * Where the items are, in the terms of OpenTelemetry's database conventions (`db.namespace`,
 * `server.address`, `server.port`): never the user or the password.
 */
export interface ItemsDatabaseTarget {
  /** The database's name. */
  database: string;
  /** A host name, an IP address, or a Unix socket's directory. */
  host: string;
  port: number;
}

/** What the pool holds now: pg.Pool's own counters, and its limit. */
export interface ItemsDatabasePoolStats {
  /** Connections open, in use or idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection: every one is in use, and the pool is at `max`. */
  waiting: number;
  max: number;
}

/** Injection token of the optional `ItemsDatabaseObserver` (the observability module provides one). */
export const ITEMS_DATABASE_OBSERVER = Symbol('ItemsDatabaseObserver');

/**
 * What the PostgreSQL store tells whoever observes it: the port between it and metrics and traces, as
 * `StoreObserver` is for the JSON-file store.
 */
export interface ItemsDatabaseObserver {
  /** Once, when the pool is made; `pool` is cheap and is read at each scrape. */
  databaseOpened(target: ItemsDatabaseTarget, pool: () => ItemsDatabasePoolStats): void;
}

/**
 * The database, host and port a connection string leads to, as pg reads it (`?host=` for a socket,
 * PG* variables for what it leaves out, the user's name for a missing database). A client that is
 * never connected parses it: pg keeps its parser to itself.
 */
export function itemsDatabaseTarget(url: string): ItemsDatabaseTarget {
  const parsed = new pg.Client({ connectionString: url });
  return { database: parsed.database ?? '', host: parsed.host, port: parsed.port };
}

/**
 * A pool and Kysely on it, with the timeouts that keep a database that does not answer from holding
 * requests up: a connection attempt gives up after DATABASE_CONNECT_TIMEOUT, a statement after
 * DATABASE_STATEMENT_TIMEOUT (server side), and the client stops waiting for it a second later (the
 * server may be unreachable, and then cannot cancel anything).
 */
export function connectItemsDatabase(
  config: DatabaseConfig,
  onPoolError: (err: Error) => void,
): ItemsDatabaseConnection {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolMax,
    connectionTimeoutMillis: config.connectTimeoutMs,
    // 0 is no limit (the migrations: a migration waits for the migrator's lock, and may be long).
    ...(config.statementTimeoutMs > 0
      ? { statement_timeout: config.statementTimeoutMs, query_timeout: config.statementTimeoutMs + 1_000 }
      : {}),
    idleTimeoutMillis: 30_000,
    application_name: 'items-service',
  });
  // An idle connection the server drops (a restart, a failover) is reported here; without a listener
  // it would crash the process. The next query gets a new connection.
  pool.on('error', onPoolError);
  // A connection in use has no listener of the pool's: when its server goes away mid-query (a restart,
  // a failover, pg_terminate_backend), its 'error' event would crash the process. The query itself
  // fails already (a 503, logged), and the pool drops the dead connection when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return { db: new Kysely<ItemsDatabase>({ dialect: new PostgresDialect({ pool }) }), pool };
}
