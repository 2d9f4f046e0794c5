import { type ChildProcess, type ChildProcessByStdio, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, cpSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { diagnostic } from './diagnostic.js';
import type { Readable } from 'node:stream';
import { startProdNodeFlags } from '../../scripts/start-flags.js';

export const PROJECT_ROOT = path.resolve(import.meta.dirname, '../../..');
export const MAIN = path.join(PROJECT_ROOT, 'dist/main.js');
/** As production runs it (`npm run start:prod`). */
const NODE_FLAGS = startProdNodeFlags(PROJECT_ROOT);

export interface ServerProcess {
  child: ChildProcess;
  /** The server's own pid (the child's, unless the server runs under a wrapper). */
  pid: number;
  url: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  stop: (signal?: NodeJS.Signals) => Promise<number | string>;
}

export interface ExitedProcess {
  code: number | string;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  /** A command the server runs under, e.g. `['strace', '-f', '-o', file]`; the Node binary follows it. */
  wrapper?: string[];
  /** Run as this user and group (the tests may run as root, which no permission check stops). */
  uid?: number;
  gid?: number;
  /** The server's working directory (where it looks for `.env`); the tests' own by default. */
  cwd?: string;
}

/** Another user than root, when the tests run as root: root passes every permission check. */
export const UNPRIVILEGED: SpawnOptions = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

/**
 * Runs the built server (dist/main.js) as production does, with the same Node that runs the tests,
 * and waits for its "listening" log line. PORT defaults to 0 and HOST to 127.0.0.1.
 */
export function startServer(
  env: Record<string, string>,
  timeoutMs = 15_000,
  options: SpawnOptions = {},
): Promise<ServerProcess> {
  return whenListening(spawnServer(env, options), timeoutMs);
}

/** Runs the built server expecting it to exit by itself (bad config, bad files); kills it after the timeout. */
export function runServerToExit(
  env: Record<string, string>,
  timeoutMs = 10_000,
  options: SpawnOptions = {},
): Promise<ExitedProcess> {
  return whenExited(spawnServer(env, options), timeoutMs);
}

/** A spawned server process with its output piped, collected as it comes. */
export function collectOutput(child: ChildProcessByStdio<null, Readable, Readable>) {
  const output = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
  return { child, output };
}

type Spawned = ReturnType<typeof collectOutput>;

/** Waits for the server's "listening" log line (or its early exit, or the timeout). */
export async function whenListening({ child, output }: Spawned, timeoutMs: number): Promise<ServerProcess> {
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);

  const { url, pid } = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output.stdout}\n${output.stderr}`)),
      timeoutMs,
    );
    const check = () => {
      const match = /"msg":"listening","address":"[^"]*:(\d+)","pid":(\d+)/.exec(output.stdout);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve({ url: `http://127.0.0.1:${match[1]}`, pid: Number(match[2]) });
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${output.stdout}\n${output.stderr}`));
    });
  });
  return {
    child,
    pid,
    url,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(pid, signal);
        } catch (err) {
          // ESRCH: the server is gone and only its wrapper is still exiting.
          if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
        }
      }
      return exited;
    },
  };
}

/** Waits for the process to exit by itself; kills it after the timeout. */
export async function whenExited({ child, output }: Spawned, timeoutMs: number): Promise<ExitedProcess> {
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  return { code: code ?? signal ?? 'unknown', ...output };
}

interface Runtime {
  node: string;
  main: string;
  cwd?: string;
}
const runtimes = new Map<number, Runtime>();

/**
 * The Node binary and dist/main.js as `uid` can run them. Usually where they are; but a checkout under a
 * directory that other users cannot enter (root's home, a `mktemp -d` folder) is out of an unprivileged
 * user's reach, so the server is then run from a copy in the temp directory: the Node binary, dist/,
 * package.json and node_modules, hard-linked where the file system allows (fast, no space), else copied.
 */
function runtimeFor(uid: number | undefined, gid: number | undefined): Runtime {
  if (uid === undefined) return { node: process.execPath, main: MAIN };
  const known = runtimes.get(uid);
  if (known) return known;
  // Both the binary (spawn fails with EACCES) and the checkout (the probe exits non-zero) must be reachable.
  // node_modules may be a link into a directory out of reach (the mutant check links the checkout's).
  const needed = [MAIN, path.join(PROJECT_ROOT, 'node_modules/@nestjs/core/package.json')];
  const probe = spawnSync(
    process.execPath,
    ['-e', `for (const f of ${JSON.stringify(needed)}) require('node:fs').accessSync(f)`],
    {
      uid,
      gid,
      cwd: tmpdir(),
      env: {},
      stdio: 'ignore',
      timeout: 10_000,
    },
  );
  const reachable = probe.error === undefined && probe.status === 0;
  let runtime: Runtime = { node: process.execPath, main: MAIN };
  if (!reachable) {
    const dir = mkdtempSync(path.join(tmpdir(), 'items-runtime-'));
    chmodSync(dir, 0o755);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const copy = (from: string, to: string) => {
      try {
        execFileSync('cp', ['-al', from, to], { stdio: 'ignore' });
      } catch {
        // Another file system (EXDEV): cp may have made part of the tree already.
        rmSync(to, { recursive: true, force: true });
        cpSync(from, to, { recursive: true, preserveTimestamps: true });
      }
    };
    copy(realpathSync(process.execPath), path.join(dir, 'node'));
    for (const part of ['dist', 'package.json', 'node_modules'])
      copy(realpathSync(path.join(PROJECT_ROOT, part)), path.join(dir, part));
    diagnostic(`uid ${uid} cannot reach ${PROJECT_ROOT}: its server runs from a copy in ${dir}`);
    runtime = { node: path.join(dir, 'node'), main: path.join(dir, 'dist/main.js'), cwd: dir };
  }
  runtimes.set(uid, runtime);
  return runtime;
}

let neutralDirectory: string | undefined;

/**
 * Where a test server runs unless a test says otherwise: an empty directory, so that a developer's own
 * `.env` in the checkout does not configure the servers under test. Readable by every user.
 */
function neutralCwd(): string {
  if (neutralDirectory === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'items-cwd-'));
    chmodSync(dir, 0o755);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    neutralDirectory = dir;
  }
  return neutralDirectory;
}

/** Spawns dist/main.js on loopback with the given environment (and PATH only), collecting its output. */
function spawnServer(env: Record<string, string>, { wrapper = [], uid, gid, cwd }: SpawnOptions) {
  const runtime = runtimeFor(uid, gid);
  const [command = runtime.node, ...args] = [...wrapper, runtime.node, ...NODE_FLAGS, runtime.main];
  const child = spawn(command, args, {
    cwd: cwd ?? runtime.cwd ?? neutralCwd(),
    // Off unless a test sets it: the suites send thousands of requests from one address.
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      SHUTDOWN_DRAIN_DELAY: '0',
      RATE_LIMIT_MAX: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid,
    gid,
  });
  return collectOutput(child);
}
