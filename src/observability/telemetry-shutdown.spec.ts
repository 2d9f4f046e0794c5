import assert from '../../test/support/assert.js';
import { afterEach, beforeEach, describe, it, jest } from '@jest/globals';
import { Logger, type LoggerService } from '@nestjs/common';
import { EXIT_CODES } from '../lifecycle/exit-codes.js';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import { TelemetryShutdown } from './telemetry-shutdown.js';
import type { Tracing } from './tracing.js';

/** Keeps what is logged through Nest's Logger. */
class RecordingLogger implements LoggerService {
  readonly lines: { level: string; message: Record<string, unknown> }[] = [];
  log(message: Record<string, unknown>): void {
    this.lines.push({ level: 'log', message });
  }
  warn(message: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message });
  }
}

function tracingThat(shutdown: () => Promise<void>): Tracing {
  return { logTo: () => undefined, shutdown };
}

describe('TelemetryShutdown (the last steps of the shutdown)', () => {
  let logger: RecordingLogger;
  beforeEach(() => {
    logger = new RecordingLogger();
    Logger.overrideLogger(logger);
  });
  afterEach(() => {
    Logger.overrideLogger(false);
    jest.useRealTimers();
  });

  it('when the exporter flushes, then the closing line carries the exit code the earlier steps left', async () => {
    const lifecycle = new Lifecycle();
    lifecycle.raiseExitCode(EXIT_CODES.shutdownTimeout);
    let flushed = false;
    await new TelemetryShutdown(
      tracingThat(() => {
        flushed = true;
        return Promise.resolve();
      }),
      lifecycle,
    ).onApplicationShutdown();
    assert.equal(flushed, true);
    assert.deepEqual(
      logger.lines.map((line) => [line.level, line.message.msg, line.message.exit_code]),
      [['log', 'shutdown complete', 75]],
    );
  });

  it('when the exporter fails, then that is a warning and the shutdown still completes with its own code', async () => {
    const lifecycle = new Lifecycle();
    const failing = tracingThat(() => Promise.reject(new Error('collector refused')));
    await new TelemetryShutdown(failing, lifecycle).onApplicationShutdown();
    assert.deepEqual(
      logger.lines.map((line) => [line.level, line.message.msg]),
      [
        ['warn', 'tracing exporter failed to flush'],
        ['log', 'shutdown complete'],
      ],
    );
    assert.equal(logger.lines[0]!.message.err, 'collector refused');
    assert.equal(logger.lines[1]!.message.exit_code, 0);
  });

  it('when the exporter never answers, then the shutdown waits 2 s for it, says the spans are lost, and completes', async () => {
    jest.useFakeTimers();
    const hung = tracingThat(() => new Promise<void>(() => undefined));
    const done = new TelemetryShutdown(hung, new Lifecycle()).onApplicationShutdown();
    await jest.advanceTimersByTimeAsync(1_999);
    assert.equal(logger.lines.length, 0, 'still waiting just before 2 s');
    await jest.advanceTimersByTimeAsync(1);
    await done;
    assert.deepEqual(
      logger.lines.map((line) => [line.level, line.message.msg]),
      [
        ['warn', 'tracing exporter did not flush in time; spans lost'],
        ['log', 'shutdown complete'],
      ],
    );
  });
});
