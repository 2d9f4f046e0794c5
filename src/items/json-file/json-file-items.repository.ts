import type { ConfigType } from '@nestjs/config';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, rename, statfs, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { storeConfig } from '../../config/config.namespaces.js';
import { EXIT_CODES } from '../../lifecycle/exit-codes.js';
import { Lifecycle } from '../../lifecycle/lifecycle.js';
import { IdempotencyKeyInUseError } from '../idempotency/idempotency.errors.js';
import { type IdempotencyRecord, isLive, type StoredIdempotencyRecord } from '../idempotency/idempotency-record.js';
import type { Item, ItemPosition } from '../item.js';
import {
  InvalidItemError,
  ItemAlreadyExistsError,
  ItemNotFoundError,
  ItemVersionMismatchError,
  StoreUnavailableError,
} from '../items.errors.js';
import type { ItemsRepository } from '../items.repository.js';
import { ItemIndex } from './item-index.js';
import { writeSnapshot } from './snapshot-writer.js';
import { describeFsError, fsyncDirectory, StoreCorruptError, StoreFiles, writeAll } from './store-files.js';
import { itemWriteProblem, type JournalEntry, journalLine } from './store-format.js';
import { StoreLock } from './store-lock.js';
import { STORE_OBSERVER, type StoreObserver } from './store-observer.js';
import { recoverStore } from './store-recovery.js';

/** Nonconforming items named one log line each at start-up; the rest are counted in one line. */
const MAX_NAMED_NONCONFORMING = 20;
/** Compact once the journal outgrows the snapshot times this ratio (and DB_COMPACT_THRESHOLD). */
const COMPACT_RATIO = 1;

type Write =
  | { op: 'insert'; item: Item; idempotency?: IdempotencyRecord }
  | { op: 'replace'; item: Item; expectedVersion: number }
  | { op: 'remove'; id: string; expectedVersion?: number };

interface PendingWrite {
  write: Write;
  trace: unknown;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The embedded store: a JSON snapshot (`DB_PATH`) plus a JSON-lines journal beside it.
 *
 * Written with node:fs directly, not a library, because the order of writes, fsyncs and renames is
 * the whole point:
 * - A write is acknowledged only after its journal line is fsynced. Writes that arrive while an fsync
 *   is running wait and share the next one (group commit), so throughput does not drop to one write
 *   per fsync, and a write costs the same at 100 items as at 100,000.
 * - Writes are checked (exists? right version?) in the order they commit, against the state that
 *   includes the writes committed before them, so concurrent writes cannot both win.
 * - Memory changes only after the disk has the change. A failed write or fsync acknowledges nothing:
 *   the journal is cut back to its last acknowledged byte, and the write fails with a 503.
 * - When the journal outgrows the snapshot, it is folded into a new snapshot in the background: the
 *   journal is first set aside (renamed), then a snapshot of the state at that point is written
 *   atomically (see writeSnapshot), then the old journal is removed. Sequence numbers let start-up
 *   skip entries a snapshot already holds, so a crash between any two steps loses nothing.
 */
@Injectable()
export class JsonFileItemsRepository implements ItemsRepository, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('JsonFileItemsRepository');
  private readonly files: StoreFiles;
  private readonly compactThresholdBytes: number;
  private index = new ItemIndex();
  /** Idempotency records by key, as committed; an expired one is ignored, and dropped at compaction. */
  private records = new Map<string, StoredIdempotencyRecord>();
  /** Keys of inserts queued or being committed: a second request with one is refused at once. */
  private readonly keysInFlight = new Set<string>();
  private seq = 0;
  private lock?: StoreLock;
  private journal?: FileHandle;
  private journalBytes = 0;
  private snapshotBytes = 0;
  private oldJournalExists = false;
  /** Ids of loaded items that break the current rules, until a write replaces or removes them. */
  private readonly nonconforming = new Set<string>();

  private pending: PendingWrite[] = [];
  private committing?: Promise<void>;
  private compaction?: Promise<void>;
  /** Resolves once a compaction has set the journal aside; commits wait for it. */
  private rotation?: Promise<void>;
  private compactionRetryAt = 0;
  private loaded = false;
  private closing = false;
  /** Set when the disk can no longer be trusted to hold exactly the acknowledged writes. */
  private failure?: Error;
  /**
   * Runs a function in the async context of the store's construction, outside any request: the commit
   * loop serves every request's writes and must not carry the one that happened to start it (its
   * trace, for one).
   */
  private readonly detached = AsyncResource.bind((run: () => void) => run());

