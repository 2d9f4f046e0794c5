import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { type Kysely, sql } from 'kysely';
import { DomainError } from '../../common/domain-error.js';
import { storeConfig } from '../../config/config.namespaces.js';
import { IdempotencyKeyInUseError } from '../idempotency/idempotency.errors.js';
import type { IdempotencyRecord, StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import type { Item, ItemPosition } from '../item.js';
import { itemRuleViolation } from '../item-rules.js';
import {
  InvalidItemError,
  ItemAlreadyExistsError,
  ItemNotFoundError,
  ItemVersionMismatchError,
  StoreUnavailableError,
} from '../items.errors.js';
import type { ItemsRepository } from '../items.repository.js';
import { EXIT_CODES } from '../../lifecycle/exit-codes.js';
import { Lifecycle } from '../../lifecycle/lifecycle.js';
import {
  connectItemsDatabase,
  ITEMS_DATABASE_OBSERVER,
  type IdempotencyKeysTable,
  type ItemsDatabase,
  type ItemsDatabaseConnection,
  type ItemsDatabaseObserver,
  itemsDatabaseTarget,
  type ItemsTable,
} from './items-database.js';
import { pendingMigrations } from './migrations.js';

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * Expired idempotency keys each keyed insert deletes in its transaction: more than it adds, so the
 * table stays near the keys of one IDEMPOTENCY_KEY_TTL without a job of its own.
 */
const EXPIRED_KEYS_PER_INSERT = 100;

/** The database is not there or not answering: the service is up, the request may be retried. */
const UNAVAILABLE = 'The database is not available right now; nothing was changed. Retry later.';

/**
 * Items in PostgreSQL (STORE_DRIVER=postgres), for any number of replicas: every check and its write
 * are one conditional statement (`UPDATE ... WHERE id = $1 AND version = $2`), so If-Match holds across
 * processes. A write resolves once PostgreSQL has committed it (synchronous_commit, its default: on).
 * What the JSON-file store guarantees with its journal, PostgreSQL's WAL guarantees here.
 */
@Injectable()
export class PostgresItemsRepository implements ItemsRepository, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('PostgresItemsRepository');
  private readonly connection: ItemsDatabaseConnection;
  private closed = false;

  constructor(
    @Inject(storeConfig.KEY) store: ConfigType<typeof storeConfig>,
    private readonly lifecycle: Lifecycle,
    @Optional() @Inject(ITEMS_DATABASE_OBSERVER) observer?: ItemsDatabaseObserver,
  ) {
    if (!store.database) throw new Error('STORE_DRIVER=postgres needs DATABASE_URL');
    const { poolMax } = store.database;
    this.connection = connectItemsDatabase(store.database, (err) =>
      this.logger.warn({ msg: 'database connection lost; the next query reconnects', err: err.message }),
    );
    const { pool } = this.connection;
    observer?.databaseOpened(itemsDatabaseTarget(store.database.url), () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      max: poolMax,
    }));
  }

  /** Refuses to start on a schema this release does not expect, rather than migrate from every pod. */
  async onModuleInit(): Promise<void> {
    let pending: string[];
    try {
      pending = await pendingMigrations(this.connection.db);
    } catch (err) {
      await this.abandon();
      throw new Error(`the database cannot be reached: ${describeDatabaseError(err)}`, { cause: err });
    }
    if (pending.length > 0) {
      await this.abandon();
      throw new Error(
        `the database schema is behind this release (not applied: ${pending.join(', ')}); ` +
          'run the migrations first: `npm run migrate`, or `node dist/migrate.js` in the image',
      );
    }
    this.logger.log({ msg: 'store opened', driver: 'postgres' });
  }

  /** A start-up that fails runs no shutdown hook: the pool's sockets would keep the process alive. */
  private async abandon(): Promise<void> {
    this.closed = true;
    await this.connection.db.destroy().catch(() => undefined);
  }

  /** After the HTTP drain: no request needs the pool any more. */
  async onApplicationShutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.connection.db.destroy();
      this.logger.log({ msg: 'store closed', driver: 'postgres' });
    } catch (err) {
      // Nest would only log it, and the process would exit 0.
      this.lifecycle.raiseExitCode(EXIT_CODES.failed);
      this.logger.error({ msg: 'shutdown step failed', step: 'store close', err: describeDatabaseError(err) });
    }
  }

  findById(id: string): Promise<Item | undefined> {
    return this.query(async (db) => {
      const row = await db.selectFrom('items').selectAll().where('id', '=', id).executeTakeFirst();
      return row && toItem(row);
    });
  }

  list(limit: number, after?: ItemPosition): Promise<{ items: Item[]; hasMore: boolean }> {
    return this.query(async (db) => {
      const rows = await db
        .selectFrom('items')
        .selectAll()
        .$if(after !== undefined, (query) =>
          query.where((eb) => eb(eb.refTuple('created_at', 'id'), '>', eb.tuple(after!.created_at, after!.id))),
        )
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      return { items: rows.slice(0, limit).map(toItem), hasMore: rows.length > limit };
    });
  }

  insert(item: Item, idempotency?: IdempotencyRecord): Promise<void> {
    if (!idempotency) return this.write(item, (db) => insertItem(db, item));
    return this.write(item, (db) =>
      db.transaction().execute(async (trx) => {
        // Another replica's request with this key holds the lock until its transaction ends: it is in
        // flight, and this one is refused at once rather than made to wait (IETF draft: 409).
        const { rows } = await sql<{ locked: boolean }>`
          select pg_try_advisory_xact_lock(${advisoryLockId(idempotency.key)}::bigint) as locked`.execute(trx);
        if (!rows[0]?.locked) throw new IdempotencyKeyInUseError();
        // A live row under the key: taken (the caller replays it); an expired one is replaced.
        const stored = await trx
          .insertInto('idempotency_keys')
          .values(toRecordRow(idempotency, item))
          .onConflict((conflict) =>
            conflict
              .column('key')
              .doUpdateSet((eb) => ({
                fingerprint: eb.ref('excluded.fingerprint'),
                expires_at: eb.ref('excluded.expires_at'),
                item: eb.ref('excluded.item'),
              }))
              .where('idempotency_keys.expires_at', '<=', sql<Date>`now()`),
          )
          .returning('key')
          .executeTakeFirst();
        if (!stored) throw new IdempotencyKeyInUseError();
        await insertItem(trx, item);
        await trx
          .deleteFrom('idempotency_keys')
          .where(
            'key',
            'in',
            trx
              .selectFrom('idempotency_keys')
              .select('key')
              .where('expires_at', '<=', sql<Date>`now()`)
              .orderBy('expires_at')
              .limit(EXPIRED_KEYS_PER_INSERT)
              .forUpdate()
              .skipLocked(),
          )
          .execute();
      }),
    );
  }

  findIdempotencyRecord(key: string): Promise<StoredIdempotencyRecord | undefined> {
    return this.query(async (db) => {
      const row = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('key', '=', key)
        .where('expires_at', '>', sql<Date>`now()`)
        .executeTakeFirst();
      return row && toStoredRecord(row);
    });
  }

  replace(item: Item, expectedVersion: number): Promise<void> {
    return this.write(item, async (db) => {
      const { name, updated_at, version } = toRow(item);
      const result = await db
        .updateTable('items')
        .set({ name, updated_at, version })
        .where('id', '=', item.id)
        .where('version', '=', expectedVersion)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw await this.missOf(item.id);
    });
  }

  remove(id: string, expectedVersion?: number): Promise<void> {
    return this.query(async (db) => {
      const result = await db
        .deleteFrom('items')
        .where('id', '=', id)
        .$if(expectedVersion !== undefined, (query) => query.where('version', '=', expectedVersion!))
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) throw await this.missOf(id);
    });
  }

  async checkWritable(): Promise<void> {
    try {
      await sql`select 1`.execute(this.connection.db);
    } catch (err) {
      throw new Error(`the database is not available: ${describeDatabaseError(err)}`, { cause: err });
    }
  }

  /** Why a conditional write changed nothing: the item is gone, or it has another version. */
  private async missOf(id: string): Promise<Error> {
    const exists = await this.connection.db.selectFrom('items').select('id').where('id', '=', id).executeTakeFirst();
    return exists ? new ItemVersionMismatchError(id) : new ItemNotFoundError(id);
  }

  /** The same rules as the JSON-file store's writer: what one store refuses, the other does too. */
  private write(item: Item, run: (db: ItemsDatabaseConnection['db']) => Promise<void>): Promise<void> {
    const problem = itemRuleViolation(item);
    if (problem !== undefined) return Promise.reject(new InvalidItemError(problem));
    return this.query(run);
  }

  /** Runs a query; a database that cannot answer is a 503 for the client, never a 500. */
  private async query<T>(run: (db: ItemsDatabaseConnection['db']) => Promise<T>): Promise<T> {
    try {
      return await run(this.connection.db);
    } catch (err) {
      if (err instanceof DomainError) throw err; // not found, conflict, stale version: the item's own
      this.logger.warn({ msg: 'database query failed', err: describeDatabaseError(err) });
      // The driver's error as the cause, for the store span's error.type and SQLSTATE; never in the body.
      throw Object.assign(new StoreUnavailableError(UNAVAILABLE), { cause: err });
    }
  }
}

