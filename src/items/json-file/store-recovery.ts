import { readFile } from 'node:fs/promises';
import { isLive, type StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import type { Item } from '../item.js';
import { type ItemRules, itemRuleViolation } from '../item-rules.js';
import { ItemIndex } from './item-index.js';
import { readCanonicalSnapshot, type SnapshotContents } from './snapshot-reader.js';
import { describeFsError, StoreCorruptError, type StoreFiles } from './store-files.js';
import {
  itemShapeProblem,
  type JournalEntry,
  journalEntryProblem,
  SNAPSHOT_FORMAT,
  SNAPSHOT_FORMATS,
  storedRecordProblem,
} from './store-format.js';

/** What start-up found on disk, after replaying the journal. */
export interface RecoveredStore {
  index: ItemIndex;
  /** The live idempotency records, by key (expired ones are left out). */
  records: Map<string, StoredIdempotencyRecord>;
  /** The sequence number of the last change applied. */
  seq: number;
  snapshotBytes: number;
  journalExists: boolean;
  /** Bytes of the journal up to its last whole line. */
  journalBytes: number;
  /** The journal ends in a torn line (a crash during an append) past `journalBytes`. */
  tornTail: boolean;
  oldJournalExists: boolean;
  /** Items that are well-formed but break the current rules (see itemShapeProblem): loaded all the same. */
  nonconforming: NonconformingItem[];
}

export interface NonconformingItem {
  id: string;
  /** The rule it breaks; never its content. */
  rule: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Loads the snapshot and replays the journal(s) after it. Reads only: it never changes a file. Any
 * damage other than a torn last journal line throws a StoreCorruptError naming file and line. Items
 * that are well-formed but break `rules` are loaded and listed in `nonconforming`: rules tighten
 * between versions, and what an earlier version acknowledged must not stop this one from starting.
 */
export async function recoverStore(files: StoreFiles, rules: ItemRules = itemRuleViolation): Promise<RecoveredStore> {
  const {
    items,
    byId,
    records: snapshotRecords,
    seq: snapshotSeq,
    bytes: snapshotBytes,
  } = await loadSnapshot(files.snapshot);
  const index = ItemIndex.from(items, byId);
  const records = new Map(snapshotRecords.map((record) => [record.key, record]));
  const replay = { index, records, seq: snapshotSeq, snapshotSeq };

  const oldJournal = await readOptional(files.oldJournal);
  if (oldJournal !== undefined) replayJournal(files.oldJournal, oldJournal, replay, false);
  const journal = await readOptional(files.journal);
  const journalBytes = journal === undefined ? 0 : replayJournal(files.journal, journal, replay, true);

  const now = Date.now();
  for (const [key, record] of records) if (!isLive(record, now)) records.delete(key);
  return {
    index,
    records,
    seq: replay.seq,
    snapshotBytes,
    journalExists: journal !== undefined,
    journalBytes,
    tornTail: journal !== undefined && journalBytes < journal.length,
    oldJournalExists: oldJournal !== undefined,
    nonconforming: nonconformingItems(index, rules),
  };
}

/** Checked once over what survived replay: a name a later entry replaced does not matter. */
function nonconformingItems(index: ItemIndex, rules: ItemRules): NonconformingItem[] {
  const found: NonconformingItem[] = [];
  for (const item of index.values()) {
    const rule = rules(item);
    if (rule !== undefined) found.push({ id: item.id, rule });
  }
  return found;
}

/** The snapshot's items: the fast way when the file is as the store writes it, else the thorough way. */
async function loadSnapshot(file: string): Promise<SnapshotContents> {
  const none: SnapshotContents = { items: [], records: [], seq: 0, bytes: 0 };
  try {
    const canonical = await readCanonicalSnapshot(file);
    if (canonical) return canonical;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return none;
    throw new StoreCorruptError(file, `cannot be read: ${describeFsError(err)}`);
  }
  const bytes = await readOptional(file);
  if (bytes === undefined) return none;
  return { ...parseSnapshot(file, bytes), bytes: bytes.length };
}

async function readOptional(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreCorruptError(file, `cannot be read: ${describeFsError(err)}`);
  }
}

function parseSnapshot(file: string, bytes: Buffer): Omit<SnapshotContents, 'bytes'> {
  if (bytes.length === 0) throw new StoreCorruptError(file, 'is empty, but a snapshot always holds a JSON object');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new StoreCorruptError(file, 'is not valid UTF-8 text', lineOfByte(bytes, firstInvalidUtf8(bytes)));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const { line, reason } = describeJsonError(text, err);
    throw new StoreCorruptError(file, reason, line);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new StoreCorruptError(file, 'is JSON, but not a snapshot object');
  const snapshot = parsed as Record<string, unknown>;
  if (typeof snapshot.format !== 'string' || !SNAPSHOT_FORMATS.includes(snapshot.format))
    throw new StoreCorruptError(
      file,
      `is not a snapshot of this service (format is not ${SNAPSHOT_FORMATS.map((f) => `"${f}"`).join(' nor ')})`,
    );
  if (!Number.isSafeInteger(snapshot.seq) || (snapshot.seq as number) < 0)
    throw new StoreCorruptError(file, 'has no valid "seq"');
  if (!Array.isArray(snapshot.items)) throw new StoreCorruptError(file, 'has no "items" array');

  // Written one item per line after a header line (and, in /2, a separator and a line per record); a
  // hand-formatted file gets item numbers instead.
  const lines =
    snapshot.items.length + 3 + (Array.isArray(snapshot.idempotency_keys) ? snapshot.idempotency_keys.length + 1 : 0);
  const canonical = text.split('\n', lines + 1).length === lines;
  const where = (i: number) =>
    canonical ? { line: i + 2, label: '' } : { line: undefined, label: `item #${i + 1}: ` };
  const seen = new Set<string>();
  const items = snapshot.items as unknown[];
  for (let i = 0; i < items.length; i++) {
    const problem = itemShapeProblem(items[i]);
    const { line, label } = where(i);
    if (problem !== undefined) throw new StoreCorruptError(file, label + problem, line);
    const id = (items[i] as Item).id;
    if (seen.has(id)) throw new StoreCorruptError(file, `${label}duplicate id ${JSON.stringify(id)}`, line);
    seen.add(id);
  }
  return { items: items as Item[], records: parseRecords(file, snapshot, text), seq: snapshot.seq as number };
}

/** Format /2's idempotency records (each with its item as created); format /1 has none. */
function parseRecords(file: string, snapshot: Record<string, unknown>, text: string): StoredIdempotencyRecord[] {
  if (snapshot.format !== SNAPSHOT_FORMAT) {
    if ('idempotency_keys' in snapshot)
      throw new StoreCorruptError(
        file,
        `has "idempotency_keys", which its format "${String(snapshot.format)}" has not`,
      );
    return [];
  }
  if (!Array.isArray(snapshot.idempotency_keys)) throw new StoreCorruptError(file, 'has no "idempotency_keys" array');
  const records = snapshot.idempotency_keys as unknown[];
  const items = snapshot.items as unknown[];
  // As written: a line per item, the separator, a line per record.
  const lines = items.length + records.length + 4;
  const canonical = text.split('\n', lines + 1).length === lines;
  const seen = new Set<string>();
  for (let i = 0; i < records.length; i++) {
    const [line, label] = canonical ? [items.length + i + 3, ''] : [undefined, `idempotency record #${i + 1}: `];
    const problem = storedRecordProblem(records[i]);
    if (problem !== undefined) throw new StoreCorruptError(file, label + problem, line);
    const { key } = records[i] as StoredIdempotencyRecord;
    if (seen.has(key)) throw new StoreCorruptError(file, `${label}duplicate idempotency key`, line);
    seen.add(key);
  }
  return records as StoredIdempotencyRecord[];
}

interface Replay {
  index: ItemIndex;
  records: Map<string, StoredIdempotencyRecord>;
  seq: number;
  snapshotSeq: number;
}

/**
 * Applies the journal's entries after the snapshot's sequence number. Returns the byte length of its
 * whole lines. A last line with no newline is a torn append, allowed only where `mayBeTorn`.
 */
function replayJournal(file: string, bytes: Buffer, replay: Replay, mayBeTorn: boolean): number {
  let start = 0;
  let line = 0;
  while (start < bytes.length) {
    line++;
    const end = bytes.indexOf(0x0a, start);
    if (end === -1) {
      if (mayBeTorn) return start;
      throw new StoreCorruptError(file, 'ends in an incomplete line', line);
    }
    const entry = parseEntry(file, bytes.subarray(start, end), line);
    const expected = replay.seq + 1;
    if (replay.seq === replay.snapshotSeq && entry.seq <= replay.snapshotSeq) {
      // Already in the snapshot: a compaction renamed it but had not yet removed the old journal.
    } else if (entry.seq !== expected) {
      throw new StoreCorruptError(
        file,
        `sequence number ${entry.seq} follows ${replay.seq}: changes are missing`,
        line,
      );
    } else {
      apply(file, entry, replay.index, line);
      if (entry.op === 'put' && entry.idempotency)
        replay.records.set(entry.idempotency.key, { ...entry.idempotency, item: entry.item });
      replay.seq = entry.seq;
    }
    start = end + 1;
  }
  return start;
}

function parseEntry(file: string, bytes: Buffer, line: number): JournalEntry {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new StoreCorruptError(file, 'is not a valid JSON line', line);
  }
  const problem = journalEntryProblem(value);
  if (problem !== undefined) throw new StoreCorruptError(file, problem, line);
  return value as JournalEntry;
}

