import Joi from 'joi';
import { parseByteSize, parseDuration } from './duration.js';

/** Variables whose values are secrets: they accept `NAME_FILE`, and no message ever shows them. */
export const SECRET_VARIABLES = ['API_KEYS', 'ADMIN_API_KEYS', 'DATABASE_URL', 'REDIS_URL'] as const;

/**
 * Read by the OpenTelemetry SDK itself (from the process environment, so without `NAME_FILE`), and as
 * secret as the API keys: exporter headers usually carry the tracing backend's token.
 */
export const SENSITIVE_OTEL_VARIABLES = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'] as const;

/** A string that `parse` turns into a number of `unit`s, at least `min`; `format` shows how to write one. */
const quantity = (parse: (value: string) => number | undefined, min: number, format: string, unit: string) =>
  Joi.string()
    .custom((value: string, helpers) => {
      const parsed = parse(value);
      if (parsed === undefined) return helpers.error('quantity.invalid');
      return parsed >= min ? parsed : helpers.error('quantity.tooSmall', { min });
    })
    .messages({
      'quantity.invalid': `{{#label}} must be ${format}`,
      'quantity.tooSmall': `{{#label}} must be at least {{#min}} ${unit}`,
    });

const duration = (min = 0) =>
  quantity(parseDuration, min, 'a duration such as 10s, 1m30s, 500ms or plain seconds', 'ms');
const byteSize = (min = 1) => quantity(parseByteSize, min, 'a size such as 65536, 64kb or 1mb', 'bytes');

const otlpEndpoint = Joi.string().uri({ scheme: ['http', 'https'] });
const otlpProtocol = Joi.string()
  .valid('http/protobuf', 'http/json')
  .messages({ 'any.only': '{{#label}} must be http/protobuf or http/json (grpc is not supported)' });

/** An IP address or CIDR range, or one of proxy-addr's names for the private ranges. */
const PROXY_ADDRESS = Joi.alternatives(
  Joi.string().ip({ cidr: 'optional' }),
  Joi.string().valid('loopback', 'linklocal', 'uniquelocal'),
);

/** A list of values separated by commas; each entry must match `entry`, and `rule` says how. */
const list = (entry: Joi.Schema, rule: string) =>
  Joi.string()
    .custom((value: string, helpers) => {
      const entries = value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
      if (entries.length === 0 || entries.some((item) => entry.validate(item).error))
        return helpers.error('list.invalid');
      return entries;
    })
    .messages({ 'list.invalid': `{{#label}} must be ${rule}` });

/** A browser origin: scheme, host and port, nothing else (what the Origin header carries). */
const ORIGIN = Joi.string().pattern(
  /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/,
);

const API_KEY = /^[A-Za-z0-9._~+/=-]{16,256}$/;

const apiKeys = Joi.string()
  .custom((value: string, helpers) => {
    // Commas, or one key per line: a mounted Secret file (API_KEYS_FILE) often holds one per line.
    const keys = value
      .split(/[,\r\n]/)
      .map((key) => key.trim())
      .filter((key) => key !== '');
    if (keys.length === 0 || !keys.every((key) => API_KEY.test(key))) return helpers.error('keys.invalid');
    return keys;
  })
  .messages({
    'keys.invalid': '{{#label}} must be a comma-separated list of keys, each 16-256 characters of [A-Za-z0-9._~+/=-]',
  });

