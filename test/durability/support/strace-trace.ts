import path from 'node:path';

/**
 * Reads an `strace -f -y` trace and checks the order of the store's system calls against the rules
 * its durability rests on. Only what strace printed is used: line order is the order in which the
 * kernel entered and left the calls, across threads.
 */

export interface Syscall {
  pid: number;
  name: string;
  /** The text between the parentheses, as strace printed it (strings escaped). */
  args: string;
  /** The return value, or -1 with `error` set. */
  result: number;
  error?: string;
  /** The path strace printed for the returned descriptor (openat with -y). */
  resultPath?: string;
  /** Positions in the trace of entry and exit: a call in another thread may run in between. */
  start: number;
  end: number;
}

const COMPLETE = /^(\d+) +(\w+)\((.*)\) += (-?\d+|\?)(?:<(.*?)>)?(?: (E[A-Z]+) .*)?$/;
const UNFINISHED = /^(\d+) +(\w+)\((.*) <unfinished \.\.\.>$/;
const RESUMED = /^(\d+) +<\.\.\. (\w+) resumed>(.*)\) += (-?\d+|\?)(?:<(.*?)>)?(?: (E[A-Z]+) .*)?$/;

/** Parses the trace into calls, joining the halves strace splits when threads interleave. */
export function parseTrace(text: string): Syscall[] {
  const calls: Syscall[] = [];
  const open = new Map<number, { name: string; args: string; start: number }>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let match = COMPLETE.exec(line);
    if (match) {
      calls.push(call(match, match[3]!, i, i));
      continue;
    }
    match = UNFINISHED.exec(line);
    if (match) {
      open.set(Number(match[1]), { name: match[2]!, args: match[3]!, start: i });
      continue;
    }
    match = RESUMED.exec(line);
    if (match) {
      const first = open.get(Number(match[1]));
      open.delete(Number(match[1]));
      if (first && first.name === match[2]) calls.push(call(match, first.args + match[3]!, first.start, i));
    }
  }
  return calls;
}

function call(match: RegExpExecArray, args: string, start: number, end: number): Syscall {
  const result = match[4] === '?' ? -1 : Number(match[4]);
  return { pid: Number(match[1]), name: match[2]!, args, result, resultPath: match[5], error: match[6], start, end };
}

export interface OrderReport {
  acknowledgements: number;
  snapshotRenames: number;
  journalRotations: number;
  violations: string[];
}

/** What an acknowledged request wrote: the text its journal entry must contain, as strace escapes it. */
export interface AcknowledgedWrite {
  requestId: string;
  journalMarker: string;
}

/**
 * Checks, for the store at `dbPath`:
 * 1. each acknowledgement (a 2xx response carrying the request's X-Request-Id) is written to its
 *    socket only after the journal write holding its entry completed, an fsync of that journal file
 *    started after that write and returned 0, and, when the journal file was created while the
 *    service ran, the directory was fsynced after the creation;
 * 2. each rename of a temp file over the snapshot comes after an fsync of the temp file that followed
 *    its last write, and is followed by an fsync of the directory before the old journal is removed.
 */
