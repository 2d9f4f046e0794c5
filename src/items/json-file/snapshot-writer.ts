import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import type { StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import type { Item } from '../item.js';
import { fsyncDirectory, type StoreFiles, writeAll } from './store-files.js';
import { SNAPSHOT_FORMAT } from './store-format.js';

/** The line between the two arrays of the snapshot (format /2). */
export const RECORDS_SEPARATOR = '],"idempotency_keys":[';

/** Items serialized per write: large enough to be cheap, small enough not to stall the event loop. */
const ITEMS_PER_CHUNK = 2_000;

/**
 * Replaces the snapshot atomically with the given state: write a temp file in the same directory,
 * fsync it, rename it over the snapshot, fsync the directory. A crash at any point leaves either the
 * old snapshot or the new one, never a mix; an orphan temp file is removed at the next start.
 * Returns the snapshot's size in bytes. One element per line (snapshot-reader reads it that way): the
 * items, then the live idempotency records, each with the item as it was created.
 */
export async function writeSnapshot(
  files: StoreFiles,
  items: readonly Item[],
  seq: number,
  records: readonly StoredIdempotencyRecord[] = [],
): Promise<number> {
  const temp = files.tempFile();
  const handle = await open(temp, 'wx', 0o640);
  let size = 0;
  try {
    size += await writeAll(handle, `{"format":"${SNAPSHOT_FORMAT}","seq":${seq},"items":[\n`, size);
    size += await writeLines(handle, items, size);
    size += await writeAll(handle, `${RECORDS_SEPARATOR}\n`, size);
    size += await writeLines(handle, records, size);
    size += await writeAll(handle, ']}\n', size);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(temp, files.snapshot);
  await fsyncDirectory(files.directory);
  return size;
}

/** Writes one JSON value per line, comma-separated, in chunks; returns the bytes written. */
async function writeLines(handle: FileHandle, values: readonly unknown[], position: number): Promise<number> {
  let size = 0;
  for (let start = 0; start < values.length; start += ITEMS_PER_CHUNK) {
    const chunk = values.slice(start, start + ITEMS_PER_CHUNK).map((value) => JSON.stringify(value));
    const last = start + ITEMS_PER_CHUNK >= values.length;
    size += await writeAll(handle, `${chunk.join(',\n')}${last ? '\n' : ',\n'}`, position + size);
  }
  return size;
}
