import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectItemsDatabase } from '../../src/items/postgres/items-database.js';
import { itemsMigrator } from '../../src/items/postgres/migrations.js';

/**
 * The PostgreSQL server the tests use: PG_TEST_URL, or the local one with trust authentication. On a
 * machine without one: `sudo apt-get install postgresql` (trust for 127.0.0.1 in pg_hba.conf), or
 * `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`.
 */
export const PG_SERVER_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** DATABASE_URL of a database of its own, created empty for this test. */
  url: string;
  /** Runs the migrations, as `npm run migrate` would. */
  migrate: () => Promise<void>;
  /** Drops it (after closing every connection to it). */
  drop: () => Promise<void>;
}

/** A fresh database on the test server, dropped by `drop()`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `items_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_SERVER_URL, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `no PostgreSQL at ${PG_SERVER_URL} (${(err as Error).message}): the postgres tests need one; set PG_TEST_URL, ` +
        'or see test/support/postgres.ts for how to run one',
      { cause: err },
    );
  }
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    migrate: async () => {
      // As src/migrate.ts connects: no statement timeout.
      const { db } = connectItemsDatabase(
        { url: url.toString(), poolMax: 2, connectTimeoutMs: 5_000, statementTimeoutMs: 0 },
        () => undefined,
      );
      try {
        const { error } = await itemsMigrator(db).migrateToLatest();
        if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
      } finally {
        await db.destroy();
      }
    },
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_SERVER_URL });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
