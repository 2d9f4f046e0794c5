import { parseArgs } from 'node:util';
import { ConfigError } from './config/app-config.js';
import { loadDatabaseConfiguration } from './config/database-config.js';
import { StoreCorruptError, StoreLockedError } from './items/json-file/store-files.js';
import { connectItemsDatabase } from './items/postgres/items-database.js';
import {
  copyIdempotencyRecordsToDatabase,
  copyItemsToDatabase,
  ImportSourceError,
  locateJsonFileStore,
  readJsonFileStore,
} from './items/postgres/json-file-import.js';
import { pendingMigrations } from './items/postgres/migrations.js';
import { describeDatabaseError } from './items/postgres/postgres-items.repository.js';
import { EXIT_CODES } from './lifecycle/exit-codes.js';

const USAGE = 'usage: npm run import -- --from <data directory or DB_PATH>';

/** Ids listed in a message; the rest are counted. */
const LISTED_IDS = 20;

/** A failure already worded for the operator: printed as it is, on one line. */
class ImportError extends Error {}

/**
 * `npm run import -- --from <data dir>`, or `node dist/import.js --from <data dir>` in the image: copies
 * a JSON-file store (snapshot plus journal, read as the service reads them, never changed) into the
 * PostgreSQL database at DATABASE_URL, whose schema `npm run migrate` has brought up to date. Run it
 * with the service stopped. Idempotent: an id already in the database is never overwritten; one with
 * other content there is a conflict, listed, and the exit status is non-zero.
 */
async function main(): Promise<void> {
  const from = parseFrom(process.argv.slice(2));
  const database = await loadDatabaseConfiguration();
  const files = await locateJsonFileStore(from);
  // Fail on the database before reading a large store; one connection is all the copy uses.
  const { db } = connectItemsDatabase({ ...database, poolMax: 1 }, () => undefined);
  try {
    let pending: string[];
    try {
      pending = await pendingMigrations(db);
    } catch (err) {
      throw new ImportError(`the database cannot be reached: ${describeDatabaseError(err)}`);
    }
    if (pending.length > 0)
      throw new ImportError(
        `the database schema is behind this release (not applied: ${pending.join(', ')}); ` +
          'run `npm run migrate` (or `node dist/migrate.js`) first',
      );

    const { items, records, tornTail } = await readJsonFileStore(files);
    if (tornTail)
      process.stdout.write(
        `${files.journal} ends in a line cut by a crash: that write was never acknowledged and is not imported\n`,
      );
    const counts = await copyItemsToDatabase(db, items).catch((err: unknown) => {
      throw new ImportError(`the copy stopped (batches already committed stay): ${describeDatabaseError(err)}`);
    });

    const conflicting = counts.conflicts.length > 0 ? `, conflicting ${counts.conflicts.length}` : '';
    const unstorable = counts.unstorable.length > 0 ? `, not storable ${counts.unstorable.length}` : '';
    process.stdout.write(
      `read ${items.length} items; inserted ${counts.inserted}, already present ${counts.present}${conflicting}${unstorable}\n`,
    );
    if (records.length > 0) {
      const copied = await copyIdempotencyRecordsToDatabase(db, records).catch((err: unknown) => {
        throw new ImportError(`the copy of the idempotency keys stopped: ${describeDatabaseError(err)}`);
      });
      process.stdout.write(
        `read ${records.length} live idempotency keys; inserted ${copied}, already present ${records.length - copied}\n`,
      );
    }
    const problems: string[] = [];
    if (counts.conflicts.length > 0)
      problems.push(
        `${counts.conflicts.length} ids are in the database with other content, left as they are (the database's ` +
          `copy may be newer): ${listIds(counts.conflicts)}; to take the file's copy, delete those rows and import again`,
      );
    if (counts.unstorable.length > 0)
      problems.push(
        `${counts.unstorable.length} items have a name that is not valid Unicode (an unpaired surrogate), which ` +
          `the database cannot hold unchanged; not imported: ${listIds(counts.unstorable)}`,
      );
    if (problems.length > 0) throw new ImportError(problems.join('\n'));
  } finally {
    await db.destroy();
  }
}

function parseFrom(args: string[]): string {
  let from: string | undefined;
  try {
    ({
      values: { from },
    } = parseArgs({ args, options: { from: { type: 'string' } }, strict: true }));
  } catch (err) {
    throw new ImportSourceError(`${(err as Error).message}; ${USAGE}`);
  }
  if (from === undefined || from === '') throw new ImportSourceError(`--from is missing; ${USAGE}`);
  return from;
}

function listIds(ids: readonly string[]): string {
  const listed = ids.slice(0, LISTED_IDS).join(', ');
  return ids.length > LISTED_IDS ? `${listed} and ${ids.length - LISTED_IDS} more` : listed;
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = EXIT_CODES.config;
    return;
  }
  if (err instanceof ImportSourceError) {
    process.stderr.write(`import failed: ${err.message}\n`);
    process.exitCode = EXIT_CODES.config;
    return;
  }
  // Errors of ours and of the store's loader name the file and line; a driver's is described without
  // the URL. Anything else is unexpected, and still gets one line rather than a stack.
  const known =
    err instanceof ImportError || err instanceof StoreLockedError || err instanceof StoreCorruptError
      ? err.message
      : describeDatabaseError(err);
  process.stderr.write(`import failed: ${known}\n`);
  process.exitCode = EXIT_CODES.failed;
});