export function checkOrder(calls: Syscall[], dbPath: string, writes: readonly AcknowledgedWrite[]): OrderReport {
  const directory = path.dirname(dbPath);
  const journal = `${dbPath}.journal`;
  const oldJournal = `${dbPath}.journal.old`;
  const violations: string[] = [];
  const files = trackFiles(calls);
  const isDirectoryFsync = (c: Syscall) => c.name === 'fsync' && c.result === 0 && files.get(c)?.path === directory;

  // 1. acknowledgements
  const responses = calls.filter((c) => (c.name === 'write' || c.name === 'writev') && /<socket:/.test(c.args));
  let acknowledgements = 0;
  for (const write of writes) {
    const header = `x-request-id: ${write.requestId}\\r\\n`;
    const response = responses.find((c) => c.args.includes(header));
    if (!response) {
      violations.push(`${write.requestId}: no response with its X-Request-Id in the trace`);
      continue;
    }
    if (!/"HTTP\/1\.1 2\d\d /.test(response.args)) continue; // not acknowledged: nothing to check
    acknowledgements++;
    const journalWrite = calls.find(
      (c) =>
        c.name === 'pwrite64' &&
        c.end < response.start &&
        files.get(c)?.path === journal &&
        c.args.includes(write.journalMarker) &&
        c.result > 0,
    );
    if (!journalWrite) {
      violations.push(`${write.requestId}: acknowledged, but no journal write with its entry came before`);
      continue;
    }
    const file = files.get(journalWrite)!;
    const fsync = calls.find(
      (c) =>
        c.name === 'fsync' &&
        c.result === 0 &&
        files.get(c)?.handle === file.handle &&
        c.start > journalWrite.end &&
        c.end < response.start,
    );
    if (!fsync) violations.push(`${write.requestId}: acknowledged before an fsync of its journal write completed`);
    const created = file.createdAt;
    if (created !== undefined && !calls.some((c) => isDirectoryFsync(c) && c.start > created && c.end < response.start))
      violations.push(`${write.requestId}: acknowledged in a new journal before the directory was fsynced`);
  }

  // 2. snapshot renames
  const renames = calls.filter((c) => c.name === 'rename' && c.result === 0);
  let snapshotRenames = 0;
  for (const rename of renames.filter((c) => renameTarget(c) === dbPath)) {
    snapshotRenames++;
    const temp = renameSource(rename);
    const tempWrites = calls.filter(
      (c) => c.name === 'pwrite64' && c.end < rename.start && files.get(c)?.path === temp,
    );
    const lastWrite = tempWrites.at(-1);
    if (!lastWrite) {
      violations.push(`rename of ${temp}: no write of the temp file before it`);
      continue;
    }
    const handle = files.get(lastWrite)!.handle;
    const synced = calls.some(
      (c) =>
        c.name === 'fsync' &&
        c.result === 0 &&
        files.get(c)?.handle === handle &&
        c.start > lastWrite.end &&
        c.end < rename.start,
    );
    if (!synced) violations.push(`rename of ${temp}: the temp file was not fsynced after its last write`);
    const directorySync = calls.find((c) => isDirectoryFsync(c) && c.start > rename.end);
    const unlinkOld = calls.find(
      (c) => c.name === 'unlink' && c.start > rename.end && c.result === 0 && c.args.startsWith(`"${oldJournal}"`),
    );
    if (!directorySync) violations.push(`rename of ${temp}: no directory fsync after it`);
    else if (unlinkOld && unlinkOld.start < directorySync.end)
      violations.push(`rename of ${temp}: the old journal was removed before the directory fsync`);
  }
  const journalRotations = renames.filter((c) => renameTarget(c) === oldJournal).length;
  return { acknowledgements, snapshotRenames, journalRotations, violations };
}

interface OpenFile {
  /** One per successful open, so that a reused descriptor number is not mistaken for the old file. */
  handle: number;
  path: string;
  /** Trace position of the open (O_CREAT|O_EXCL) that last created a file at this path, if any. */
  createdAt?: number;
}

/** Maps each call on a descriptor to the file that descriptor had open at the time. */
function trackFiles(calls: Syscall[]): Map<Syscall, OpenFile> {
  const byCall = new Map<Syscall, OpenFile>();
  const byFd = new Map<number, OpenFile>();
  const created = new Map<string, number>();
  let handles = 0;
  for (const c of calls) {
    if (c.name === 'openat' && c.result >= 0) {
      const path = /^AT_FDCWD(?:<[^>]*>)?, "([^"]*)"/.exec(c.args)?.[1] ?? c.resultPath ?? '';
      if (/O_CREAT/.test(c.args) && /O_EXCL/.test(c.args)) created.set(path, c.end);
      byFd.set(c.result, { handle: ++handles, path, createdAt: created.get(path) });
      continue;
    }
    const fd = /^(\d+)</.exec(c.args)?.[1];
    if (fd === undefined) continue;
    const file = byFd.get(Number(fd));
    if (file) byCall.set(c, file);
    if (c.name === 'close') byFd.delete(Number(fd));
  }
  return byCall;
}

function renameSource(c: Syscall): string {
  return /^"([^"]*)"/.exec(c.args)?.[1] ?? '';
}

function renameTarget(c: Syscall): string {
  return /^"[^"]*", "([^"]*)"/.exec(c.args)?.[1] ?? '';
}
