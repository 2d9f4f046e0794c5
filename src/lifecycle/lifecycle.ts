import { Injectable } from '@nestjs/common';

export type FatalListener = (err: Error) => void;

/**
 * Where the process is in its life, as the probes report it:
 * - `starting`: the store is loading; startup and readiness fail.
 * - `serving`: listening; every probe passes (if its checks do).
 * - `draining`: a shutdown has begun; readiness fails so that traffic moves away, all else serves.
 * - `stopping`: no new connections; in-flight requests finish, then the store closes.
 */
export type LifecyclePhase = 'starting' | 'serving' | 'draining' | 'stopping';

/**
 * The process's state as the rest of the app needs to know it. A component that can no longer work
 * correctly, and that only a restart can put right (the store after an I/O error it could not undo),
 * reports it here; main.ts listens and stops the process, so that its supervisor restarts it and
 * start-up recovers a consistent state from disk.
 */
@Injectable()
export class Lifecycle {
  private currentPhase: LifecyclePhase = 'starting';
  private readonly fatalListeners: FatalListener[] = [];
  private fatalError?: Error;

  get phase(): LifecyclePhase {
    return this.currentPhase;
  }

  /** Start-up has finished and the server listens. */
  markServing(): void {
    if (this.currentPhase === 'starting') this.currentPhase = 'serving';
  }

  /** The first step of a shutdown: from now on readiness fails. */
  beginDraining(): void {
    if (this.currentPhase === 'starting' || this.currentPhase === 'serving') this.currentPhase = 'draining';
  }

  beginStopping(): void {
    this.currentPhase = 'stopping';
  }

  get isShuttingDown(): boolean {
    return this.currentPhase === 'draining' || this.currentPhase === 'stopping';
  }

  fatal(err: Error): void {
    if (this.fatalError) return;
    this.fatalError = err;
    for (const listener of this.fatalListeners) listener(err);
  }

  onFatal(listener: FatalListener): void {
    this.fatalListeners.push(listener);
  }
}
