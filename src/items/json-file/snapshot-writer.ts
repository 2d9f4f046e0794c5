import { open, rename, unlink } from 'node:fs/promises';
import type { Item } from '../item.js';
import { fsyncDirectory, type StoreFiles, writeAll } from './store-files.js';
import { SNAPSHOT_FORMAT } from './store-format.js';

/** Items serialized per write: large enough to be cheap, small enough not to stall the event loop. */
const ITEMS_PER_CHUNK = 2_000;

/**
 * Replaces the snapshot atomically with the given state: write a temp file in the same directory,
 * fsync it, rename it over the snapshot, fsync the directory. A crash at any point leaves either the
 * old snapshot or the new one, never a mix; an orphan temp file is removed at the next start.
 * Returns the snapshot's size in bytes.
 */
export async function writeSnapshot(files: StoreFiles, items: readonly Item[], seq: number): Promise<number> {
  const temp = files.tempFile();
  const handle = await open(temp, 'wx', 0o640);
  let size = 0;
  try {
    size += await writeAll(handle, `{"format":"${SNAPSHOT_FORMAT}","seq":${seq},"items":[\n`, size);
    for (let start = 0; start < items.length; start += ITEMS_PER_CHUNK) {
      const chunk = items.slice(start, start + ITEMS_PER_CHUNK).map((item) => JSON.stringify(item));
      const last = start + ITEMS_PER_CHUNK >= items.length;
      size += await writeAll(handle, `${chunk.join(',\n')}${last ? '\n' : ',\n'}`, size);
    }
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
