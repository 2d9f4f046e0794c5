import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ValidationErrorItem } from 'joi';
import { crossVariableProblems, envSchema, SECRET_VARIABLES, SENSITIVE_OTEL_VARIABLES } from './env.schema.js';

export type AppEnv = 'dev' | 'staging' | 'prod';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** The validated settings, one namespace per concern. Built once by `loadConfig`. */
export interface AppConfig {
  app: { env: AppEnv; version: string; commit: string };
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
    /** Fastify's `trustProxy`: hops or proxy addresses; false means the socket's peer is the client. */
    trustProxy: false | number | readonly string[];
    /** Origins allowed cross-origin; empty means CORS is off. */
    corsOrigins: readonly string[];
  };
  /** Per client, across the API; `max` 0 means off. `redis` is set when `store` is redis. */
  rateLimit: { max: number; windowMs: number; store: RateLimitStore; redis?: RedisConfig };
  docs: { enabled: boolean };
  log: { level: LogLevel; pretty: boolean };
  /** Without a port, /metrics is served on the HTTP port with the API. */
  metrics: { enabled: boolean; port?: number };
  /**
   * Tracing is on when an OTLP endpoint is configured (and OTEL_SDK_DISABLED is not true). The SDK
   * reads the rest of the OTEL_* variables itself.
   */
  tracing: { enabled: boolean; protocol: OtlpProtocol };
  store: {
    driver: StoreDriver;
    path: string;
    /** The journal is folded into a new snapshot once it outgrows both this and the snapshot. */
    compactThresholdBytes: number;
    /** How long an Idempotency-Key is kept, and replays, after the POST that used it. */
    idempotencyKeyTtlMs: number;
    /** When the driver is postgres. */
    database?: DatabaseConfig;
  };
  shutdown: { timeoutMs: number; drainDelayMs: number };
  /** `disabled`: AUTH_DISABLED=true, running without keys on purpose (required for that in prod). */
  auth: { apiKeys: readonly string[]; protectReads: boolean; adminKeys: readonly string[]; disabled: boolean };
  /** Every secret value configured, so that the logs can scrub them wherever they appear. */
  secrets: readonly string[];
}

export type StoreDriver = 'json-file' | 'postgres';

export type RateLimitStore = 'memory' | 'redis';

export interface RedisConfig {
  /** A secret: it may hold a password. */
  url: string;
  /** Put before every key this service writes. */
  keyPrefix: string;
}

export interface DatabaseConfig {
  /** A secret: it usually holds a password. */
  url: string;
  poolMax: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
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
 * every problem. This is the only place that reads environment variables, but for the container
 * health check (src/health/container-healthcheck.ts), which reads HOST and PORT.
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
  if (v.LOG_FORMAT === 'pretty' && !canResolve('pino-pretty'))
    problems.push('LOG_FORMAT=pretty needs pino-pretty, a dev dependency (npm install); use json in production');
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    app: {
      env: v.APP_ENV as AppEnv,
      version: (v.BUILD_VERSION as string | undefined) ?? version,
      commit: v.BUILD_COMMIT as string,
    },
    http: {
      host: v.HOST as string,
      port: v.PORT as number,
      bodyLimitBytes: v.BODY_LIMIT as number,
      headersTimeoutMs: v.HTTP_HEADERS_TIMEOUT as number,
      requestTimeoutMs: v.HTTP_REQUEST_TIMEOUT as number,
      keepAliveTimeoutMs: v.HTTP_KEEPALIVE_TIMEOUT as number,
      maxHeaderBytes: v.HTTP_MAX_HEADER_SIZE as number,
      trustProxy: (v.TRUST_PROXY as number | string[] | undefined) ?? false,
      // Browsers send scheme and host in lower case, and the CORS plugin compares strings exactly.
      corsOrigins: ((v.CORS_ORIGINS as string[] | undefined) ?? []).map((origin) => origin.toLowerCase()),
    },
    rateLimit: {
      max: v.RATE_LIMIT_MAX as number,
      windowMs: v.RATE_LIMIT_WINDOW as number,
      store: v.RATE_LIMIT_STORE as RateLimitStore,
      ...(v.RATE_LIMIT_STORE === 'redis'
        ? { redis: { url: v.REDIS_URL as string, keyPrefix: v.REDIS_KEY_PREFIX as string } }
        : {}),
    },
    docs: { enabled: v.DOCS_ENABLED as boolean },
    log: { level: v.LOG_LEVEL as LogLevel, pretty: v.LOG_FORMAT === 'pretty' },
    metrics: { enabled: v.METRICS_ENABLED as boolean, port: v.METRICS_PORT as number | undefined },
    tracing: {
      enabled:
        v.OTEL_SDK_DISABLED !== true &&
        v.OTEL_TRACES_EXPORTER !== 'none' &&
        (v.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? v.OTEL_EXPORTER_OTLP_ENDPOINT) !== undefined,
      protocol: (v.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
        v.OTEL_EXPORTER_OTLP_PROTOCOL ??
        'http/protobuf') as OtlpProtocol,
    },
    store: {
      driver: v.STORE_DRIVER as StoreDriver,
      path: path.resolve(v.DB_PATH as string),
      compactThresholdBytes: v.DB_COMPACT_THRESHOLD as number,
      idempotencyKeyTtlMs: v.IDEMPOTENCY_KEY_TTL as number,
      ...(v.STORE_DRIVER === 'postgres'
        ? {
            database: {
              url: v.DATABASE_URL as string,
              poolMax: v.DATABASE_POOL_MAX as number,
              connectTimeoutMs: v.DATABASE_CONNECT_TIMEOUT as number,
              statementTimeoutMs: v.DATABASE_STATEMENT_TIMEOUT as number,
            },
          }
        : {}),
    },
    shutdown: { timeoutMs: v.SHUTDOWN_TIMEOUT as number, drainDelayMs: v.SHUTDOWN_DRAIN_DELAY as number },
    auth: {
      apiKeys: (v.API_KEYS as string[] | undefined) ?? [],
      protectReads: v.AUTH_READS as boolean,
      adminKeys: (v.ADMIN_API_KEYS as string[] | undefined) ?? [],
      disabled: v.AUTH_DISABLED as boolean,
    },
    secrets: secretValues(v),
  };
}

