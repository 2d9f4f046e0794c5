import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { diagnostic } from './diagnostic.js';
import { freePort } from './ports.js';
import { waitFor } from './timing.js';

/**
 * The Redis the tests share: REDIS_TEST_URL, or the machine's own on 127.0.0.1:6379; without one, a
 * throwaway `redis-server` (Debian's `redis-server` package) on a free port.
 */
const SHARED_REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

/** The shared Redis's URL; a throwaway server started for it, if any, is added to `started`. */
export async function testRedisUrl(started: ChildProcess[]): Promise<string> {
  if (await reachable(SHARED_REDIS_URL)) return SHARED_REDIS_URL;
  const port = await freePort();
  started.push(await startRedisServer(port));
  diagnostic(`no Redis at ${SHARED_REDIS_URL}: using a throwaway redis-server on port ${port}`);
  return `redis://127.0.0.1:${port}`;
}

/** A redis-server of the test's own, without persistence, that the test can stop and start again. */
export async function startRedisServer(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const spawned = once(child, 'spawn').catch((err: Error) => {
    throw new Error(`cannot run redis-server (${err.message}): apt-get install redis-server, or set REDIS_TEST_URL`, {
      cause: err,
    });
  });
  await spawned;
  await waitFor(() => output.includes('Ready to accept connections') || child.exitCode !== null, 'redis-server');
  if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${output}`);
  return child;
}

export async function stopRedisServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Answers PING within a second, or not. */
export async function reachable(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}
