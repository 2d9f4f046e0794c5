import { ConfigError } from './config/app-config.js';
import { loadDatabaseConfiguration } from './config/database-config.js';
import { connectItemsDatabase } from './items/postgres/items-database.js';
import { itemsMigrator } from './items/postgres/migrations.js';
import { describeDatabaseError } from './items/postgres/postgres-items.repository.js';
import { EXIT_CODES } from './lifecycle/exit-codes.js';

/**
 * `npm run migrate`, or `node dist/migrate.js` in the image (the chart's pre-install/pre-upgrade Job):
 * brings the PostgreSQL schema at DATABASE_URL up to this release's. Safe when several run at once:
 * Kysely's migrator takes a lock in the database, and a run that finds nothing left to do says so.
 * The service itself never migrates; it refuses to start on a schema that is behind.
 */
async function main(): Promise<void> {
  // The database settings alone (environment, then .env): a migration Job needs no API keys, and
  // STORE_DRIVER does not matter (a JSON-file install migrates its database before `npm run import`).
  const database = await loadDatabaseConfiguration();
  // No statement timeout: a second run waits for the first one's lock, and a migration may be long.
  const { db } = connectItemsDatabase({ ...database, poolMax: 2, statementTimeoutMs: 0 }, () => undefined);
  try {
    const { error, results = [] } = await itemsMigrator(db).migrateToLatest();
    for (const result of results)
      process.stdout.write(
        `migration ${result.migrationName}: ${result.status === 'Success' ? 'applied' : result.status.toLowerCase()}\n`,
      );
    if (error) throw error instanceof Error ? error : new Error('the migration failed', { cause: error });
    process.stdout.write(
      results.length === 0 ? 'schema up to date; nothing to apply\n' : `applied ${results.length}\n`,
    );
  } finally {
    await db.destroy();
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = EXIT_CODES.config;
    return;
  }
  process.stderr.write(`migration failed: ${describeDatabaseError(err)}\n`);
  process.exitCode = EXIT_CODES.failed;
});
