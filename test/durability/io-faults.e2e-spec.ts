import assert from '../support/assert.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { diagnostic } from '../support/diagnostic.js';
import { assertProblem, jsonRequest } from '../support/http.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { diffStore, readAllItems, type StoredItem } from '../support/items.js';
import { injectedFiles, injectFault } from './support/strace.js';

const MAX_N = Number(process.env.FAULT_MAX_N ?? 30);
const WRITES = 40;
// Small, so that faults also land in compactions (snapshot writes, renames' fsyncs), not only appends.
const STORE_ENV = { DB_COMPACT_THRESHOLD: '2kb' };
const EXIT_IO_ERROR = 74;

interface TrialResult {
  /** Where the fault left the process: refused to start, kept serving, or stopped itself (exit 74). */
  outcome: 'startup failed' | 'kept serving' | 'exited';
  /** The file of each call strace failed (the journal, a temp snapshot, the directory, ...). */
  injectedInto: string[];
  failedWrites: number;
  rollbacks: number;
  statuses: number[];
}

/**
 * One run with a fault injected into the real system call: start under strace, write, read back,
 * stop, restart without the fault, read back again. Every check that can fail is asserted here.
 */
async function trial(syscall: string, error: string, when: string): Promise<TrialResult> {
  const temp = makeTempDir('items-fault-');
  const env = { DB_PATH: temp.dbPath, ...STORE_ENV };
  const expected = new Map<string, StoredItem>();
  const result: TrialResult = {
    outcome: 'kept serving',
    injectedInto: [],
    failedWrites: 0,
    rollbacks: 0,
    statuses: [],
  };
  const traceFile = path.join(temp.dir, 'strace.txt');
  const where = `${syscall} ${error} when=${when}`;
  let server: ServerProcess | undefined;
  try {
    try {
      server = await startServer({ ...env, UV_THREADPOOL_SIZE: '1' }, 30_000, {
        wrapper: injectFault(syscall, error, when, traceFile),
      });
    } catch (err) {
      // The fault hit start-up: it must stop with a message, and the next start must work.
      assert.match(String(err), /server exited \(\d+\) before listening/, where);
      assert.doesNotMatch(String(err), /server exited \(0\)/, `${where}: start-up failed but exited 0`);
      assert.match(String(err), /failed to start: .*(EIO|ENOSPC|i\/o error|no space)/i, where);
      result.outcome = 'startup failed';
    }
    if (server) {
      await writeThroughFault(server, temp.dbPath, where, expected, result);
      result.rollbacks = (server.stdout().match(/"msg":"journal write failed; rolling back"/g) ?? []).length;
    }
    result.injectedInto = injectedFiles(readFileSync(traceFile, 'utf8'));
    // The fault has cleared: the store opens, holds exactly the acknowledged writes, and takes writes.
    const restarted = await startServer(env);
    try {
      assert.deepEqual(diffStore(expected, await readAllItems(restarted.url)), [], `${where}: after the restart`);
      assert.equal((await jsonRequest(`${restarted.url}/items`, 'POST', { name: 'after the fault' })).status, 201);
    } finally {
      await restarted.stop('SIGTERM');
    }
    return result;
  } finally {
    await server?.stop('SIGKILL'); // after a failed assertion; a no-op when it has exited
    temp.remove();
  }
}

/** Sequential writes, so that a fault fails at most the one write being committed. */
async function writeThroughFault(
  server: ServerProcess,
  dbPath: string,
  where: string,
  expected: Map<string, StoredItem>,
  result: TrialResult,
): Promise<void> {
  const live: string[] = [];
  for (let i = 0; i < WRITES; i++) {
    let response;
    try {
      response = await write(server.url, i, live);
    } catch (err) {
      // The store could not undo the fault and stopped the process, after refusing writes.
      assert.equal(await server.exited, EXIT_IO_ERROR, `${where}: write ${i} failed with ${String(err)}`);
      assert.match(server.stdout(), /"level":"fatal".*"msg":"fatal error; exiting so that a restart recovers"/);
      result.outcome = 'exited';
      return;
    }
    result.statuses.push(response.status);
    if (response.status === 503) {
      assertProblem(response, 503);
      assert.equal(response.headers.get('retry-after'), '1', where);
      // Nothing of the refused write may stay on disk: a later write may not overwrite it, a restart would replay it.
      assert.deepEqual(linesOnDisk(dbPath, response.marker), [], `${where}: write ${i} refused, but on disk`);
      result.failedWrites++;
      continue;
    }
    assert.ok(response.status >= 200 && response.status < 300, `${where}: write ${i} answered ${response.status}`);
    apply(expected, live, response.op, response.id, response.body);
  }
  // In memory: exactly the acknowledged writes, nothing of the refused ones.
  assert.deepEqual(diffStore(expected, await readAllItems(server.url)), [], `${where}: before the restart`);
  const code = await server.stop('SIGTERM');
  if (code === EXIT_IO_ERROR) result.outcome = 'exited';
  else assert.equal(code, 0, `${where}: shutdown`);
}

