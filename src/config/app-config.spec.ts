import assert from '../../test/support/assert.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { ConfigError, loadConfig } from './app-config.js';

const KEY = 'k'.repeat(16) + '-first-key';
const OTHER_KEY = 'o'.repeat(16) + '-other-key';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'config-spec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('when nothing is set, then every setting has its safe default', () => {
    const config = loadConfig({});
    assert.equal(config.app.env, 'dev');
    assert.equal(config.http.host, '0.0.0.0');
    assert.equal(config.http.port, 8080);
    assert.equal(config.http.bodyLimitBytes, 64 * 1024);
    assert.equal(config.log.level, 'info');
    assert.equal(config.store.path, path.resolve('data/items.json'));
    assert.equal(config.store.idempotencyKeyTtlMs, 24 * 3_600_000);
    assert.equal(config.shutdown.timeoutMs, 10_000);
    assert.equal(config.shutdown.drainDelayMs, 5_000);
    assert.deepEqual(config.auth.apiKeys, []);
    assert.equal(config.http.headersTimeoutMs, 10_000);
    assert.equal(config.http.requestTimeoutMs, 30_000);
    assert.equal(config.http.keepAliveTimeoutMs, 65_000);
    assert.equal(config.http.maxHeaderBytes, 16 * 1024);
  });

  it('when the HTTP server limits are set, then they are parsed', () => {
    const { http } = loadConfig({
      HTTP_HEADERS_TIMEOUT: '5s',
      HTTP_REQUEST_TIMEOUT: '1m',
      HTTP_KEEPALIVE_TIMEOUT: '75s',
      HTTP_MAX_HEADER_SIZE: '32kb',
    });
    assert.deepEqual(
      [http.headersTimeoutMs, http.requestTimeoutMs, http.keepAliveTimeoutMs, http.maxHeaderBytes],
      [5_000, 60_000, 75_000, 32 * 1024],
    );
  });

  it('when the headers timeout is longer than the request timeout, then both are named', () => {
    assert.deepEqual(problemsOf({ HTTP_HEADERS_TIMEOUT: '20s', HTTP_REQUEST_TIMEOUT: '10s' }), [
      'HTTP_HEADERS_TIMEOUT must not be longer than HTTP_REQUEST_TIMEOUT',
    ]);
  });

  it('when values are set, then they are parsed and typed', () => {
    const config = loadConfig({
      APP_ENV: 'staging',
      HOST: '127.0.0.1',
      PORT: '9000',
      LOG_LEVEL: 'debug',
      DB_PATH: '/tmp/x/items.json',
      SHUTDOWN_TIMEOUT: '1m30s',
      SHUTDOWN_DRAIN_DELAY: '500ms',
      BODY_LIMIT: '1mb',
      DB_COMPACT_THRESHOLD: '64kb',
      IDEMPOTENCY_KEY_TTL: '1h30m',
      API_KEYS: `${KEY}, ${OTHER_KEY}`,
      AUTH_READS: 'true',
    });
    assert.equal(config.app.env, 'staging');
    assert.equal(config.http.port, 9000);
    assert.equal(config.http.bodyLimitBytes, 1024 * 1024);
    assert.equal(config.store.path, '/tmp/x/items.json');
    assert.equal(config.store.compactThresholdBytes, 64 * 1024);
    assert.equal(config.store.idempotencyKeyTtlMs, 90 * 60_000);
    assert.equal(config.shutdown.timeoutMs, 90_000);
    assert.equal(config.shutdown.drainDelayMs, 500);
    assert.deepEqual(config.auth.apiKeys, [KEY, OTHER_KEY]);
    assert.equal(config.auth.protectReads, true);
  });

  it('when a duration is plain seconds, then it is read as seconds', () => {
    assert.equal(loadConfig({ SHUTDOWN_TIMEOUT: '30' }).shutdown.timeoutMs, 30_000);
  });

  it('when a variable is set to the empty string, then its default applies', () => {
    assert.equal(loadConfig({ PORT: '', LOG_LEVEL: '' }).http.port, 8080);
  });

  const invalid: Array<[string, Record<string, string>]> = [
    ['APP_ENV', { APP_ENV: 'production' }],
    ['HOST', { HOST: 'not a host!' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: 'http' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['SHUTDOWN_TIMEOUT', { SHUTDOWN_TIMEOUT: 'soon' }],
    ['SHUTDOWN_DRAIN_DELAY', { SHUTDOWN_DRAIN_DELAY: '-1s' }],
    ['BODY_LIMIT', { BODY_LIMIT: 'huge' }],
    ['DB_COMPACT_THRESHOLD', { DB_COMPACT_THRESHOLD: '512' }],
    ['HTTP_HEADERS_TIMEOUT', { HTTP_HEADERS_TIMEOUT: '0' }],
    ['HTTP_REQUEST_TIMEOUT', { HTTP_REQUEST_TIMEOUT: 'never' }],
    ['HTTP_KEEPALIVE_TIMEOUT', { HTTP_KEEPALIVE_TIMEOUT: '10ms' }],
    ['HTTP_MAX_HEADER_SIZE', { HTTP_MAX_HEADER_SIZE: '100' }],
    ['DB_COMPACT_THRESHOLD', { DB_COMPACT_THRESHOLD: 'often' }],
    ['IDEMPOTENCY_KEY_TTL', { IDEMPOTENCY_KEY_TTL: 'a day' }],
    ['IDEMPOTENCY_KEY_TTL', { IDEMPOTENCY_KEY_TTL: '0' }],
    ['AUTH_READS', { AUTH_READS: 'maybe' }],
    ['API_KEYS', { API_KEYS: 'short' }],
  ];
  for (const [variable, env] of invalid) {
    it(`when ${variable}=${Object.values(env)[0]}, then start-up is refused naming ${variable}`, () => {
      const problems = problemsOf(env);
      assert.equal(problems.length, 1);
      assert.match(problems[0]!, new RegExp(`^${variable}\\b`));
    });
  }

  it('when several variables are wrong, then every problem is listed in one message', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', SHUTDOWN_TIMEOUT: 'never', APP_ENV: 'qa' });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems.length, 4);
    for (const variable of ['PORT', 'LOG_LEVEL', 'SHUTDOWN_TIMEOUT', 'APP_ENV']) {
      assert.match(error.message, new RegExp(`- ${variable}\\b`));
    }
  });

  it('when APP_ENV=prod and DB_PATH is not set, then start-up is refused naming DB_PATH', () => {
    const problems = problemsOf({ APP_ENV: 'prod', API_KEYS: KEY });
    assert.deepEqual(problems, ['DB_PATH must be set explicitly when APP_ENV=prod']);
    // With PostgreSQL there is no file to name.
    assert.equal(
      loadConfig({ APP_ENV: 'prod', API_KEYS: KEY, STORE_DRIVER: 'postgres', DATABASE_URL: 'postgres://db/items' })
        .store.driver,
      'postgres',
    );
  });

  it('when APP_ENV=prod without API_KEYS or AUTH_DISABLED, then start-up is refused naming API_KEYS', () => {
    const problems = problemsOf({ APP_ENV: 'prod', DB_PATH: '/data/items.json' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^API_KEYS .*AUTH_DISABLED=true/);
  });

  it('when APP_ENV=prod with AUTH_DISABLED=true, then it starts without keys', () => {
    const config = loadConfig({ APP_ENV: 'prod', DB_PATH: '/data/items.json', AUTH_DISABLED: 'true' });
    assert.deepEqual(config.auth.apiKeys, []);
  });

  it('when API_KEYS_FILE names a file, then the keys come from it without its trailing newline', () => {
    const file = path.join(dir, 'keys');
    writeFileSync(file, `${KEY},${OTHER_KEY}\n`);
    assert.deepEqual(loadConfig({ API_KEYS_FILE: file }).auth.apiKeys, [KEY, OTHER_KEY]);
  });

  it('when both API_KEYS and API_KEYS_FILE are set, then start-up is refused naming both', () => {
    const file = path.join(dir, 'keys-both');
    writeFileSync(file, KEY);
    assert.deepEqual(problemsOf({ API_KEYS: KEY, API_KEYS_FILE: file }), [
      'API_KEYS and API_KEYS_FILE are both set: use one',
    ]);
  });

  it('when API_KEYS_FILE cannot be read, then start-up is refused naming API_KEYS_FILE', () => {
    const problems = problemsOf({ API_KEYS_FILE: path.join(dir, 'missing') });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^API_KEYS_FILE cannot be read .*ENOENT/);
  });

  it('when a secret is invalid, then the message never contains its value', () => {
    const canary = 'CANARY-secret-value-that-must-not-leak!';
    const file = path.join(dir, 'bad-keys');
    writeFileSync(file, `${canary}\n`);
    for (const env of [{ API_KEYS: canary }, { API_KEYS_FILE: file }, { API_KEYS: canary, AUTH_DISABLED: 'true' }]) {
      let message = '';
      try {
        loadConfig({ ...env, PORT: 'x' });
      } catch (err) {
        message = String(err instanceof Error ? err.message : err);
      }
      assert.match(message, /API_KEYS/);
      assert.ok(!message.includes(canary), `secret leaked: ${message}`);
      assert.ok(!message.includes('CANARY'), `part of the secret leaked: ${message}`);
    }
  });

  it('when API_KEYS and AUTH_DISABLED=true are both set, then start-up is refused', () => {
    assert.match(problemsOf({ API_KEYS: KEY, AUTH_DISABLED: 'true' })[0]!, /API_KEYS and AUTH_DISABLED/);
  });

  describe('store settings', () => {
    const URL_WITH_PASSWORD = 'postgres://items:pa%24%24word-9876@db.internal:5432/items';

    it('when nothing is set, then the store is the JSON file and no database is configured', () => {
      const { store } = loadConfig({});
      assert.equal(store.driver, 'json-file');
      assert.equal(store.database, undefined);
    });

    it('when STORE_DRIVER=postgres, then the database settings are parsed, with 10 connections, 2 s and 5 s by default', () => {
      const { store, secrets } = loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: URL_WITH_PASSWORD });
      assert.equal(store.driver, 'postgres');
      assert.deepEqual(store.database, {
        url: URL_WITH_PASSWORD,
        poolMax: 10,
        connectTimeoutMs: 2_000,
        statementTimeoutMs: 5_000,
      });
      // The URL, and its password alone, encoded and decoded: scrubbed from every log line.
      assert.ok(secrets.includes(URL_WITH_PASSWORD));
      assert.ok(secrets.includes('pa$$word-9876'));
      assert.ok(secrets.includes('pa%24%24word-9876'));
    });

    it('when STORE_DRIVER=postgres without DATABASE_URL, then start-up is refused naming DATABASE_URL', () => {
      assert.throws(
        () => loadConfig({ STORE_DRIVER: 'postgres' }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.problems.some((problem) => /^DATABASE_URL .*STORE_DRIVER=postgres/.test(problem)),
      );
    });

    it('when DATABASE_URL is not a postgres URL, then the message names it and never quotes it', () => {
      const secret = 'mysql://root:hunter2-secret@db/items';
      assert.throws(
        () => loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: secret }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, /DATABASE_URL/);
          assert.doesNotMatch(err.message, /hunter2/);
          return true;
        },
      );
    });

    it('when DATABASE_URL_FILE names a file, then the URL comes from it', () => {
      const file = path.join(dir, 'database-url');
      writeFileSync(file, `${URL_WITH_PASSWORD}\n`);
      assert.equal(
        loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL_FILE: file }).store.database?.url,
        URL_WITH_PASSWORD,
      );
    });

    for (const [variable, value] of [
      ['STORE_DRIVER', 'mongodb'],
      ['DATABASE_POOL_MAX', '0'],
      ['DATABASE_CONNECT_TIMEOUT', 'soon'],
      ['DATABASE_STATEMENT_TIMEOUT', '-1s'],
    ] as const) {
      it(`when ${variable}=${value}, then start-up is refused naming ${variable}`, () => {
        assert.throws(
          () => loadConfig({ STORE_DRIVER: 'postgres', DATABASE_URL: URL_WITH_PASSWORD, [variable]: value }),
          (err: unknown) => err instanceof ConfigError && err.problems.some((problem) => problem.startsWith(variable)),
        );
      });
    }
  });

  describe('rate-limit store settings', () => {
    const REDIS_URL_WITH_PASSWORD = 'redis://items:r3d%21s-secret-42@redis.internal:6379/2';

    it('when RATE_LIMIT_STORE=redis with REDIS_URL, then both are parsed, the keys prefixed items-service: by default, and the URL and its password are secrets', () => {
      const { rateLimit, secrets } = loadConfig({ RATE_LIMIT_STORE: 'redis', REDIS_URL: REDIS_URL_WITH_PASSWORD });
      assert.deepEqual(rateLimit, {
        max: 600,
        windowMs: 60_000,
        store: 'redis',
        redis: { url: REDIS_URL_WITH_PASSWORD, keyPrefix: 'items-service:' },
      });
      assert.ok(secrets.includes(REDIS_URL_WITH_PASSWORD));
      assert.ok(secrets.includes('r3d!s-secret-42'));
      assert.ok(secrets.includes('r3d%21s-secret-42'));
    });

    it('when REDIS_URL is set but RATE_LIMIT_STORE is not redis, then it is ignored, as DATABASE_URL is without postgres', () => {
      assert.deepEqual(loadConfig({ REDIS_URL: REDIS_URL_WITH_PASSWORD }).rateLimit.redis, undefined);
    });

    it('when REDIS_URL_FILE names a file, then the URL comes from it', () => {
      const file = path.join(dir, 'redis-url');
      writeFileSync(file, `${REDIS_URL_WITH_PASSWORD}\n`);
      const { rateLimit } = loadConfig({
        RATE_LIMIT_STORE: 'redis',
        REDIS_URL_FILE: file,
        REDIS_KEY_PREFIX: 'staging:items:',
      });
      assert.deepEqual(rateLimit.redis, { url: REDIS_URL_WITH_PASSWORD, keyPrefix: 'staging:items:' });
    });

    it('when RATE_LIMIT_STORE=redis without REDIS_URL, then start-up is refused naming REDIS_URL', () => {
      assert.deepEqual(problemsOf({ RATE_LIMIT_STORE: 'redis' }), [
        'REDIS_URL (or REDIS_URL_FILE) must be set when RATE_LIMIT_STORE=redis',
      ]);
    });

    it('when REDIS_URL is not a redis URL, then the message names it and never quotes it', () => {
      for (const secret of [
        'http://items:hunter2-secret@redis:6379',
        'hunter2-secret',
        'redis://items:hunter2 secret@redis',
      ]) {
        const problems = problemsOf({ RATE_LIMIT_STORE: 'redis', REDIS_URL: secret });
        assert.equal(problems.length, 1, problems.join('; '));
        assert.match(problems[0]!, /^REDIS_URL /);
        assert.doesNotMatch(problems[0]!, /hunter2/);
      }
    });

    it('when REDIS_URL and REDIS_URL_FILE are both set, then start-up is refused', () => {
      const file = path.join(dir, 'redis-url-both');
      writeFileSync(file, REDIS_URL_WITH_PASSWORD);
      assert.deepEqual(
        problemsOf({ RATE_LIMIT_STORE: 'redis', REDIS_URL: REDIS_URL_WITH_PASSWORD, REDIS_URL_FILE: file })[0],
        'REDIS_URL and REDIS_URL_FILE are both set: use one',
      );
    });

    for (const [variable, value] of [
      ['RATE_LIMIT_STORE', 'memcached'],
      ['REDIS_KEY_PREFIX', 'has spaces'],
      ['REDIS_KEY_PREFIX', 'x'.repeat(65)],
    ] as const) {
      it(`when ${variable}=${value.slice(0, 20)}, then start-up is refused naming ${variable}`, () => {
        const problems = problemsOf({
          RATE_LIMIT_STORE: 'redis',
          REDIS_URL: REDIS_URL_WITH_PASSWORD,
          [variable]: value,
        });
        assert.ok(
          problems.some((problem) => problem.startsWith(variable)),
          problems.join('; '),
        );
      });
    }
  });

  describe('API protection settings', () => {
    it('when nothing is set, then rate limiting is on (600 a minute), the socket is the client, CORS is off and /docs is on outside prod', () => {
      const config = loadConfig({});
      assert.deepEqual(config.rateLimit, { max: 600, windowMs: 60_000, store: 'memory' });
      assert.equal(config.http.trustProxy, false);
      assert.deepEqual(config.http.corsOrigins, []);
      assert.equal(config.docs.enabled, true);
      assert.equal(loadConfig({ APP_ENV: 'prod', DB_PATH: 'x', AUTH_DISABLED: 'true' }).docs.enabled, false);
      assert.equal(
        loadConfig({ APP_ENV: 'prod', DB_PATH: 'x', AUTH_DISABLED: 'true', DOCS_ENABLED: 'true' }).docs.enabled,
        true,
      );
    });

    it('when they are set, then they are parsed', () => {
      const config = loadConfig({
        RATE_LIMIT_MAX: '0',
        RATE_LIMIT_WINDOW: '10s',
        TRUST_PROXY: '10.0.0.0/8, loopback,2001:db8::1',
        CORS_ORIGINS: 'https://App.Example.com,http://localhost:3000',
      });
      assert.deepEqual(config.rateLimit, { max: 0, windowMs: 10_000, store: 'memory' });
      assert.deepEqual(config.http.trustProxy, ['10.0.0.0/8', 'loopback', '2001:db8::1']);
      assert.deepEqual(config.http.corsOrigins, ['https://app.example.com', 'http://localhost:3000']);
      assert.equal(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy, 2);
    });

    for (const [variable, value] of [
      ['RATE_LIMIT_MAX', '-1'],
      ['RATE_LIMIT_MAX', 'lots'],
      ['RATE_LIMIT_WINDOW', '10ms'],
      ['TRUST_PROXY', 'true'],
      ['TRUST_PROXY', '0'],
      ['TRUST_PROXY', '10.0.0.0/8,proxy.example.com'],
      ['CORS_ORIGINS', '*'],
      ['CORS_ORIGINS', 'https://app.example.com/path'],
      ['CORS_ORIGINS', 'app.example.com'],
      ['DOCS_ENABLED', 'maybe'],
    ] as const) {
      it(`when ${variable}=${value}, then start-up is refused naming ${variable}`, () => {
        const problems = problemsOf({ [variable]: value });
        assert.equal(problems.length, 1, problems.join('; '));
        assert.match(problems[0]!, new RegExp(`^${variable}\\b`));
      });
    }
  });

  describe('observability settings', () => {
    it('when nothing is set, then logs are JSON, metrics share the API port and tracing is off', () => {
      const config = loadConfig({});
      assert.equal(config.log.pretty, false);
      assert.equal(config.metrics.port, undefined);
      assert.deepEqual(config.tracing, { enabled: false, protocol: 'http/protobuf' });
      assert.equal(config.app.commit, 'unknown');
    });

    it('when an OTLP endpoint is set, then tracing is on, unless OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', () => {
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
      assert.equal(loadConfig(endpoint).tracing.enabled, true);
      assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c/v1/traces' }).tracing.enabled, true);
      assert.equal(loadConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' }).tracing.enabled, false);
      assert.equal(loadConfig({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }).tracing.enabled, false);
      assert.equal(loadConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing.protocol, 'http/json');
    });

    it('when OTEL_* values are wrong, then start-up stops naming each variable', () => {
      const problems = problemsOf({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '1.5',
        OTEL_SDK_DISABLED: 'maybe',
      });
      for (const variable of [
        'OTEL_EXPORTER_OTLP_ENDPOINT',
        'OTEL_EXPORTER_OTLP_PROTOCOL',
        'OTEL_TRACES_SAMPLER',
        'OTEL_TRACES_SAMPLER_ARG',
        'OTEL_SDK_DISABLED',
      ])
        assert.ok(
          problems.some((problem) => problem.startsWith(variable)),
          `${variable} not named in ${problems.join('; ')}`,
        );
      assert.ok(problems.some((problem) => /grpc is not supported/.test(problem)));
    });

    it('when METRICS_PORT is the API port, 0 or not a port, then it is refused by name', () => {
      assert.deepEqual(problemsOf({ PORT: '9000', METRICS_PORT: '9000' }), ['METRICS_PORT must differ from PORT']);
      assert.match(problemsOf({ METRICS_PORT: '0' })[0]!, /^METRICS_PORT/);
      assert.match(problemsOf({ METRICS_PORT: '70000' })[0]!, /^METRICS_PORT/);
      assert.equal(loadConfig({ METRICS_PORT: '9464' }).metrics.port, 9464);
    });

    it('when LOG_FORMAT, BUILD_COMMIT or BUILD_VERSION is malformed, then it is refused by name', () => {
      assert.match(problemsOf({ LOG_FORMAT: 'xml' })[0]!, /^LOG_FORMAT/);
      assert.match(problemsOf({ BUILD_COMMIT: 'a b' })[0]!, /^BUILD_COMMIT/);
      assert.match(problemsOf({ BUILD_VERSION: '1.0 beta' })[0]!, /^BUILD_VERSION/);
      assert.equal(loadConfig({ LOG_FORMAT: 'pretty' }).log.pretty, true);
    });

    it('when the image build gave no COMMIT or VERSION (empty values), then the defaults apply', () => {
      const config = loadConfig({ BUILD_COMMIT: '', BUILD_VERSION: '' }, '0.1.0');
      assert.deepEqual([config.app.commit, config.app.version], ['unknown', '0.1.0']);
      const built = loadConfig({ BUILD_COMMIT: 'abc1234', BUILD_VERSION: '1.2.3-rc.1+build.5' }, '0.1.0');
      assert.deepEqual([built.app.commit, built.app.version], ['abc1234', '1.2.3-rc.1+build.5']);
    });

    it('when exporter headers are set, then their values are secrets: scrubbed from logs and never quoted', () => {
      const token = 'tok-1234567890';
      const config = loadConfig({
        API_KEYS: KEY,
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${token},x-team=a`,
      });
      assert.ok(config.secrets.includes(KEY));
      assert.ok(config.secrets.includes(token));
      assert.ok(config.secrets.includes(`Bearer ${token}`));
      assert.ok(!config.secrets.includes('a'), 'a one-letter value would blank out every "a" in the logs');
    });
  });
});
