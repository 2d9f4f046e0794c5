/** An item as stored and as returned by the API. Immutable: a change makes a new object. */
export interface Item {
  readonly id: string;
  readonly name: string;
  /** ISO 8601 UTC with milliseconds, e.g. 2026-11-21T10:00:00.000Z. */
  readonly created_at: string;
  readonly updated_at: string;
  /** Starts at 1, +1 on every change; the ETag is derived from it. */
  readonly version: number;
}

export const ISO_TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Where a page of the list starts: items are ordered by (created_at, id). */
export interface ItemPosition {
  readonly created_at: string;
  readonly id: string;
}

/** Orders items by creation time, then id, so that pagination is stable. */
export function compareItemPositions(a: ItemPosition, b: ItemPosition): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}
