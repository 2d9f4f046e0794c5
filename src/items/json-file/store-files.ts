import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';

/** The files that make up one store, all beside `DB_PATH` so that renames stay in one directory. */
export class StoreFiles {
  readonly snapshot: string;
  readonly journal: string;
  /** The journal being folded into a new snapshot; present only while a compaction is unfinished. */
  readonly oldJournal: string;
  readonly lock: string;
  readonly directory: string;
  readonly tempPrefix: string;

  constructor(dbPath: string) {
    this.snapshot = dbPath;
    this.journal = `${dbPath}.journal`;
    this.oldJournal = `${dbPath}.journal.old`;
    this.lock = `${dbPath}.lock`;
    this.directory = path.dirname(dbPath);
    this.tempPrefix = `${path.basename(dbPath)}.tmp-`;
  }

  tempFile(): string {
    return path.join(this.directory, `${this.tempPrefix}${process.pid}-${Date.now().toString(36)}`);
  }
}

/**
 * Makes the directory's entries durable: a rename, create or unlink is not on disk until the directory
 * itself is fsynced.
 */
export async function fsyncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The store's files are unusable: start-up stops with this message and changes no file. */
export class StoreCorruptError extends Error {
  constructor(file: string, reason: string, line?: number) {
    super(`${file}${line === undefined ? '' : ` line ${line}`}: ${reason}`);
    this.name = 'StoreCorruptError';
  }
}

/** Another live process holds the store. */
export class StoreLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreLockedError';
  }
}

/** Describes a file-system error without the stack, e.g. "permission denied (EACCES)". */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory, not a file',
    ENOTDIR: 'a parent is not a directory',
    ENOENT: 'does not exist',
    EIO: 'I/O error',
    ENOSPC: 'no space left on device',
    EROFS: 'read-only file system',
  };
  return code ? `${known[code] ?? 'cannot be used'} (${code})` : String(err);
}

/** Writes all of `data` at `position`, however many calls that takes; returns its byte length. */
export async function writeAll(handle: FileHandle, data: string | Buffer, position: number): Promise<number> {
  const buffer = typeof data === 'string' ? Buffer.from(data) : data;
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, position + written);
    written += bytesWritten;
  }
  return buffer.length;
}
