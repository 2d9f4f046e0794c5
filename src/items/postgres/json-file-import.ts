import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import type { Item } from '../item.js';
import { StoreFiles, StoreLockedError } from '../json-file/store-files.js';
import { liveHolder } from '../json-file/store-lock.js';
import { recoverStore } from '../json-file/store-recovery.js';
import type { ItemsDatabase } from './items-database.js';
import { toItem, toRecordRow, toRow } from './postgres-items.repository.js';

/** Rows per INSERT and per transaction: 5 parameters a row, far under PostgreSQL's 65535 per statement. */
export const IMPORT_BATCH_SIZE = 500;

/** The file name of DB_PATH's default (`./data/items.json`), looked for when `--from` is a directory. */
const DEFAULT_SNAPSHOT = 'items.json';

/** `--from` names no JSON-file store: the operator's to fix. */
export class ImportSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportSourceError';
  }
}

/**
 * The store's files for `--from`: a data directory (its `items.json`, DB_PATH's default name) or a
 * DB_PATH itself. Refuses a path that holds no store, rather than import nothing from a wrong path.
 */
export async function locateJsonFileStore(from: string): Promise<StoreFiles> {
  const resolved = path.resolve(from);
  const kind = await fileKind(resolved);
  if (kind === 'missing' && (await fileKind(`${resolved}.journal`)) === 'missing')
    throw new ImportSourceError(`--from ${from}: does not exist`);
  const files = new StoreFiles(kind === 'directory' ? path.join(resolved, DEFAULT_SNAPSHOT) : resolved);
  const present = await Promise.all([files.snapshot, files.journal, files.oldJournal].map(fileKind));
  if (present.every((found) => found === 'missing'))
    throw new ImportSourceError(
      `--from ${from}: no JSON-file store there (no ${path.basename(files.snapshot)} nor its journal); ` +
        'give the data directory or the store file (DB_PATH)',
    );
  return files;
}

async function fileKind(file: string): Promise<'missing' | 'directory' | 'file'> {
  try {
    return (await stat(file)).isDirectory() ? 'directory' : 'file';
  } catch (err) {
    // Another error (EACCES) is the loader's to report, naming the file.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'file';
  }
}

export interface JsonFileStoreContents {
  /** Every item the store holds, as the service would serve them, in (created_at, id) order. */
  items: readonly Item[];
  /** The idempotency keys still live, each with its item as created: a retry after the move still replays. */
  records: readonly StoredIdempotencyRecord[];
  /** A crash cut the journal's last line: that write was never acknowledged, and is not in `items`. */
  tornTail: boolean;
}

/**
 * Reads the store with the service's own loader (snapshot, then journal), changing no file: not even
 * the lock, so that a read-only mount of the volume will do. What it refuses is a store a live process
 * holds, before and after the read: that process may write after the copy, and the copy would miss it
 * (a service that started during the read is caught by the second look).
 */
export async function readJsonFileStore(files: StoreFiles): Promise<JsonFileStoreContents> {
  await refuseWhenHeld(files);
  const recovered = await recoverStore(files);
  await refuseWhenHeld(files);
  return { items: recovered.index.values(), records: [...recovered.records.values()], tornTail: recovered.tornTail };
}

async function refuseWhenHeld(files: StoreFiles): Promise<void> {
  const holder = await liveHolder(files.lock);
  if (holder)
    throw new StoreLockedError(
      `${files.snapshot} is in use by process ${holder.pid} on host ${holder.hostname} since ` +
        `${holder.acquired_at} (lock file ${files.lock}); stop the service first: a copy taken while it ` +
        'runs would miss its later writes',
    );
}

export interface ImportCounts {
  inserted: number;
  /** Already in the database, identical. */
  present: number;
  /** Ids in the database with other content: left as they are. */
  conflicts: string[];
  /** Ids whose name PostgreSQL cannot hold as it is (not valid Unicode): not imported. */
  unstorable: string[];
}

/**
 * Inserts the items that the database lacks, in batches, each in a transaction; an id already there
 * is never overwritten (the database's copy may be newer: written since a first import). Rows keep
 * id, name, timestamps and version, so an item's ETag is the same on both stores.
 */
export async function copyItemsToDatabase(
  db: Kysely<ItemsDatabase>,
  items: readonly Item[],
  batchSize = IMPORT_BATCH_SIZE,
): Promise<ImportCounts> {
  const counts: ImportCounts = { inserted: 0, present: 0, conflicts: [], unstorable: [] };
  // An unpaired surrogate would become U+FFFD on the way to UTF-8: a silent change. The service has
  // refused such names since they could first be written, so only an older or hand-edited file has one.
  const storable = items.filter((item) => item.name.isWellFormed());
  counts.unstorable = items.filter((item) => !item.name.isWellFormed()).map((item) => item.id);
  for (let start = 0; start < storable.length; start += batchSize) {
    const batch = storable.slice(start, start + batchSize);
    const result = await db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('items')
        .values(batch.map(toRow))
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning('id')
        .execute();
      const insertedIds = new Set(inserted.map((row) => row.id));
      const skipped = batch.filter((item) => !insertedIds.has(item.id));
      if (skipped.length === 0) return { inserted: inserted.length, present: 0, conflicts: [] };
      const rows = await trx
        .selectFrom('items')
        .selectAll()
        .where(
          'id',
          'in',
          skipped.map((item) => item.id),
        )
        .execute();
      const stored = new Map(rows.map((row) => [row.id, toItem(row)]));
      const conflicts = skipped.filter((item) => !sameItem(stored.get(item.id), item)).map((item) => item.id);
      return { inserted: inserted.length, present: skipped.length - conflicts.length, conflicts };
    });
    counts.inserted += result.inserted;
    counts.present += result.present;
    counts.conflicts.push(...result.conflicts);
  }
  return counts;
}

function sameItem(a: Item | undefined, b: Item): boolean {
  return (
    a !== undefined &&
    a.name === b.name &&
    a.created_at === b.created_at &&
    a.updated_at === b.updated_at &&
    a.version === b.version
  );
}

/**
 * Inserts the idempotency keys the database lacks, in batches; a key already there (the same POST, or
 * one made since through the database) is left as it is. Returns how many were inserted.
 */
export async function copyIdempotencyRecordsToDatabase(
  db: Kysely<ItemsDatabase>,
  records: readonly StoredIdempotencyRecord[],
  batchSize = IMPORT_BATCH_SIZE,
): Promise<number> {
  let inserted = 0;
  for (let start = 0; start < records.length; start += batchSize) {
    const rows = await db
      .insertInto('idempotency_keys')
      .values(records.slice(start, start + batchSize).map((record) => toRecordRow(record, record.item)))
      .onConflict((conflict) => conflict.column('key').doNothing())
      .returning('key')
      .execute();
    inserted += rows.length;
  }
  return inserted;
}
