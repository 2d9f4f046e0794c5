import { ISO_TIMESTAMP_PATTERN, type Item } from '../item.js';
import { ITEM_ID_PATTERN, itemRuleViolation } from '../item-rules.js';

/** Names the snapshot layout, so that a later version can tell an old file from a foreign one. */
export const SNAPSHOT_FORMAT = 'items-service.snapshot/1';

/** One line of the journal: a change, numbered so that replay can skip what a snapshot holds. */
export type JournalEntry = { seq: number; op: 'put'; item: Item } | { seq: number; op: 'delete'; id: string };

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
  if (entry.op === 'put') return itemShapeProblem(entry.item);
  if (entry.op === 'delete')
    return typeof entry.id === 'string' && ITEM_ID_PATTERN.test(entry.id) ? undefined : 'the entry has no valid "id"';
  return 'the entry has no valid "op" (put or delete)';
}

export function journalLine(entry: JournalEntry): string {
  return `${JSON.stringify(entry)}\n`;
}
