import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ValidationErrorItem } from 'joi';
import { crossVariableProblems, envSchema, SECRET_VARIABLES } from './env.schema.js';

export type AppEnv = 'dev' | 'staging' | 'prod';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The validated settings, one namespace per concern. Built once by `loadConfig`. */
export interface AppConfig {
  app: { env: AppEnv; version: string };
  http: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    /** Time a client has to send the request line and headers (slowloris). */
    headersTimeoutMs: number;
    /** Time a client has to send the whole request, body included. */
    requestTimeoutMs: number;
    /** How long an idle keep-alive connection stays open. */
    keepAliveTimeoutMs: number;
    maxHeaderBytes: number;
  };
  log: { level: LogLevel };
  store: {
    path: string;
    /** The journal is folded into a new snapshot once it outgrows both this and the snapshot. */
    compactThresholdBytes: number;
  };
  shutdown: { timeoutMs: number; drainDelayMs: number };
  auth: { apiKeys: readonly string[]; protectReads: boolean };
}

/** Start-up must stop: every problem found in the environment, each naming its variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Validates the environment and returns the typed configuration, or throws a ConfigError that lists
 * every problem. This is the only place that reads environment variables.
 */
export function loadConfig(env: Env = process.env, version = '0.0.0'): AppConfig {
  const problems: string[] = [];
  const input = resolveSecretFiles(env, problems);
  const result = envSchema.validate(input, {
    abortEarly: false,
    convert: true,
    errors: { wrap: { label: false } },
  });
  for (const detail of result.error?.details ?? []) problems.push(describe(detail));
  const v = result.value as Record<string, unknown>;
  problems.push(...crossVariableProblems(v));
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    app: { env: v.APP_ENV as AppEnv, version },
    http: {
      host: v.HOST as string,
      port: v.PORT as number,
      bodyLimitBytes: v.BODY_LIMIT as number,
      headersTimeoutMs: v.HTTP_HEADERS_TIMEOUT as number,
      requestTimeoutMs: v.HTTP_REQUEST_TIMEOUT as number,
      keepAliveTimeoutMs: v.HTTP_KEEPALIVE_TIMEOUT as number,
      maxHeaderBytes: v.HTTP_MAX_HEADER_SIZE as number,
    },
    log: { level: v.LOG_LEVEL as LogLevel },
    store: { path: path.resolve(v.DB_PATH as string), compactThresholdBytes: v.DB_COMPACT_THRESHOLD as number },
    shutdown: { timeoutMs: v.SHUTDOWN_TIMEOUT as number, drainDelayMs: v.SHUTDOWN_DRAIN_DELAY as number },
    auth: {
      apiKeys: (v.API_KEYS as string[] | undefined) ?? [],
      protectReads: v.AUTH_READS as boolean,
    },
  };
}

/** `NAME_FILE` supplies a secret from a file (a mounted Kubernetes Secret, a Docker secret). */
function resolveSecretFiles(env: Env, problems: string[]): Env {
  // An empty value means unset: orchestrators often render `NAME=` for an optional variable.
  const resolved: Env = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  for (const name of SECRET_VARIABLES) {
    const fileVariable = `${name}_FILE`;
    const file = env[fileVariable];
    if (file === undefined || file === '') continue;
    delete resolved[fileVariable];
    if (resolved[name] !== undefined) {
      problems.push(`${name} and ${fileVariable} are both set: use one`);
      delete resolved[name];
      continue;
    }
    try {
      resolved[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      problems.push(`${fileVariable} cannot be read from ${file} (${code})`);
    }
  }
  return resolved;
}

function describe(detail: ValidationErrorItem): string {
  const variable = String(detail.path[0] ?? detail.context?.label ?? '');
  // Never let joi render a secret: its messages can quote the value.
  if ((SECRET_VARIABLES as readonly string[]).includes(variable) && !detail.type.endsWith('.invalid')) {
    return `${variable} is invalid (${detail.type})`;
  }
  return detail.message;
}
