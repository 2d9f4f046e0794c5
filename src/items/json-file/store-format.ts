import type { IdempotencyRecord, StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import { SHA256_HEX_PATTERN } from '../idempotency/idempotency-record.js';
import { ISO_TIMESTAMP_PATTERN, type Item } from '../item.js';
import { ITEM_ID_PATTERN, itemRuleViolation } from '../item-rules.js';

/**
 * Names the snapshot layout, so that a later version can tell an old file from a foreign one. /2 adds
 * `idempotency_keys` after `items`; /1 (items only) is still read.
 */
export const SNAPSHOT_FORMAT = 'items-service.snapshot/2';
export const SNAPSHOT_FORMAT_V1 = 'items-service.snapshot/1';
export const SNAPSHOT_FORMATS: readonly string[] = [SNAPSHOT_FORMAT_V1, SNAPSHOT_FORMAT];

/**
 * One line of the journal: a change, numbered so that replay can skip what a snapshot holds. The put
 * of a POST with an Idempotency-Key carries its record: the key is durable exactly when the item is.
 */
export type JournalEntry =
  { seq: number; op: 'put'; item: Item; idempotency?: IdempotencyRecord } | { seq: number; op: 'delete'; id: string };

const RECORD_KEYS = ['key', 'fingerprint', 'expires_at'];

const ITEM_KEYS = ['id', 'name', 'created_at', 'updated_at', 'version'];

/**
 * Checks a stored item's shape; returns what is wrong with it, or undefined when it is well-formed.
 * Only this stops start-up: a file with the wrong shape was not written by this service. What the name
 * holds is a rule (item-rules.ts) that may tighten between versions, so a stored name that breaks it is
 * loaded anyway (recoverStore reports it). The id is the item's identity and its URL, not a rule that
 * can change under existing clients: a bad id is damage.
 */
export function itemShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'an item must be an object';
  const item = value as Record<string, unknown>;
  const unexpected = Object.keys(item).find((key) => !ITEM_KEYS.includes(key));
  if (unexpected !== undefined) return `an item has an unexpected field ${JSON.stringify(unexpected.slice(0, 64))}`;
  if (typeof item.id !== 'string' || !ITEM_ID_PATTERN.test(item.id)) return 'an item has a missing or invalid id';
  if (typeof item.name !== 'string') return `item ${JSON.stringify(item.id)} has a missing or invalid name`;
  for (const field of ['created_at', 'updated_at'])
    if (typeof item[field] !== 'string' || !ISO_TIMESTAMP_PATTERN.test(item[field]))
      return `item ${JSON.stringify(item.id)} has a missing or invalid ${field}`;
  if (!Number.isSafeInteger(item.version) || (item.version as number) < 1)
    return `item ${JSON.stringify(item.id)} has a missing or invalid version`;
  return undefined;
}

/**
 * What the store's writer checks before an item reaches the journal: its shape and the rules, the same
 * ones the API validated and the loader applies, so nothing is acknowledged that the next start-up
 * would not load as valid.
 */
export function itemWriteProblem(item: Item): string | undefined {
  return itemShapeProblem(item) ?? itemRuleViolation(item);
}

/** Checks a parsed journal line's shape; returns what is wrong with it, or undefined when it is well-formed. */
export function journalEntryProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'an entry must be an object';
  const entry = value as Record<string, unknown>;
  if (!Number.isSafeInteger(entry.seq) || (entry.seq as number) < 1) return 'the entry has no valid "seq"';
  if (entry.op === 'put')
    return (
      itemShapeProblem(entry.item) ??
      (entry.idempotency === undefined ? undefined : recordProblem(entry.idempotency, RECORD_KEYS))
    );
  if (entry.op === 'delete')
    return typeof entry.id === 'string' && ITEM_ID_PATTERN.test(entry.id) ? undefined : 'the entry has no valid "id"';
  return 'the entry has no valid "op" (put or delete)';
}

export function journalLine(entry: JournalEntry): string {
  return `${JSON.stringify(entry)}\n`;
}

/** Checks an idempotency record's shape (in a journal entry, or with its item in a snapshot). */
function recordProblem(value: unknown, keys: readonly string[]): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'an idempotency record must be an object';
  const record = value as Record<string, unknown>;
  const unexpected = Object.keys(record).find((key) => !keys.includes(key));
  if (unexpected !== undefined)
    return `an idempotency record has an unexpected field ${JSON.stringify(unexpected.slice(0, 64))}`;
  for (const field of ['key', 'fingerprint'])
    if (typeof record[field] !== 'string' || !SHA256_HEX_PATTERN.test(record[field]))
      return `an idempotency record has a missing or invalid ${field}`;
  if (
    typeof record.expires_at !== 'string' ||
    !ISO_TIMESTAMP_PATTERN.test(record.expires_at) ||
    Number.isNaN(Date.parse(record.expires_at))
  )
    return 'an idempotency record has a missing or invalid expires_at';
  return undefined;
}

/** Checks a snapshot's idempotency record: the record and the item as it was created. */
export function storedRecordProblem(value: unknown): string | undefined {
  const problem = recordProblem(value, [...RECORD_KEYS, 'item']);
  if (problem !== undefined) return problem;
  const itemProblem = itemShapeProblem((value as { item?: unknown }).item);
  return itemProblem === undefined ? undefined : `an idempotency record's item: ${itemProblem}`;
}

export function isStoredRecord(value: unknown): value is StoredIdempotencyRecord {
  return storedRecordProblem(value) === undefined;
}