/** The environment the service reads, with a safe default for everything that can have one. */
export const envSchema = Joi.object({
  APP_ENV: Joi.string().valid('dev', 'staging', 'prod').default('dev'),
  HOST: Joi.alternatives(Joi.string().ip({ cidr: 'forbidden' }), Joi.string().hostname()).default('0.0.0.0'),
  PORT: Joi.number().integer().port().default(8080),
  LOG_LEVEL: Joi.string().valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent').default('info'),
  DB_PATH: Joi.string()
    .trim()
    .min(1)
    // Set on purpose in prod, where the JSON file holds the data; unused with STORE_DRIVER=postgres.
    .when('APP_ENV', {
      is: 'prod',
      then: Joi.when('STORE_DRIVER', {
        is: 'postgres',
        then: Joi.optional().default('./data/items.json'),
        otherwise: Joi.required().messages({ 'any.required': '{{#label}} must be set explicitly when APP_ENV=prod' }),
      }),
      otherwise: Joi.optional().default('./data/items.json'),
    }),
  // joi does not run defaults through `custom`, so they are given already parsed (ms, bytes).
  DB_COMPACT_THRESHOLD: byteSize(1024).default(1024 * 1024),
  // How long a POST's Idempotency-Key replays its first answer; both stores keep the keys that long.
  IDEMPOTENCY_KEY_TTL: duration(1).default(24 * 3_600_000),
  // Where items live: the JSON file (one replica) or PostgreSQL (any number of replicas).
  STORE_DRIVER: Joi.string().valid('json-file', 'postgres').default('json-file'),
  // A secret (it usually holds a password): also DATABASE_URL_FILE; never echoed in a message.
  DATABASE_URL: Joi.string()
    .trim()
    .uri({ scheme: ['postgres', 'postgresql'] })
    .messages({
      'string.uri': '{{#label}} must be a postgres:// URL',
      'string.uriCustomScheme': '{{#label}} must be a postgres:// URL',
    })
    .when('STORE_DRIVER', {
      is: 'postgres',
      then: Joi.required().messages({
        'any.required': '{{#label}} (or DATABASE_URL_FILE) must be set when STORE_DRIVER=postgres',
      }),
    }),
  // Connections per replica: the database's max_connections must exceed replicas x this.
  DATABASE_POOL_MAX: Joi.number().integer().min(1).max(1000).default(10),
  // A database that does not answer must not hold a request up: a connection attempt, and a statement,
  // give up after these.
  DATABASE_CONNECT_TIMEOUT: duration(100).default(2_000),
  DATABASE_STATEMENT_TIMEOUT: duration(100).default(5_000),
  SHUTDOWN_TIMEOUT: duration().default(10_000),
  SHUTDOWN_DRAIN_DELAY: duration().default(5_000),
  BODY_LIMIT: byteSize().default(64 * 1024),
  // Go's http.Server names: ReadHeaderTimeout, ReadTimeout, IdleTimeout, MaxHeaderBytes. A minimum,
  // because 0 would switch Node's protection off.
  HTTP_HEADERS_TIMEOUT: duration(100).default(10_000),
  HTTP_REQUEST_TIMEOUT: duration(100).default(30_000),
  // Above the 60 s idle timeout of common load balancers, so that they, not we, close an idle
  // connection: the side that closes first races the other's next request.
  HTTP_KEEPALIVE_TIMEOUT: duration(100).default(65_000),
  HTTP_MAX_HEADER_SIZE: byteSize(1024).default(16 * 1024),
  API_KEYS: apiKeys,
  // The admin endpoints (run-time log level): other keys than the API's clients hold.
  ADMIN_API_KEYS: apiKeys,
  AUTH_READS: Joi.boolean().default(false),
  AUTH_DISABLED: Joi.boolean().default(false),
  // Requests each client may make per RATE_LIMIT_WINDOW, across the API (not health or metrics); 0 is off.
  RATE_LIMIT_MAX: Joi.number().integer().min(0).default(600),
  RATE_LIMIT_WINDOW: duration(1_000).default(60_000),
  // Where the budgets are counted: in each process (each replica its own), or in Redis (one budget per
  // client across every replica).
  RATE_LIMIT_STORE: Joi.string().valid('memory', 'redis').default('memory'),
  // A secret (it may hold a password): also REDIS_URL_FILE; never echoed in a message. Ignored unless
  // RATE_LIMIT_STORE=redis, like DATABASE_URL without STORE_DRIVER=postgres.
  REDIS_URL: Joi.string()
    .trim()
    .uri({ scheme: ['redis', 'rediss'] })
    .messages({
      'string.uri': '{{#label}} must be a redis:// or rediss:// URL',
      'string.uriCustomScheme': '{{#label}} must be a redis:// or rediss:// URL',
    })
    .when('RATE_LIMIT_STORE', {
      is: 'redis',
      then: Joi.required().messages({
        'any.required': '{{#label}} (or REDIS_URL_FILE) must be set when RATE_LIMIT_STORE=redis',
      }),
    }),
  // Keeps this service's keys apart from other users of the same Redis (another environment, another service).
  REDIS_KEY_PREFIX: Joi.string()
    .pattern(/^[A-Za-z0-9:._-]{1,64}$/)
    .default('items-service:')
    .messages({ 'string.pattern.base': '{{#label}} must be 1-64 characters of [A-Za-z0-9:._-]' }),
  // Whom to believe about the client's address (X-Forwarded-For): a number of proxy hops, or the
  // proxies' addresses. Unset, the client is the socket's peer, and the header is ignored.
  TRUST_PROXY: Joi.alternatives(
    Joi.number().integer().min(1).max(10),
    list(
      PROXY_ADDRESS,
      'a number of hops (1-10) or a comma-separated list of IP addresses, CIDR ranges, loopback, linklocal or uniquelocal',
    ),
  ),
  // Browser origins allowed to call the API cross-origin; unset, no CORS headers at all.
  CORS_ORIGINS: list(
    ORIGIN,
    'a comma-separated list of origins such as https://app.example.com (scheme://host[:port])',
  ),
  // Swagger UI at /docs (the document itself is always at /openapi.json).
  DOCS_ENABLED: Joi.boolean().when('APP_ENV', {
    is: 'prod',
    then: Joi.optional().default(false),
    otherwise: Joi.optional().default(true),
  }),
  LOG_FORMAT: Joi.string().valid('json', 'pretty').default('json'),
  // Off: no /metrics and nothing recorded (the benchmark's "observability off" target uses it).
  METRICS_ENABLED: Joi.boolean().default(true),
  // Serves /metrics on this port only (and not on PORT), to keep metrics off the public port.
  METRICS_PORT: Joi.number().integer().port().invalid(0).messages({ 'any.invalid': '{{#label}} must not be 0' }),
  // Baked into the image at build time (build args COMMIT and VERSION); shown by items_service_build_info.
  // The image's ENV carries an empty value when the build arg was not given: empty is unset, as for
  // every variable (resolveSecretFiles).
  BUILD_COMMIT: Joi.string()
    .pattern(/^[A-Za-z0-9._-]{1,64}$/)
    .default('unknown')
    .messages({ 'string.pattern.base': '{{#label}} must be 1-64 characters of [A-Za-z0-9._-]' }),
  // Unset, the version is package.json's.
  BUILD_VERSION: Joi.string()
    .pattern(/^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$/)
    .messages({
      'string.pattern.base': '{{#label}} must be a version such as 1.2.3 or 1.2.3-rc.1+abc (1-64 characters)',
    }),
  // The OpenTelemetry SDK reads these itself; they are checked here so that a typo stops start-up
  // instead of being logged by the SDK and ignored.
  OTEL_SDK_DISABLED: Joi.boolean().default(false),
  OTEL_SERVICE_NAME: Joi.string().max(255),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpEndpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_HEADERS: Joi.string(),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: Joi.string(),
  OTEL_TRACES_EXPORTER: Joi.string().valid('otlp', 'none'),
  OTEL_TRACES_SAMPLER: Joi.string().valid(
    'always_on',
    'always_off',
    'traceidratio',
    'parentbased_always_on',
    'parentbased_always_off',
    'parentbased_traceidratio',
  ),
  OTEL_TRACES_SAMPLER_ARG: Joi.number().min(0).max(1),
}).unknown(true);

