/** Injection token of the optional `StoreObserver` (the observability module provides one). */
export const STORE_OBSERVER = Symbol('StoreObserver');

/**
 * What the JSON-file store reports as it works: the port between it and metrics and traces, so that
 * the store depends on no observability library. `TraceParent` is opaque here.
 */
export interface StoreObserver {
  /** Captured when a write is queued: parents the spans of the steps it later waits for. */
  currentTraceParent(): unknown;
  /** One group commit's fsync, failed or not (`performance.now()` times), and the writes that waited. */
  fsynced(startedAt: number, endedAt: number, writes: readonly unknown[], failed: boolean): void;
  /** The store's size after a load, a commit or a compaction. */
  sized(items: number, journalBytes: number): void;
  /** Stored items that break the current rules (loaded all the same), after a load or a write. */
  nonconforming(items: number): void;
}