  constructor(
    @Inject(storeConfig.KEY) store: ConfigType<typeof storeConfig>,
    private readonly lifecycle: Lifecycle,
    @Optional() @Inject(STORE_OBSERVER) private readonly telemetry?: StoreObserver,
  ) {
    this.files = new StoreFiles(store.path);
    this.compactThresholdBytes = store.compactThresholdBytes;
  }

  /**
   * Opens the store: lock, load, replay, then clean up. Any problem stops start-up and changes no file:
   * everything is read and checked before the first change (even removing a temp file) is made.
   */
  async onModuleInit(): Promise<void> {
    const started = performance.now();
    await this.ensureDirectory();
    this.lock = await StoreLock.acquire(this.files.lock, this.files.snapshot);
    try {
      const recovered = await recoverStore(this.files);
      await this.removeOrphanTempFiles();
      this.index = recovered.index;
      this.records = recovered.records;
      this.seq = recovered.seq;
      this.snapshotBytes = recovered.snapshotBytes;
      this.journalBytes = recovered.journalBytes;
      this.oldJournalExists = recovered.oldJournalExists;
      this.reportNonconforming(recovered.nonconforming);
      if (recovered.tornTail) await this.dropTornTail(recovered.journalBytes);
      if (recovered.snapshotBytes === 0 && !recovered.journalExists && !recovered.oldJournalExists) {
        // A new store: write an empty snapshot so that DB_PATH is there for a person to open.
        this.snapshotBytes = await writeSnapshot(this.files, [], 0);
      }
      if (!recovered.journalExists) await this.createJournal();
      this.journal = await open(this.files.journal, 'r+');
      if (this.oldJournalExists) await this.compact();
    } catch (err) {
      await this.journal?.close().catch(() => undefined);
      await this.lock.release();
      throw err;
    }
    this.loaded = true;
    this.telemetry?.sized(this.index.size, this.journalBytes);
    this.telemetry?.nonconforming(this.nonconforming.size);
    this.logger.log({
      msg: 'store loaded',
      db_path: this.files.snapshot,
      items: this.index.size,
      seq: this.seq,
      duration_ms: Math.round(performance.now() - started),
    });
  }

  /**
   * Runs after the HTTP drain: finishes queued writes, then releases the files. A failure is the
   * shutdown's to report (exit code 1); Nest would only log it, and run the steps after it anyway.
   */
  async onApplicationShutdown(): Promise<void> {
    try {
      await this.close();
    } catch (err) {
      this.lifecycle.raiseExitCode(EXIT_CODES.failed);
      this.logger.error({ msg: 'shutdown step failed', step: 'store close', err: describeFsError(err) });
    }
  }

  /** True while writes can be accepted: loaded, not closing, and no unrecoverable I/O error. */
  isWritable(): boolean {
    return this.loaded && !this.closing && this.failure === undefined;
  }

  isLoaded(): boolean {
    return this.loaded;
  }

  /**
   * Readiness: loaded, no I/O error, and a data directory that takes new files (compaction needs it,
   * and so does the next start-up, for its lock) on a disk with space left. Two cheap system calls.
   * access() answers for this process: as root, only a read-only file system fails it, and rightly,
   * since root can write anywhere else. The reasons name no path: the probes answer anyone.
   */
  async checkWritable(): Promise<void> {
    if (this.failure) throw new Error(`the store stopped after an I/O error: ${describeFsError(this.failure)}`);
    if (!this.loaded) throw new Error('the store is not open');
    if (this.closing) throw new Error('the store is closing');
    try {
      await access(this.files.directory, constants.W_OK);
    } catch (err) {
      throw new Error(`the data directory is not writable: ${describeFsError(err)}`, { cause: err });
    }
    let free: number;
    try {
      free = (await statfs(this.files.directory)).bavail;
    } catch (err) {
      throw new Error(`the data disk cannot be queried: ${describeFsError(err)}`, { cause: err });
    }
    if (free === 0) throw new Error('the data disk is full');
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.committing;
    await this.compaction;
    await this.journal?.close().catch(() => undefined);
    this.journal = undefined;
    await this.lock?.release();
    this.loaded = false;
    this.logger.log({ msg: 'store closed', items: this.index.size, seq: this.seq });
  }