async function insertItem(db: Kysely<ItemsDatabase>, item: Item): Promise<void> {
  try {
    await db.insertInto('items').values(toRow(item)).execute();
  } catch (err) {
    if (databaseErrorCode(err) === UNIQUE_VIOLATION) throw new ItemAlreadyExistsError(item.id);
    throw err;
  }
}

/** A 64-bit advisory lock id from the key (itself a SHA-256): a collision only costs a spurious 409. */
function advisoryLockId(key: string): string {
  return BigInt.asIntN(64, BigInt(`0x${key.slice(0, 16)}`)).toString();
}

export function toRecordRow(record: IdempotencyRecord, item: Item): IdempotencyKeysTable {
  return {
    key: record.key,
    fingerprint: record.fingerprint,
    expires_at: record.expires_at,
    item: JSON.stringify(item),
  };
}

export function toStoredRecord(row: IdempotencyKeysTable): StoredIdempotencyRecord {
  return {
    key: row.key,
    fingerprint: row.fingerprint,
    expires_at: toIso(row.expires_at),
    item: JSON.parse(row.item) as Item,
  };
}

export function toRow(item: Item): ItemsTable {
  return {
    id: item.id,
    name: Buffer.from(item.name, 'utf8'),
    created_at: item.created_at,
    updated_at: item.updated_at,
    version: item.version,
  };
}

export function toItem(row: ItemsTable): Item {
  return {
    id: row.id,
    name: row.name.toString('utf8'),
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
    version: row.version,
  };
}

function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

function databaseErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A driver error as a log line can carry it: its code and message, which name no credentials. */
export function describeDatabaseError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Node's connect error for a host with several addresses: the reasons are in `errors`.
  if (err instanceof AggregateError && !err.message && err.errors.length > 0)
    return [...new Set(err.errors.map(describeDatabaseError))].join('; ');
  const code = databaseErrorCode(err);
  return code ? `${err.message} (${code})` : err.message;
}