function apply(file: string, entry: JournalEntry, index: ItemIndex, line: number): void {
  if (entry.op === 'put') {
    const current = index.get(entry.item.id);
    if (current && current.created_at !== entry.item.created_at)
      throw new StoreCorruptError(file, `changes the created_at of item ${JSON.stringify(entry.item.id)}`, line);
    index.put(entry.item);
  } else if (!index.delete(entry.id)) {
    throw new StoreCorruptError(file, `deletes item ${JSON.stringify(entry.id)}, which does not exist`, line);
  }
}

/** Turns JSON.parse's error into a line number and a reason that quotes none of the file's content. */
function describeJsonError(text: string, err: unknown): { line?: number; reason: string } {
  const message = err instanceof Error ? err.message : '';
  const position = /position (\d+)/.exec(message);
  if (position) {
    const offset = Number(position[1]);
    return { line: lineOfOffset(text, offset), reason: 'is not valid JSON' };
  }
  if (/end of JSON input|Unterminated/i.test(message)) {
    return { line: lineOfOffset(text, text.length), reason: 'is not valid JSON: it ends too early (truncated?)' };
  }
  return { reason: 'is not valid JSON' };
}

function lineOfOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function lineOfByte(bytes: Buffer, offset: number): number {
  let line = 1;
  for (let i = bytes.indexOf(0x0a); i !== -1 && i < offset; i = bytes.indexOf(0x0a, i + 1)) line++;
  return line;
}

function firstInvalidUtf8(bytes: Buffer): number {
  let low = 0;
  let high = bytes.length;
  // The longest valid prefix, by bisection: decoding is all-or-nothing.
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
      low = mid;
    } catch {
      high = mid - 1;
    }
  }
  return low;
}
