import { readFileSync } from 'node:fs';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { describeFsError, StoreCorruptError, StoreLockedError } from './store-files.js';

/** A holder on another host proves it is alive by touching the lock this often. */
const HEARTBEAT_MS = 5_000;
/** A lock from another host untouched for this long belongs to a dead process. */
const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

interface LockOwner {
  pid: number;
  hostname: string;
  /** The process start time from /proc, so that a reused pid is not mistaken for the holder. */
  start_ticks: string | null;
  acquired_at: string;
}

/**
 * One process owns a store at a time. A lock file holds the owner; a lock whose owner is gone (killed
 * with -9, a container restarted) is taken over, so a crash never needs a person to delete it.
 * On one host the owner's liveness is checked directly; across hosts (a shared volume) by heartbeat.
 */
export class StoreLock {
  private heartbeat?: NodeJS.Timeout;

  private constructor(private readonly file: string) {}

  static async acquire(file: string, storeName: string): Promise<StoreLock> {
    const lock = new StoreLock(file);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await open(file, 'wx', 0o644);
        const owner: LockOwner = {
          pid: process.pid,
          hostname: hostname(),
          start_ticks: processStartTicks(process.pid),
          acquired_at: new Date().toISOString(),
        };
        await handle.writeFile(`${JSON.stringify(owner)}\n`);
        await handle.close();
        lock.heartbeat = setInterval(() => {
          const now = new Date();
          utimes(file, now, now).catch(() => undefined);
        }, HEARTBEAT_MS).unref();
        return lock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new StoreCorruptError(file, `cannot be created: ${describeFsError(err)}`);
      }
      const holder = await liveHolder(file);
      if (holder) {
        throw new StoreLockedError(
          `${storeName} is in use by process ${holder.pid} on host ${holder.hostname} since ${holder.acquired_at} ` +
            `(lock file ${file}). Stop that process, or point DB_PATH elsewhere.`,
        );
      }
      await unlink(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    throw new StoreLockedError(`${storeName}: could not take the lock file ${file}; another process keeps taking it`);
  }

  async release(): Promise<void> {
    clearInterval(this.heartbeat);
    await unlink(this.file).catch(() => undefined);
  }
}

/** The live process that holds the lock `file`, if any; only reads (npm run import checks with it). */
export async function liveHolder(file: string): Promise<LockOwner | undefined> {
  let owner: LockOwner;
  let mtimeMs: number;
  try {
    owner = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
    mtimeMs = (await stat(file)).mtimeMs;
  } catch {
    return undefined; // Unreadable or half-written: its writer died before finishing it.
  }
  if (typeof owner.pid !== 'number' || typeof owner.hostname !== 'string') return undefined;
  if (owner.hostname !== hostname()) {
    return Date.now() - mtimeMs < STALE_AFTER_MS ? owner : undefined;
  }
  if (owner.pid === process.pid) return undefined; // A restarted container reuses pid 1.
  if (!isRunning(owner.pid)) return undefined;
  const ticks = processStartTicks(owner.pid);
  if (owner.start_ticks !== null && ticks !== null && ticks !== owner.start_ticks) return undefined;
  return owner;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