  findById(id: string): Promise<Item | undefined> {
    return Promise.resolve(this.index.get(id));
  }

  list(limit: number, after?: ItemPosition): Promise<{ items: Item[]; hasMore: boolean }> {
    return Promise.resolve(this.index.page(limit, after));
  }

  insert(item: Item, idempotency?: IdempotencyRecord): Promise<void> {
    const refused = this.checked(item);
    if (refused) return refused;
    if (!idempotency) return this.enqueue({ op: 'insert', item });
    const { key } = idempotency;
    if (this.keysInFlight.has(key)) return Promise.reject(new IdempotencyKeyInUseError());
    this.keysInFlight.add(key);
    // Deleted once settled: by then a committed record has taken over (commitBatch sets it first).
    return this.enqueue({ op: 'insert', item, idempotency }).finally(() => this.keysInFlight.delete(key));
  }

  findIdempotencyRecord(key: string): Promise<StoredIdempotencyRecord | undefined> {
    const record = this.records.get(key);
    return Promise.resolve(record && isLive(record) ? record : undefined);
  }

  replace(item: Item, expectedVersion: number): Promise<void> {
    return this.checked(item) ?? this.enqueue({ op: 'replace', item, expectedVersion });
  }

  /**
   * Refuses an item the loader would not take as valid. The API's validation applies the same rules, so
   * this never refuses a request that passed it; it keeps a future caller from writing what the next
   * start-up would flag.
   */
  private checked(item: Item): Promise<never> | undefined {
    const problem = itemWriteProblem(item);
    if (problem === undefined) return undefined;
    return Promise.reject(new InvalidItemError(problem));
  }

  /**
   * Warns about each stored item the current rules reject, by id (never its content: a name may be
   * anything), and counts them. The first few are named one by one; a store full of them is one line.
   */
  private reportNonconforming(items: readonly { id: string; rule: string }[]): void {
    for (const { id } of items) this.nonconforming.add(id);
    for (const { id, rule } of items.slice(0, MAX_NAMED_NONCONFORMING))
      this.logger.warn({
        msg: 'loaded an item that the current rules reject; it is served as stored',
        item_id: id,
        rule,
      });
    if (items.length > MAX_NAMED_NONCONFORMING)
      this.logger.warn({
        msg: 'loaded more items that the current rules reject; they are served as stored',
        items: items.length - MAX_NAMED_NONCONFORMING,
      });
  }

  remove(id: string, expectedVersion?: number): Promise<void> {
    return this.enqueue({ op: 'remove', id, expectedVersion });
  }

