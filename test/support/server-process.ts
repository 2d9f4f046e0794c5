import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
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

/** Spawns dist/main.js on loopback with the given environment (and PATH only), collecting its output. */
function spawnServer(env: Record<string, string>, { wrapper = [], uid, gid }: SpawnOptions) {
  const [command = process.execPath, ...args] = [...wrapper, process.execPath, ...NODE_FLAGS, MAIN];
  const child = spawn(command, args, {
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
