import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { EXIT_CODES, exitCodeForSignal } from './exit-codes.js';
import type { Lifecycle } from './lifecycle.js';

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const satisfies readonly NodeJS.Signals[];
/** Time the store, the tracer and the logs get to close once the requests are done, before the process gives up. */
const CLOSE_BUDGET_MS = 5_000;
/** The same signal again within this time is a duplicate delivery, not a second signal. */
const DUPLICATE_SIGNAL_MS = 500;

export interface ShutdownSignalsOptions {
  app: INestApplicationContext;
  lifecycle: Lifecycle;
  logger: LoggerService;
  /** The drain delay plus the shutdown timeout: the longest the HTTP drain takes before it cuts. */
  drainBudgetMs: number;
}

/**
 * What Nest's `enableShutdownHooks()` does not give, and nothing more; Nest's handler still starts the
 * shutdown and runs every hook (main.ts enables it first, so its listener runs first and this one joins
 * the same shutdown). Nest's handler
 * - ignores every signal after the first, so a second SIGTERM or a Ctrl-C cannot cut a shutdown short:
 *   here a second, different signal (or the same one after DUPLICATE_SIGNAL_MS) exits at once with
 *   128 + its number;
 * - ends the process by raising the signal again (or with exit code 0), so the exit code cannot say
 *   that requests were cut (75) or that the store failed (74): here the process exits with the code the
 *   hooks left in Lifecycle, as soon as Nest's shutdown resolves;
 * - waits for its hooks without a bound: here a hook that never settles meets a deadline (drain budget
 *   plus CLOSE_BUDGET_MS), after which the process exits with 75.
 * Returns `stop()`, for a shutdown that no signal asked for (a fatal store error).
 */
export function handleShutdownSignals(options: ShutdownSignalsOptions): { stop: () => void } {
  const { app, lifecycle, logger } = options;
  let closing: Promise<void> | undefined;
  let firstSignal: { signal: NodeJS.Signals; at: number } | undefined;

  const exit = () => process.exit(lifecycle.exitCode);
  const stop = () => {
    if (closing) return;
    // Not unref'd: if a hook never settled, an empty event loop would end the process with 0.
    setTimeout(() => {
      const code = lifecycle.exitCode === EXIT_CODES.ok ? EXIT_CODES.shutdownTimeout : lifecycle.exitCode;
      logger.error({ msg: 'shutdown did not finish in time; exiting', exit_code: code });
      process.exit(code);
    }, options.drainBudgetMs + CLOSE_BUDGET_MS);
    // Joins the shutdown Nest's signal handler has started (Nest runs one at a time), or starts it.
    closing = app.close().then(exit, (err: unknown) => {
      lifecycle.raiseExitCode(EXIT_CODES.failed);
      logger.error({ msg: 'shutdown failed', err: err instanceof Error ? err.message : String(err) });
      exit();
    });
  };

  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      if (!firstSignal) {
        firstSignal = { signal, at: performance.now() };
        return stop();
      }
      // Ctrl-C under `npm start` delivers SIGINT twice at once: from the terminal to the process
      // group, and from npm, which forwards it. That is one request to stop, not two. (Nest raises the
      // first signal again once its shutdown has ended, but never reaches this listener: `exit` runs in
      // the same turn as Nest's handler, before the process handles any signal again.)
      if (signal === firstSignal.signal && performance.now() - firstSignal.at < DUPLICATE_SIGNAL_MS) return;
      // An operator (or a supervisor that ran out of patience) insists: exit now. Every acknowledged
      // write is already on disk, so this is no worse than kill -9.
      const code = exitCodeForSignal(signal);
      logger.warn({ msg: 'second signal during shutdown; exiting now', signal, exit_code: code });
      process.exit(code);
    });
  }
  return { stop };
}
