import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config.js';

/** Redacted wherever they appear in a log line: credentials a request or a config may carry. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'config.auth.apiKeys',
];

/** JSON logs to stdout through pino, with the level from LOG_LEVEL. */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.log.level,
            base: { service: 'items-service', version: config.app.version },
            messageKey: 'msg',
            timestamp: () => `,"time":"${new Date().toISOString()}"`,
            formatters: { level: (label: string) => ({ level: label }) },
            redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
            autoLogging: false,
          },
        }),
      ],
    };
  }
}

/** Writes out what pino has buffered; resolves once it is written (or could not be). */
export function flushLogs(): Promise<void> {
  return new Promise((resolve) => PinoLogger.root.flush(() => resolve()));
}
