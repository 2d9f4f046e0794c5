import { execFileSync } from 'node:child_process';

/** The syscalls the store's durability depends on, plus the socket writes that acknowledge requests. */
export const STORE_SYSCALLS = [
  'openat',
  'close',
  'write',
  'writev',
  'pwrite64',
  'pwritev',
  'fsync',
  'fdatasync',
  'rename',
  'renameat',
  'renameat2',
  'unlink',
  'unlinkat',
  'ftruncate',
];

/**
 * strace is a test dependency (installed by `npm test` through scripts/ensure-test-tools.sh); the
 * tests fail rather than skip without it, since a skipped durability check proves nothing.
 */
export function straceVersion(): string {
  return execFileSync('strace', ['-V'], { encoding: 'utf8' }).split('\n')[0]!;
}

/** Runs the server under strace, writing the trace of the given calls (all threads) to `file`. */
export function traceTo(file: string, syscalls: readonly string[] = STORE_SYSCALLS): string[] {
  // --seccomp-bpf stops the tracee only on the traced calls, so start-up is not slowed by the rest.
  return ['strace', '-f', '--seccomp-bpf', '-y', '-s', '1000000', '-o', file, '-e', `trace=${syscalls.join(',')}`];
}

/**
 * Runs the server under strace with one fault: `syscall` fails with `error` on its `when`-th call
 * (strace's syntax: `5` is the 5th call only, `5+` every call from the 5th). strace counts per
 * thread, so the server gets one libuv worker thread (UV_THREADPOOL_SIZE=1 in its environment),
 * which makes every store call of the process count.
 */
export function injectFault(syscall: string, error: string, when: string, traceFile: string): string[] {
  return [
    'strace',
    '-f',
    '--seccomp-bpf',
    '-y',
    '-s',
    '0',
    '-o',
    traceFile,
    '-e',
    `trace=${syscall}`,
    '-e',
    `inject=${syscall}:error=${error}:when=${when}`,
  ];
}

/** The files whose calls strace failed on purpose, from a trace written by injectFault. */
export function injectedFiles(trace: string): string[] {
  return [...trace.matchAll(/^\d+ +\w+\(\d+<([^>]*)>.*\(INJECTED\)$/gm)].map((match) => match[1]!);
}
