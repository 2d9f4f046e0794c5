import { Injectable } from '@nestjs/common';
import { EXIT_CODES } from './exit-codes.js';

export type FatalListener = (err: Error) => void;

/**
 * Where the process is in its life, as the probes report it:
 * - `starting`: the store is loading; startup and readiness fail.
 * - `serving`: listening; every probe passes (if its checks do).
 * - `draining`: a shutdown has begun; readiness fails so that traffic moves away, all else serves.
 * - `stopping`: no new connections; in-flight requests finish, then the store closes.
 */
export type LifecyclePhase = 'starting' | 'serving' | 'draining' | 'stopping';

/** When several things go wrong, the exit code reports the one the supervisor most needs to see. */
const EXIT_CODE_SEVERITY: readonly number[] = [
  EXIT_CODES.ok,
  EXIT_CODES.failed,
  EXIT_CODES.shutdownTimeout,
  EXIT_CODES.ioError,
];

/**
 * The process's state as the rest of the app needs to know it. A component that can no longer work
 * correctly, and that only a restart can put right (the store after an I/O error it could not undo),
 * reports it here; main.ts listens and stops the process, so that its supervisor restarts it and
 * start-up recovers a consistent state from disk.
 *
 * It also holds the exit code the shutdown is heading for: each shutdown step runs in its own module's
 * Nest hook (docs/ARCHITECTURE.md, "Shutdown"), and a step that cuts requests or fails raises it here,
 * since Nest's shutdown has no way to carry an outcome from a hook to the process's exit.
 */
@Injectable()
export class Lifecycle {
  private currentPhase: LifecyclePhase = 'starting';
  private readonly fatalListeners: FatalListener[] = [];
  private fatalError?: Error;
  private code: number = EXIT_CODES.ok;
  private shutdownStarted?: number;

  get phase(): LifecyclePhase {
    return this.currentPhase;
  }

  /** Start-up has finished and the server listens. */
  markServing(): void {
    if (this.currentPhase === 'starting') this.currentPhase = 'serving';
  }

  /** The first step of a shutdown: from now on readiness fails. */
  beginDraining(): void {
    this.shutdownStarted ??= performance.now();
    if (this.currentPhase === 'starting' || this.currentPhase === 'serving') this.currentPhase = 'draining';
  }

  beginStopping(): void {
    this.currentPhase = 'stopping';
  }

  get isShuttingDown(): boolean {
    return this.currentPhase === 'draining' || this.currentPhase === 'stopping';
  }

  /** Milliseconds since the shutdown began (0 if it has not). */
  get shutdownDurationMs(): number {
    return this.shutdownStarted === undefined ? 0 : Math.round(performance.now() - this.shutdownStarted);
  }

  /** The error that made the process stop, if one did: such a shutdown skips the drain delay. */
  get failure(): Error | undefined {
    return this.fatalError;
  }

  fatal(err: Error): void {
    if (this.fatalError) return;
    this.fatalError = err;
    this.raiseExitCode(EXIT_CODES.ioError);
    for (const listener of this.fatalListeners) listener(err);
  }

  onFatal(listener: FatalListener): void {
    this.fatalListeners.push(listener);
  }

  /** The exit code as things stand: what the process exits with when its shutdown ends. */
  get exitCode(): number {
    return this.code;
  }

  /** Records an outcome of the shutdown; the most severe one so far wins. */
  raiseExitCode(code: number): void {
    if (EXIT_CODE_SEVERITY.indexOf(code) > EXIT_CODE_SEVERITY.indexOf(this.code)) this.code = code;
  }
}