/** Rules across variables; checked on what the schema could parse, so they are reported with the rest. */
export function crossVariableProblems(env: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const headersTimeout = env.HTTP_HEADERS_TIMEOUT;
  const requestTimeout = env.HTTP_REQUEST_TIMEOUT;
  if (typeof headersTimeout === 'number' && typeof requestTimeout === 'number' && headersTimeout > requestTimeout)
    problems.push('HTTP_HEADERS_TIMEOUT must not be longer than HTTP_REQUEST_TIMEOUT');
  const authDisabled = env.AUTH_DISABLED === true;
  if (env.API_KEYS !== undefined && authDisabled)
    problems.push('API_KEYS and AUTH_DISABLED=true are both set: choose one');
  if (env.METRICS_PORT !== undefined && env.METRICS_ENABLED === false)
    problems.push('METRICS_PORT is set but METRICS_ENABLED=false: choose one');
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT === env.PORT && env.PORT !== 0)
    problems.push('METRICS_PORT must differ from PORT');
  if (env.APP_ENV === 'prod' && env.API_KEYS === undefined && !authDisabled)
    problems.push(
      'API_KEYS (or API_KEYS_FILE) must be set when APP_ENV=prod; set AUTH_DISABLED=true to run without authentication on purpose',
    );
  return problems;
}
