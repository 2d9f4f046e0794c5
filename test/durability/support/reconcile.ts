import type { StoredItem } from '../../support/items.js';

/** A write sent, and what its id held (as acknowledged) just before. */
export interface WriteAttempt {
  op: 'create' | 'update' | 'delete';
  id: string;
  name: string;
  before: StoredItem | undefined;
}

/** What the kill loops count of the writes left unanswered by a kill. */
export interface InFlightCounts {
  /** Writes whose answer never came, because the process died; each must be in whole or not at all. */
  inFlight: number;
  /** Of those, the ones the store holds. */
  inFlightApplied: number;
}

/**
 * Compares what the store holds after a kill (`actual`) with the acknowledged writes (`expected`, the last
 * acknowledged state of each id). A write whose answer never came may have been applied or not, but only
 * whole; `expected` then follows what the store holds. Returns the violations, each naming its item.
 */
export function reconcileWrites(
  expected: Map<string, StoredItem>,
  inFlight: ReadonlyMap<string, WriteAttempt>,
  actual: ReadonlyMap<string, StoredItem>,
  counts: InFlightCounts,
): string[] {
  const violations: string[] = [];
  for (const attempt of inFlight.values()) {
    counts.inFlight++;
    const found = actual.get(attempt.id);
    if (sameItem(found, attempt.before)) continue;
    if (appliedWhole(attempt, found)) {
      counts.inFlightApplied++;
      if (found) expected.set(attempt.id, found);
      else expected.delete(attempt.id);
      continue;
    }
    violations.push(
      `unacknowledged ${attempt.op} of ${attempt.id} left ${JSON.stringify(found)}: neither the acknowledged state ` +
        `(${JSON.stringify(attempt.before)}) nor the write applied whole`,
    );
  }
  for (const [id, item] of expected) {
    if (inFlight.has(id)) continue;
    const found = actual.get(id);
    if (!found) violations.push(`acknowledged item ${id} (version ${item.version}) is lost`);
    else if (!sameItem(found, item))
      violations.push(`item ${id} reverted or changed: ${JSON.stringify(found)}, acknowledged ${JSON.stringify(item)}`);
  }
  for (const id of actual.keys())
    if (!expected.has(id) && !inFlight.has(id)) violations.push(`item ${id} exists, but no write created it`);
  return violations;
}

function appliedWhole(attempt: WriteAttempt, found: StoredItem | undefined): boolean {
  if (attempt.op === 'delete') return found === undefined;
  if (!found || found.id !== attempt.id || found.name !== attempt.name) return false;
  if (attempt.op === 'create') return found.version === 1 && found.created_at === found.updated_at;
  const before = attempt.before!;
  return (
    found.version === before.version + 1 &&
    found.created_at === before.created_at &&
    found.updated_at >= before.updated_at
  );
}

/**
 * The same five fields and nothing else, field by field: the API's body and a row read back need not list
 * them in one order.
 */
function sameItem(a: StoredItem | undefined, b: StoredItem | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const fields = (item: StoredItem) => [item.id, item.name, item.created_at, item.updated_at, item.version];
  return (
    Object.keys(a).length === 5 && Object.keys(b).length === 5 && fields(a).every((value, n) => value === fields(b)[n])
  );
}