  private enqueue(write: Write): Promise<void> {
    if (this.failure) return Promise.reject(new StoreUnavailableError());
    if (!this.loaded || this.closing)
      return Promise.reject(new StoreUnavailableError('The store is not open (starting or shutting down).'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ write, trace: this.telemetry?.currentTraceParent(), resolve, reject });
      // setImmediate, not a microtask: requests parsed in the same event-loop turn join one batch.
      this.committing ??= new Promise<void>((done) =>
        setImmediate(this.detached, () => void this.commitLoop().finally(done)),
      );
    });
  }

  /** Commits batches until none is waiting. Only one runs at a time: it owns the journal's tail. */
  private async commitLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0);
        try {
          await this.commitBatch(batch);
        } catch (err) {
          // Not an I/O error (those are handled inside): a bug. Refuse everything rather than guess.
          this.fail('store commit failed unexpectedly', err);
          for (const pending of batch) pending.reject(new StoreUnavailableError());
        }
        if (this.shouldCompact()) this.compaction ??= this.compact().finally(() => (this.compaction = undefined));
        // A compaction sets the journal aside between batches, never during one.
        if (this.compaction) await this.rotation;
      }
    } finally {
      this.committing = undefined;
    }
  }

  private async commitBatch(batch: PendingWrite[]): Promise<void> {
    const view = new Map<string, Item | null>();
    const current = (id: string) => (view.has(id) ? (view.get(id) ?? undefined) : this.index.get(id));
    const accepted: PendingWrite[] = [];
    const lines: string[] = [];
    const records: StoredIdempotencyRecord[] = [];
    let seq = this.seq;
    for (const pending of batch) {
      const entry = this.check(pending.write, current, seq + 1);
      if (entry instanceof Error) {
        pending.reject(entry);
        continue;
      }
      seq = entry.seq;
      if (entry.op === 'put' && entry.idempotency) records.push({ ...entry.idempotency, item: entry.item });
      view.set(entry.op === 'put' ? entry.item.id : entry.id, entry.op === 'put' ? entry.item : null);
      lines.push(journalLine(entry));
      accepted.push(pending);
    }
    if (accepted.length === 0) return;
    if (this.failure || !this.journal) {
      for (const pending of accepted) pending.reject(new StoreUnavailableError());
      return;
    }

    const bytes = Buffer.from(lines.join(''));
    try {
      await writeAll(this.journal, bytes, this.journalBytes);
      const syncStartedAt = performance.now();
      let synced = false;
      try {
        await this.journal.sync();
        synced = true;
      } finally {
        // A failed fsync is the one an operator most needs to see: reported either way.
        const traces = accepted.map((pending) => pending.trace);
        this.telemetry?.fsynced(syncStartedAt, performance.now(), traces, !synced);
      }
    } catch (err) {
      await this.rollBack(err);
      for (const pending of accepted) pending.reject(new StoreUnavailableError());
      return;
    }
    this.journalBytes += bytes.length;
    this.seq = seq;
    for (const [id, item] of view) {
      if (item) this.index.put(item);
      else this.index.delete(id);
    }
    for (const record of records) this.records.set(record.key, record);
    this.telemetry?.sized(this.index.size, this.journalBytes);
    if (this.nonconforming.size > 0) {
      for (const id of view.keys()) this.nonconforming.delete(id);
      this.telemetry?.nonconforming(this.nonconforming.size);
    }
    for (const pending of accepted) pending.resolve();
  }

  /** Turns a write into a journal entry, or the domain error that refuses it. */
  private check(write: Write, current: (id: string) => Item | undefined, seq: number): JournalEntry | Error {
    switch (write.op) {
      case 'insert': {
        const { item, idempotency } = write;
        if (idempotency) {
          // Checked here, in commit order, so that the key and the item are one atomic step: the
          // in-flight set alone would miss a request that looked the key up just before a commit.
          const recorded = this.records.get(idempotency.key);
          if (recorded && isLive(recorded)) return new IdempotencyKeyInUseError();
        }
        if (current(item.id)) return new ItemAlreadyExistsError(item.id);
        return idempotency ? { seq, op: 'put', item, idempotency } : { seq, op: 'put', item };
      }
      case 'replace': {
        const existing = current(write.item.id);
        if (!existing) return new ItemNotFoundError(write.item.id);
        if (existing.version !== write.expectedVersion) return new ItemVersionMismatchError(write.item.id);
        return { seq, op: 'put', item: write.item };
      }
      case 'remove': {
        const existing = current(write.id);
        if (!existing) return new ItemNotFoundError(write.id);
        if (write.expectedVersion !== undefined && existing.version !== write.expectedVersion)
          return new ItemVersionMismatchError(write.id);
        return { seq, op: 'delete', id: write.id };
      }
    }
  }

  /**
   * After a failed append or fsync, the bytes past the last acknowledged write may or may not be on
   * disk, so they are cut off; otherwise a restart would replay a write whose client got a 503.
   * Retrying the fsync instead would be unsafe: after a failed fsync Linux may report the next one as
   * successful although the data never reached the disk. If even the cut fails, the store cannot
   * know what the disk holds: it stops taking writes and asks for a restart (see fail).
   */
  private async rollBack(cause: unknown): Promise<void> {
    this.logger.error({ msg: 'journal write failed; rolling back', err: describeFsError(cause) });
    try {
      await this.journal!.truncate(this.journalBytes);
      await this.journal!.sync();
    } catch (err) {
      this.fail('journal rollback failed', err);
    }
  }

  /**
   * The disk may no longer hold exactly the acknowledged writes, or the store cannot go on writing
   * safely: refuse every write from now on and report a fatal error. main.ts then stops the process,
   * and the restart recovers from disk, which is the one path that is proven after every crash.
   */
  private fail(what: string, cause: unknown): void {
    this.failure ??= cause instanceof Error ? cause : new Error(String(cause));
    this.logger.error({ msg: `${what}; the store refuses writes until restarted`, err: describeFsError(cause) });
    this.lifecycle.fatal(new Error(`${what}: ${describeFsError(cause)}`));
  }

  private shouldCompact(): boolean {
    if (this.compaction || this.closing || this.failure || Date.now() < this.compactionRetryAt) return false;
    if (this.oldJournalExists) return true;
    return this.journalBytes > Math.max(this.compactThresholdBytes, this.snapshotBytes * COMPACT_RATIO);
  }

  /** Folds the journal into a new snapshot; see the class comment for why each step is where it is. */
  private async compact(): Promise<void> {
    try {
      if (!this.oldJournalExists) {
        let rotated!: () => void;
        this.rotation = new Promise((resolve) => (rotated = resolve));
        try {
          await this.rotateJournal();
        } finally {
          rotated();
          this.rotation = undefined;
        }
      }
      const seq = this.seq;
      const items = this.index.values().slice();
      const now = Date.now();
      for (const [key, record] of this.records) if (!isLive(record, now)) this.records.delete(key);
      const records = [...this.records.values()];
      this.snapshotBytes = await writeSnapshot(this.files, items, seq, records);
      // ENOENT: a previous attempt removed it, then failed to fsync the directory.
      await unlink(this.files.oldJournal).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await fsyncDirectory(this.files.directory);
      this.oldJournalExists = false;
      this.logger.log({
        msg: 'store compacted',
        items: items.length,
        idempotency_keys: records.length,
        seq,
        snapshot_bytes: this.snapshotBytes,
      });
    } catch (err) {
      if (this.failure) return; // fail() has said it all: there will be no retry, but a restart.
      this.compactionRetryAt = Date.now() + 10_000;
      this.logger.error({ msg: 'store compaction failed; will retry', err: describeFsError(err) });
    }
  }

  /**
   * Sets the journal aside as the old journal and starts a new one. The new journal's directory
   * entry is fsynced before any write lands in it, or an acknowledged write could vanish with it.
   */
  private async rotateJournal(): Promise<void> {
    await rename(this.files.journal, this.files.oldJournal);
    this.oldJournalExists = true;
    const previous = this.journal;
    this.journal = undefined;
    await previous?.close();
    try {
      const handle = await open(this.files.journal, 'wx+', 0o640);
      await fsyncDirectory(this.files.directory);
      this.journal = handle;
      this.journalBytes = 0;
      this.telemetry?.sized(this.index.size, 0);
    } catch (err) {
      // Without a journal whose name is durable nothing can be acknowledged; a restart replays the old one.
      this.fail('could not start a new journal', err);
      throw err;
    }
  }

  private async ensureDirectory(): Promise<void> {
    let created: string | undefined;
    try {
      created = await mkdir(this.files.directory, { recursive: true });
    } catch (err) {
      // mkdir says EEXIST when a part of the path is a file: say what is actually wrong.
      const code = (err as NodeJS.ErrnoException).code;
      const reason =
        code === 'EEXIST' || code === 'ENOTDIR' ? 'a part of this path is not a directory' : describeFsError(err);
      throw new StoreCorruptError(this.files.directory, `cannot be used as the data directory: ${reason}`);
    }
    if (created !== undefined) await fsyncDirectory(path.dirname(this.files.directory));
  }

  /** Temp files are snapshots a crash interrupted before their rename: never part of the state. */
  private async removeOrphanTempFiles(): Promise<void> {
    const names = await readdir(this.files.directory);
    const orphans = names.filter((name) => name.startsWith(this.files.tempPrefix));
    for (const name of orphans) await unlink(path.join(this.files.directory, name));
    if (orphans.length > 0) {
      await fsyncDirectory(this.files.directory);
      this.logger.warn({ msg: 'removed temp files left by a crash', files: orphans });
    }
  }

  /** A crash during an append left a partial last line; no client was told it was written. */
  private async dropTornTail(validBytes: number): Promise<void> {
    const handle = await open(this.files.journal, 'r+');
    try {
      await handle.truncate(validBytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.logger.warn({ msg: 'dropped a torn last journal line left by a crash', journal: this.files.journal });
  }

  private async createJournal(): Promise<void> {
    const handle = await open(this.files.journal, 'wx', 0o640);
    await handle.close();
    await fsyncDirectory(this.files.directory);
  }
}
