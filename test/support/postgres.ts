import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectItemsDatabase } from '../../src/items/postgres/items-database.js';
import { itemsMigrator } from '../../src/items/postgres/migrations.js';
import { diagnostic } from './diagnostic.js';
import { type PostgresCluster, startPostgresCluster } from './postgres-cluster.js';

/** The machine's own server, as CI runs it: PostgreSQL on the default port, trust authentication. */
const LOCAL_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

let server: Promise<string> | undefined;
let throwaway: PostgresCluster | undefined;

/**
 * The PostgreSQL server the tests use, found once per test file: PG_TEST_URL when set (and then it must
 * answer); else the machine's own on 127.0.0.1:5432 when it answers; else a throwaway cluster of this
 * file's own (test/support/postgres-cluster.ts, Debian's `postgresql` package), stopped after the file.
 * Never a skip: without any of them, the test fails saying how to get one.
 */
export function postgresServerUrl(): Promise<string> {
  server ??= findServer().catch((err: unknown) => {
    server = undefined;
    throw err;
  });
  return server;
}

async function findServer(): Promise<string> {
  const given = process.env.PG_TEST_URL;
  if (given !== undefined) {
    const problem = await unreachable(given);
    if (problem !== undefined)
      throw new Error(
        `no PostgreSQL at PG_TEST_URL (${problem}): start it, or unset PG_TEST_URL to use a throwaway one`,
      );
    return given;
  }
  if ((await unreachable(LOCAL_SERVER_URL)) === undefined) return LOCAL_SERVER_URL;
  try {
    throwaway = await startPostgresCluster();
  } catch (err) {
    throw new Error(
      `the postgres tests need a PostgreSQL server: none on 127.0.0.1:5432, no PG_TEST_URL, and a throwaway ` +
        `one could not be started (${(err as Error).message}). apt-get install postgresql, or set PG_TEST_URL ` +
        '(e.g. docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15)',
      { cause: err },
    );
  }
  diagnostic(
    `no PostgreSQL on 127.0.0.1:5432 and no PG_TEST_URL: this file runs on a throwaway one (port ${throwaway.port})`,
  );
  return throwaway.url;
}

// Registered as this module loads, with the test file's other hooks: the throwaway server, if one was
// needed, lasts until the file's own afterAll hooks (which drop its databases) have run. Jest's global
// rather than an import from @jest/globals, which only loads inside Jest: the benchmark uses this module
// too, and there the cluster is removed at process exit (postgres-cluster.ts).
const jestAfterAll = (globalThis as { afterAll?: (fn: () => void) => void }).afterAll;
jestAfterAll?.(() => {
  throwaway?.remove();
  throwaway = undefined;
  server = undefined;
});

/** Why the server at `url` does not answer `select 1` within 2 s, or undefined when it does. */
async function unreachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface TestDatabase {
  /** DATABASE_URL of a database of its own, created empty for this test. */
  url: string;
  /** Runs the migrations, as `npm run migrate` would. */
  migrate: () => Promise<void>;
  /** Drops it (after closing every connection to it). */
  drop: () => Promise<void>;
}

/**
 * A fresh database on the test server (postgresServerUrl()), or on the server at `serverUrl` (a
 * superuser's URL, such as a PostgresCluster's), dropped by `drop()`.
 */
export async function createTestDatabase(serverUrl?: string): Promise<TestDatabase> {
  const adminUrl = serverUrl ?? (await postgresServerUrl());
  const name = `items_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`no PostgreSQL at ${adminUrl} (${(err as Error).message})`, { cause: err });
  }
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
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
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}
