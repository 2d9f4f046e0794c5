import { open } from 'node:fs/promises';
import type { StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import type { Item } from '../item.js';
import { RECORDS_SEPARATOR } from './snapshot-writer.js';
import { isStoredRecord, itemShapeProblem, SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_V1 } from './store-format.js';

/** Read at a time, so that loading never holds the whole file (a 100k-item snapshot is 15 MB). */
const CHUNK_BYTES = 1024 * 1024;
/** An item line is ~200 bytes; a longer one means the file is not laid out one item per line. */
const MAX_LINE_BYTES = 64 * 1024;
/** A JSON number, as the thorough reader's JSON.parse would accept it: no leading zeros. */
const HEADER = /^\{"format":"([^"]*)","seq":(0|[1-9]\d*),"items":\[$/;
/** ignoreBOM: the decoder would otherwise drop a byte order mark at the start of each chunk's text. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What a snapshot holds. */
export interface SnapshotContents {
  items: Item[];
  /**
   * The same items by id, when the reader built it on the way (it checks that ids are distinct):
   * the index takes it as it is instead of hashing a million ids again (ItemIndex.from).
   */
  byId?: Map<string, Item>;
  /** Format /1 has none. */
  records: StoredIdempotencyRecord[];
  seq: number;
  bytes: number;
}

/**
 * Reads a snapshot in the layout writeSnapshot() writes (a header line, one item per line, then, in
 * format /2, a separator line and one idempotency record per line, and `]}`), a
 * chunk at a time, parsing one line at a time. Returns undefined at the first thing it does not expect,
 * and the caller then reads the file the slow way, which says precisely what is wrong. Throws the file
 * system's errors (ENOENT included).
 *
 * Why not readFile + JSON.parse: the whole file as a Buffer, then as a string, then parsed in one
 * piece is three copies of it at once, and garbage that stays in the heap until a full collection,
 * which under load can be a long time: with 100,000 items, RSS at ready went from 181 to 148 MB
 * (bench/README.md).
 */
export async function readCanonicalSnapshot(file: string): Promise<SnapshotContents | undefined> {
  const handle = await open(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    const items: Item[] = [];
    const byId = new Map<string, Item>();
    const records: StoredIdempotencyRecord[] = [];
    const keys = new Set<string>();
    let seq: number | undefined;
    let format: string | undefined;
    // In format /2, once the separator line is past: the lines are records.
    let inRecords = false;
    let ended = false;
    // Every item line but the last ends in a comma, as JSON wants between array elements.
    let commaBefore = true;
    let carry: Buffer | undefined;
    let position = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const data = carry ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      // The whole lines of the chunk are decoded at once: one decode per line was a fifth of the start-up
      // time with a million items. A newline byte is never inside a multi-byte character.
      const lastNewline = data.lastIndexOf(0x0a);
      let text = '';
      if (lastNewline !== -1) {
        try {
          text = utf8.decode(data.subarray(0, lastNewline));
        } catch {
          return undefined;
        }
      }
      for (let start = 0; lastNewline !== -1 && start <= text.length;) {
        const newline = text.indexOf('\n', start);
        const end = newline === -1 ? text.length : newline;
        const line = text.slice(start, end);
        start = end + 1;
        if (ended) return undefined;
        if (seq === undefined) {
          const header = HEADER.exec(line);
          format = header?.[1];
          if (!header || (format !== SNAPSHOT_FORMAT && format !== SNAPSHOT_FORMAT_V1)) return undefined;
          seq = Number(header[2]);
          if (!Number.isSafeInteger(seq)) return undefined;
        } else if (line === ']}') {
          if ((inRecords ? records : items).length > 0 && commaBefore) return undefined;
          if (format === SNAPSHOT_FORMAT && !inRecords) return undefined;
          ended = true;
        } else if (line === RECORDS_SEPARATOR && format === SNAPSHOT_FORMAT && !inRecords) {
          if (items.length > 0 && commaBefore) return undefined;
          inRecords = true;
          commaBefore = true;
        } else {
          if (!commaBefore) return undefined;
          commaBefore = line.endsWith(',');
          const value = parseLine(commaBefore ? line.slice(0, -1) : line);
          if (inRecords) {
            if (!isStoredRecord(value) || keys.has(value.key)) return undefined;
            keys.add(value.key);
            records.push(value);
          } else {
            if (itemShapeProblem(value) !== undefined) return undefined;
            const item = value as Item;
            // One look-up, not has() then set(): a duplicate id leaves the size as it was.
            const size = byId.size;
            if (byId.set(item.id, item).size === size) return undefined;
            // An item never updated holds the same time twice: one string, not two, is ~40 MB less
            // with a million items.
            if (item.updated_at === item.created_at) (value as { updated_at: string }).updated_at = item.created_at;
            items.push(item);
          }
        }
      }
      // The rest is a partial line: copied, since the chunk is overwritten by the next read.
      const rest = lastNewline + 1;
      carry = rest < data.length ? Buffer.from(data.subarray(rest)) : undefined;
      if (carry && carry.length > MAX_LINE_BYTES) return undefined;
    }
    if (!ended || carry !== undefined || seq === undefined) return undefined;
    return { items, byId, records, seq, bytes: position };
  } finally {
    await handle.close();
  }
}

function parseLine(json: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}
