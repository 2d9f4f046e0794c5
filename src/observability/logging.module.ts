import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { pino, type DestinationStream, type LoggerOptions } from 'pino';
import type { AppConfig } from '../config/app-config.js';
import { SERVICE_NAME } from './tracing.js';

/**
 * Redacted by path wherever they appear in a log line: credentials a request or a config may carry.
 * No log line of ours holds headers; these guard the lines someone adds later.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'config.auth.apiKeys',
  'auth.apiKeys',
];

const CENSOR = '[redacted]';

/**
 * JSON logs to stdout through nestjs-pino, with the level from LOG_LEVEL (changeable at run time:
 * `log-level.controller.ts`). Pretty output only when LOG_FORMAT=pretty.
 *
 * The request line is written by HttpTelemetry, not by pino-http: its middleware builds a child logger
 * and serializes the whole request and response for every request, which is most of the cost of a
 * typical NestJS logging setup. So the middleware is mounted on no route (`forRoutes: []`).
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          forRoutes: [],
          pinoHttp: config.log.pretty ? loggerOptions(config) : [loggerOptions(config), stdout()],
        }),
      ],
    };
  }
}

/** pino's options for the configuration: the same in every environment but for pretty printing. */
export function loggerOptions(config: AppConfig): LoggerOptions {
  const { secrets } = config;
  return {
    level: config.log.level,
    base: { service: SERVICE_NAME, version: config.app.version },
    messageKey: 'msg',
    timestamp: isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: CENSOR },
    // The configured secrets, by value, in whatever field or message they might end up.
    hooks: secrets.length > 0 ? { streamWrite: (line) => scrub(line, secrets) } : {},
    ...(config.log.pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  };
}

/**
 * pino's own asynchronous stdout, with writes of at most 4 KB instead of 16 KB: while a write is under
 * way, sonic-boom appends each new line to a pending string and measures that string's byte length
 * again, so the bigger the pending write, the more each line costs. 4 KB took a request line from ~5.2
 * to ~3.8 us (bench/README.md); and a write of at most PIPE_BUF bytes to a pipe is atomic.
 */
function stdout(): DestinationStream {
  destination = pino.destination({ dest: 1, sync: false, maxWrite: 4096 });
  return destination;
}

/** The asynchronous stdout in use (none when LOG_FORMAT=pretty, whose transport flushes itself). */
let destination: ReturnType<typeof pino.destination> | undefined;

let lastMs = 0;
let lastTime = '';

/** ISO 8601 time, formatted once per millisecond: under load many lines share one (toISOString is costly). */
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

function scrub(line: string, secrets: readonly string[]): string {
  for (const secret of secrets) if (line.includes(secret)) line = line.replaceAll(secret, CENSOR);
  return line;
}

/** The level now in force; changed at run time through the admin endpoint. */
export function currentLogLevel(): string {
  return PinoLogger.root.level;
}

export function setLogLevel(level: string): void {
  PinoLogger.root.level = level;
}

/**
 * Resolves once every line logged so far is written to stdout (or could not be); the shutdown's last
 * step, before the process exits. Not `logger.flush(cb)`: sonic-boom calls that back at once when it
 * buffers nothing on purpose (minLength 0), even while a write is under way. The exit would then run
 * pino's synchronous flush of the lines queued behind that write, which can reach stdout before it:
 * the closing lines came out of order. So this waits for sonic-boom's `drain`, which comes once its
 * queue is empty (`_writing` is how sonic-boom itself knows; it has no public equivalent).
 */
const FLUSH_TIMEOUT_MS = 2_000;

export function flushLogs(): Promise<void> {
  const stream = destination;
  if (stream && (stream as unknown as { _writing: boolean })._writing)
    return new Promise((resolve) => {
      // Bounded: stdout gone (EPIPE) emits `error`, and never `drain`.
      const done = () => {
        clearTimeout(timer);
        stream.off('drain', done).off('error', done);
        resolve();
      };
      const timer = setTimeout(done, FLUSH_TIMEOUT_MS);
      stream.once('drain', done).once('error', done);
    });
  // No root logger: nestjs-pino never started (a spec, a script), so nothing is buffered.
  const root = PinoLogger.root as typeof PinoLogger.root | undefined;
  if (!root) return Promise.resolve();
  return new Promise((resolve) => root.flush(() => resolve()));
}
