import { Injectable } from '@nestjs/common';

export type FatalListener = (err: Error) => void;

/**
 * The process's state as the rest of the app needs to know it. A component that can no longer work
 * correctly, and that only a restart can put right (the store after an I/O error it could not undo),
 * reports it here; main.ts listens and stops the process, so that its supervisor restarts it and
 * start-up recovers a consistent state from disk.
 */
@Injectable()
export class Lifecycle {
  private readonly fatalListeners: FatalListener[] = [];
  private fatalError?: Error;

  fatal(err: Error): void {
    if (this.fatalError) return;
    this.fatalError = err;
    for (const listener of this.fatalListeners) listener(err);
  }

  onFatal(listener: FatalListener): void {
    this.fatalListeners.push(listener);
  }
}