/** Write number i: two creates, then a rename of the newest item, then a delete of the oldest. */
async function write(url: string, i: number, live: string[]) {
  const step = i % 4;
  if (step < 2 || live.length === 0) {
    const id = `w${i}`;
    const marker = `"name":"write ${i}"`;
    return { op: 'create', id, marker, ...(await jsonRequest(`${url}/items`, 'POST', { id, name: `write ${i}` })) };
  }
  if (step === 2) {
    const id = live.at(-1)!;
    const marker = `"name":"write ${i}"`;
    return { op: 'update', id, marker, ...(await jsonRequest(`${url}/items/${id}`, 'PATCH', { name: `write ${i}` })) };
  }
  const id = live[0]!;
  const marker = `"op":"delete","id":"${id}"`;
  return { op: 'delete', id, marker, ...(await jsonRequest(`${url}/items/${id}`, 'DELETE')) };
}

/** Journal lines (current and set-aside journal) that contain `marker`. */
function linesOnDisk(dbPath: string, marker: string): string[] {
  // The old journal comes and goes with background compactions.
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  };
  return [`${dbPath}.journal`, `${dbPath}.journal.old`]
    .flatMap((file) => read(file).split('\n'))
    .filter((line) => line.includes(marker));
}

function apply(expected: Map<string, StoredItem>, live: string[], op: string, id: string, body: unknown): void {
  if (op === 'delete') {
    expected.delete(id);
    live.splice(live.indexOf(id), 1);
  } else {
    if (op === 'create') live.push(id);
    expected.set(id, body as StoredItem);
  }
}

describe('Durability: I/O errors injected into the real system calls (strace)', () => {
  // A disk that stays full still lets the store cut a failed append back, so it keeps serving (503s
  // until space returns); a disk whose fsync keeps failing cannot make the cut durable, so it exits.
  for (const [syscall, error, lasting] of [
    ['fsync', 'EIO', 'exited'],
    ['pwrite64', 'ENOSPC', 'kept serving'],
  ] as const) {
    it(`when the Nth ${syscall} fails with ${error} (N = 1..${MAX_N}), then no write it touched is acknowledged, nothing phantom appears, and the store serves again`, async () => {
      const summary = { startupFailed: 0, keptServing: 0, exited: 0, failedWrites: 0, faultsOutsideWrites: 0 };
      for (let n = 1; n <= MAX_N; n++) {
        const result = await trial(syscall, error, String(n));
        const into = result.injectedInto.map((file) => path.basename(file)).join(',');
        const where = `${syscall} ${error} N=${n} into ${into} (${result.outcome}): ${result.statuses.join(',')}`;
        summary.failedWrites += result.failedWrites;
        const failedAt = result.statuses.indexOf(503);
        if (result.outcome === 'kept serving') {
          summary.keptServing++;
          // A fault in a journal append or its fsync fails exactly the write being committed (503, rolled
          // back, as the log shows); a fault elsewhere (a compaction, retried later) fails none.
          const intoJournal = result.injectedInto.some((file) => file.endsWith('.journal'));
          assert.equal(result.failedWrites, intoJournal ? 1 : 0, where);
          assert.equal(result.rollbacks, result.failedWrites, where);
          if (failedAt !== -1)
            assert.ok(
              result.statuses.slice(failedAt + 1).every((s) => s < 300),
              where,
            );
          if (!intoJournal) summary.faultsOutsideWrites++;
        } else if (result.outcome === 'exited') {
          summary.exited++;
          // It could not undo the fault: every write from then on was refused, until the process stopped.
          if (failedAt !== -1)
            assert.ok(
              result.statuses.slice(failedAt).every((s) => s === 503),
              where,
            );
        } else {
          summary.startupFailed++;
        }
      }
      diagnostic(JSON.stringify(summary));
      // Proof that the faults landed: in start-up, and in many writes.
      assert.ok(summary.startupFailed >= 1, 'no fault landed in start-up');
      assert.ok(summary.failedWrites >= MAX_N / 2, `only ${summary.failedWrites} writes failed`);
    });

    it(`when every ${syscall} from the 6th on fails with ${error} (a lasting fault), then every later write gets a 503, the process has ${lasting}, and a restart on a healthy disk finds exactly the acknowledged writes`, async () => {
      const result = await trial(syscall, error, '6+');
      const statuses = result.statuses.join(',');
      assert.equal(result.outcome, lasting, statuses);
      const firstFailure = result.statuses.indexOf(503);
      assert.ok(firstFailure > 0, statuses);
      assert.ok(
        result.statuses.slice(firstFailure).every((s) => s === 503),
        statuses,
      );
    });
  }
});