/** `NAME_FILE` supplies a secret from a file (a mounted Kubernetes Secret, a Docker secret). */
export function resolveSecretFiles(env: Env, problems: string[]): Env {
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

/** Shorter values are not scrubbed: they would blank out ordinary words (and are no secret). */
const MIN_SCRUBBED_LENGTH = 6;

function secretValues(v: Record<string, unknown>): string[] {
  const values = SECRET_VARIABLES.flatMap((name) => (v[name] as string | string[] | undefined) ?? []);
  for (const name of ['DATABASE_URL', 'REDIS_URL']) {
    const url = v[name];
    if (typeof url !== 'string') continue;
    // The password alone may show up too (a driver's message, a URL written back without it).
    try {
      const { password } = new URL(url);
      if (password) values.push(password, decodeURIComponent(password));
    } catch {
      // Not a URL: the schema has reported it, and the value as a whole is in the list.
    }
  }
  for (const name of SENSITIVE_OTEL_VARIABLES) {
    const headers = v[name];
    if (typeof headers !== 'string') continue;
    // `key1=value1,key2=value2`, values URL-encoded (the OTLP exporter's format).
    values.push(headers);
    for (const pair of headers.split(',')) {
      const value = pair.slice(pair.indexOf('=') + 1).trim();
      values.push(value);
      try {
        const decoded = decodeURIComponent(value);
        // `Bearer <token>`: the token may show up on its own too (not the scheme's name).
        values.push(decoded, ...decoded.split(' ').filter((part) => !/^(bearer|basic)$/i.test(part)));
      } catch {
        // Not URL-encoded after all: the raw value is already in the list.
      }
    }
  }
  return [...new Set(values.filter((value) => value.length >= MIN_SCRUBBED_LENGTH))];
}

const SENSITIVE_VARIABLES: readonly string[] = [...SECRET_VARIABLES, ...SENSITIVE_OTEL_VARIABLES];

export function describe(detail: ValidationErrorItem): string {
  const variable = String(detail.path[0] ?? detail.context?.label ?? '');
  // Never let joi render a secret: its messages can quote the value. Our own messages never do (the
  // `.invalid` ones, the URL scheme's), and a missing value has nothing to quote.
  const ownMessage =
    detail.type.endsWith('.invalid') || detail.type === 'any.required' || detail.type.startsWith('string.uri');
  if (SENSITIVE_VARIABLES.includes(variable) && !ownMessage) {
    return `${variable} is invalid (${detail.type})`;
  }
  return detail.message;
}

function canResolve(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}
