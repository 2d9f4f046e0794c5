import { constants } from 'node:os';

/**
 * What the process's exit status tells its supervisor (and the person reading `kubectl describe`).
 * Codes from sysexits.h where one fits.
 */
export const EXIT_CODES = {
  /** Shut down cleanly: every request answered, the store closed. */
  ok: 0,
  /** Start-up failed (bad files, port taken), or a shutdown step failed. */
  failed: 1,
  /** EX_IOERR: the store hit an I/O error it could not undo; a restart recovers from disk. */
  ioError: 74,
  /** EX_TEMPFAIL: SHUTDOWN_TIMEOUT expired and requests still in flight were cut. */
  shutdownTimeout: 75,
  /** EX_CONFIG: the configuration is wrong. */
  config: 78,
} as const;

/** A second signal during a shutdown: 128 + its number, as a shell reports a process it killed. */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}
