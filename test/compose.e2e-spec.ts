import assert from './support/assert.js';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/app-config.js';
import { loadDatabaseConfig } from '../src/config/database-config.js';
import { parseDuration } from '../src/config/duration.js';
import { envSchema, SECRET_VARIABLES } from '../src/config/env.schema.js';
import { type ImageSpec, readDockerfile, readImageSpec } from './support/dockerfile.js';
import { jsonRequest } from './support/http.js';
import { startOtlpReceiver, type OtlpReceiver } from './support/otlp-receiver.js';
import { freePort } from './support/ports.js';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from './support/postgres.js';
import { PROMTOOL_BIN } from './support/prometheus.js';
import { PROJECT_ROOT, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const run = promisify(execFile);
const COMPOSE_FILE = path.join(PROJECT_ROOT, 'docker-compose.yml');
const SHUTDOWN_MARGIN_S = 5;

interface ComposeService {
  profiles?: string[];
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  image: string;
  pull_policy?: string;
  entrypoint?: string[];
  command?: string[];
  restart?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  read_only?: boolean;
  tmpfs?: string[];
  cap_drop?: string[];
  security_opt?: string[];
  stop_grace_period?: string;
  secrets?: { source: string }[];
  depends_on?: Record<string, { condition: string }>;
}
interface ComposeModel {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
}

/** `docker-compose` (Debian's package, the Python one), run from the project root. */
function compose(args: string[], file = COMPOSE_FILE) {
  return run('docker-compose', ['-f', file, '--project-directory', PROJECT_ROOT, ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
}

describe('docker-compose.yml', () => {
  let model: ComposeModel;
  let api: ComposeService;
  let image: ImageSpec;
  const temp = makeTempDir('items-compose-');

  beforeAll(async () => {
    image = readImageSpec(readDockerfile());
    model = parse((await compose(['config'])).stdout) as ComposeModel;
    api = model.services['items-service']!;
  });
  afterAll(() => temp.remove());

  it('when checked with docker-compose config -q, then it passes, and a broken file is refused', async () => {
    const { stdout, stderr } = await compose(['config', '-q']);
    assert.equal(stdout + stderr, '');
    const broken = path.join(temp.dir, 'docker-compose.yml');
    await writeFile(broken, (await readFile(COMPOSE_FILE, 'utf8')).replace('read_only: true', "read_only: 'always'"));
    await assert.rejects(compose(['config', '-q'], broken), (err: { stderr: string }) => {
      assert.match(err.stderr, /read_only/);
      return true;
    });
  });

  it('then the Prometheus config passes promtool check config, and scrapes the service on its port', async () => {
    const { stdout } = await run(PROMTOOL_BIN, ['check', 'config', path.join(PROJECT_ROOT, 'compose/prometheus.yml')]);
    assert.match(stdout, /SUCCESS/);
    const prometheus = model.services.prometheus!;
    assert.ok(
      prometheus.volumes?.includes(
        `${path.join(PROJECT_ROOT, 'compose/prometheus.yml')}:/etc/prometheus/prometheus.yml:ro`,
      ),
    );
    const config = parse(await readFile(path.join(PROJECT_ROOT, 'compose/prometheus.yml'), 'utf8')) as {
      scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const [job] = config.scrape_configs;
    assert.equal(job?.metrics_path, '/metrics');
    assert.deepEqual(job?.static_configs[0]?.targets, [`items-service:${image.env.PORT}`]);
    assert.ok(prometheus.depends_on?.['items-service'], 'started after the service');
  });

  it("then Prometheus loads the chart's rule file itself (mounted, not copied), for the job its rules select, and promtool finds every rule", async () => {
    const prometheus = model.services.prometheus!;
    const config = parse(await readFile(path.join(PROJECT_ROOT, 'compose/prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string }[];
    };
    const rulesDir = path.join(PROJECT_ROOT, 'helm/items-service/files/prometheus');
    const mount = prometheus.volumes?.find((volume) => volume.startsWith(`${rulesDir}:`));
    assert.ok(mount, `the rules directory is not mounted: ${String(prometheus.volumes)}`);
    const target = mount.split(':')[1]!;
    assert.deepEqual(config.rule_files, [`${target}/*.yml`]);
    assert.equal(config.scrape_configs[0]?.job_name, 'items-service', 'the job the rules select');
    // The same config with the container's path read on this machine: promtool loads and checks the rules.
    const hostConfig = path.join(temp.dir, 'prometheus.yml');
    await writeFile(
      hostConfig,
      (await readFile(path.join(PROJECT_ROOT, 'compose/prometheus.yml'), 'utf8')).replace(`${target}/`, `${rulesDir}/`),
    );
    const { stdout } = await run(PROMTOOL_BIN, ['check', 'config', hostConfig]);
    const found = /SUCCESS: (\d+) rules found/.exec(stdout);
    assert.ok(found && Number(found[1]) >= 10, stdout);
  });

  it("then Grafana has Prometheus as its data source and the chart's dashboard (mounted, not copied) provisioned", async () => {
    const grafana = model.services.grafana!;
    const mountOf = (dir: string) =>
      grafana.volumes?.find((volume) => volume.startsWith(`${path.join(PROJECT_ROOT, dir)}:`))?.split(':')[1];
    assert.equal(mountOf('compose/grafana'), '/etc/grafana/provisioning');
    const dashboards = mountOf('helm/items-service/files/grafana');
    assert.ok(dashboards, `the dashboard directory is not mounted: ${String(grafana.volumes)}`);
    const read = async (file: string) =>
      parse(await readFile(path.join(PROJECT_ROOT, 'compose/grafana', file), 'utf8'));
    const { datasources } = (await read('datasources/prometheus.yml')) as {
      datasources: { type: string; url: string; isDefault: boolean }[];
    };
    assert.deepEqual(
      datasources.map(({ type, url, isDefault }) => ({ type, url, isDefault })),
      [{ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true }],
    );
    assert.ok(
      model.services.prometheus!.ports?.some((port) => /:9090(\/tcp)?$/.test(port)),
      'Prometheus listens on 9090',
    );
    const { providers } = (await read('dashboards/items-service.yml')) as {
      providers: { type: string; options: { path: string } }[];
    };
    assert.deepEqual(
      providers.map(({ type, options }) => ({ type, path: options.path })),
      [{ type: 'file', path: dashboards }],
    );
    assert.ok(existsSync(path.join(PROJECT_ROOT, 'helm/items-service/files/grafana/items-service.json')));
    assert.ok(grafana.depends_on?.prometheus, 'started after Prometheus');
  });

  it('then the service is built from the Dockerfile with its build args, its data in a named volume', () => {
    assert.equal(api.build?.context, PROJECT_ROOT);
    assert.equal(api.build?.dockerfile ?? 'Dockerfile', 'Dockerfile');
    assert.deepEqual(Object.keys(api.build?.args ?? {}).sort(), [...image.args.keys()].sort());
    assert.deepEqual(
      image.volumes.map((volume) => api.volumes?.find((mount) => mount.split(':')[1] === volume)?.split(':')[0]),
      ['items-data'],
    );
    assert.ok('items-data' in model.volumes);
  });

  it("then its health check is the image's, and it runs as the chart does: read-only root, /tmp, no capabilities", () => {
    assert.deepEqual(api.healthcheck?.test, ['CMD', ...image.healthcheck]);
    assert.equal(api.read_only, true);
    assert.deepEqual(api.tmpfs, ['/tmp']);
    assert.deepEqual(api.cap_drop, ['ALL']);
    assert.deepEqual(api.security_opt, ['no-new-privileges:true']);
  });

  it('then its settings pass the service’s own validation, traces go to Jaeger, and the key is read from a file', async () => {
    const environment = api.environment ?? {};
    const keys = await readFile(model.secrets.api_keys!.file, 'utf8');
    assert.deepEqual(api.secrets, [{ source: 'api_keys' }]);
    assert.equal(environment.API_KEYS_FILE, '/run/secrets/api_keys');
    assert.ok(!Object.values(environment).some((value) => value.includes(keys.trim())), 'no key in the environment');
    const literal = Object.fromEntries(Object.entries(environment).filter(([name]) => !name.endsWith('_FILE')));
    const config = loadConfig({ ...image.env, ...literal, API_KEYS: keys });
    assert.equal(config.auth.apiKeys.length, 1);
    assert.equal(new URL(environment.OTEL_EXPORTER_OTLP_ENDPOINT!).host, 'jaeger:4318');
    assert.ok(model.services.jaeger, 'a jaeger service receives the traces');

    const grace = parseDuration(api.stop_grace_period ?? '10s')!;
    const needed = config.shutdown.drainDelayMs + config.shutdown.timeoutMs + SHUTDOWN_MARGIN_S * 1000;
    assert.ok(
      grace >= needed,
      `stop_grace_period ${grace} ms < drain + timeout + ${SHUTDOWN_MARGIN_S} s = ${needed} ms`,
    );
  });

  it('then every published port, the postgres profile’s included, is bound to loopback only, each host port once', () => {
    const published = Object.values(model.services).flatMap((service) => service.ports ?? []);
    assert.equal(published.length, 5);
    assert.deepEqual(
      published.map((port) => port.split(':')[0]),
      published.map(() => '127.0.0.1'),
    );
    const hostPorts = published.map((port) => port.split(':')[1]);
    assert.equal(new Set(hostPorts).size, hostPorts.length, hostPorts.join(', '));
  });
});

// ---------------------------------------------------------------------------------------------------
// The postgres profile: `docker compose --profile postgres up`. No Docker engine runs here, so `up`
// itself is never run: the file is checked with docker-compose, and its commands run with its settings
// against this machine's PostgreSQL and a Redis the test starts with the redis service's own command.

const PROFILE = 'postgres';
const DEFAULT_SERVICES = ['grafana', 'items-service', 'jaeger', 'prometheus'];
const PROFILE_SERVICES = ['items-service-postgres', 'migrate', 'postgres', 'redis'];
const SECRETS_DIR = '/run/secrets/';
const HARDENING = ['read_only', 'tmpfs', 'cap_drop', 'security_opt'] as const;

/** Every variable the service's configuration reads: src/config's schema, and NAME_FILE for its secrets. */
function configVariables(): Set<string> {
  const { keys } = envSchema.describe() as { keys: Record<string, unknown> };
  return new Set([...Object.keys(keys), ...SECRET_VARIABLES.map((name) => `${name}_FILE`)]);
}

const readSecretFile = (file: string) => readFileSync(file, 'utf8').replace(/\r?\n$/, '');

async function runCommand(
  command: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeout?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command[0]!, command.slice(1), { timeout: 60_000, ...options }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('docker-compose.yml, the postgres profile (docker compose --profile postgres up)', () => {
  let model: ComposeModel;
  let image: ImageSpec;
  let api: ComposeService;
  let service: ComposeService;
  let migrate: ComposeService;
  let postgres: ComposeService;
  let redis: ComposeService;

  beforeAll(async () => {
    image = readImageSpec(readDockerfile());
    model = parse((await compose(['--profile', PROFILE, 'config'])).stdout) as ComposeModel;
    api = model.services['items-service']!;
    service = model.services['items-service-postgres']!;
    migrate = model.services.migrate!;
    postgres = model.services.postgres!;
    redis = model.services.redis!;
  });

  /** The secret that compose mounts at `file` for `owner`, which must be given it. */
  function secretAt(owner: ComposeService, file: string): string {
    assert.ok(file.startsWith(SECRETS_DIR), `${file} is not where compose mounts secrets`);
    const secret = file.slice(SECRETS_DIR.length);
    assert.ok(
      owner.secrets?.some((given) => given.source === secret),
      `${file}: the service is not given ${secret}`,
    );
    assert.ok(model.secrets[secret], `no top-level secret ${secret}`);
    return secret;
  }

  /**
   * A container's environment as it starts: the image's ENV, then compose's, with each NAME_FILE pointed at
   * the file compose mounts there (the secret's file here, or a stand-in from `files`).
   */
  function containerEnv(owner: ComposeService, files: Record<string, string> = {}): Record<string, string> {
    const env: Record<string, string> = { ...image.env, ...owner.environment };
    for (const [name, value] of Object.entries(owner.environment ?? {})) {
      if (!name.endsWith('_FILE')) continue;
      const secret = secretAt(owner, value);
      env[name] = files[secret] ?? model.secrets[secret]!.file;
    }
    return env;
  }

  it('when no profile is given, then `up` starts exactly the JSON-file service, Prometheus, Grafana and Jaeger, which wait for nothing of the profile', () => {
    const unprofiled = Object.entries(model.services).filter(([, s]) => s.profiles === undefined);
    assert.deepEqual(unprofiled.map(([name]) => name).sort(), DEFAULT_SERVICES);
    for (const name of PROFILE_SERVICES) assert.deepEqual(model.services[name]?.profiles, [PROFILE], name);
    for (const [name, s] of unprofiled)
      for (const dependency of Object.keys(s.depends_on ?? {}))
        assert.ok(DEFAULT_SERVICES.includes(dependency), `${name} depends on ${dependency}, in the profile`);
    for (const variable of ['STORE_DRIVER', 'DATABASE_URL_FILE', 'RATE_LIMIT_STORE', 'REDIS_URL'])
      assert.equal(api.environment?.[variable], undefined, `the JSON-file service sets ${variable}`);
  });

  it('then postgres keeps its data in a named volume, and postgres and redis each have a health check and publish no port', () => {
    assert.match(postgres.image, /^postgres:15(\.\d+)?$/);
    assert.ok(postgres.volumes?.includes('postgres-data:/var/lib/postgresql/data:rw'), String(postgres.volumes));
    assert.ok('postgres-data' in model.volumes);
    const check = postgres.healthcheck?.test ?? [];
    assert.deepEqual(check.slice(0, 2), ['CMD', 'pg_isready']);
    // Over TCP, so that the temporary server of a first start (Unix socket only) does not count as ready.
    assert.equal(check[check.indexOf('-h') + 1], '127.0.0.1');
    assert.equal(check[check.indexOf('-U') + 1], postgres.environment?.POSTGRES_USER);
    assert.equal(check[check.indexOf('-d') + 1], postgres.environment?.POSTGRES_DB);
    assert.match(redis.image, /^redis:7(\.\d+)*$/);
    assert.deepEqual(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
    assert.equal(postgres.ports, undefined);
    assert.equal(redis.ports, undefined);
  });

  it('then the migration waits for a healthy postgres, and the service for the completed migration and a healthy redis', () => {
    assert.deepEqual(migrate.depends_on, { postgres: { condition: 'service_healthy' } });
    assert.deepEqual(service.depends_on, {
      migrate: { condition: 'service_completed_successfully' },
      redis: { condition: 'service_healthy' },
      jaeger: { condition: 'service_started' },
    });
  });

  it("then the migration runs dist/migrate.js with the image's node, as `npm run migrate` does, from the service's image, without its HTTP health check", () => {
    assert.deepEqual(migrate.entrypoint, [image.entrypoint[0], 'dist/migrate.js']);
    assert.equal(migrate.command, undefined);
    const { scripts } = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(scripts.migrate, `node ${migrate.entrypoint.slice(1).join(' ')}`);
    // Built once, by the service (from the same Dockerfile and arguments as the JSON-file service's).
    assert.deepEqual(service.build, api.build);
    assert.equal(service.image, api.image);
    assert.equal(migrate.image, service.image);
    assert.equal(migrate.build, undefined);
    assert.equal(migrate.pull_policy, 'never');
    assert.deepEqual(migrate.healthcheck?.test, ['NONE']);
    assert.equal(migrate.restart, 'no');
  });

  it('then the service and the migration run as locked down as the JSON-file service, the service with its health check, grace period, no volume and a port of its own', () => {
    for (const [name, s] of Object.entries({ 'items-service-postgres': service, migrate }))
      for (const setting of HARDENING) assert.deepEqual(s[setting], api[setting], `${name}: ${setting}`);
    assert.deepEqual(service.healthcheck?.test, api.healthcheck?.test);
    assert.equal(service.stop_grace_period, api.stop_grace_period);
    assert.equal(service.volumes, undefined);
    assert.equal(service.ports?.length, 1);
    const [address, hostPort, containerPort] = service.ports[0]!.split(':');
    assert.equal(address, '127.0.0.1');
    assert.equal(containerPort!.replace(/\/tcp$/, ''), image.env.PORT);
    assert.notEqual(hostPort, api.ports![0]!.split(':')[1], 'the same host port as the JSON-file service');
  });

  it('then every variable they set is one src/config reads, each *_FILE names a secret given to that service, no secret is in the environment, and each secret file says it is not for production', () => {
    const known = configVariables();
    for (const [name, s] of Object.entries({ 'items-service-postgres': service, migrate })) {
      for (const variable of Object.keys(s.environment ?? {}))
        assert.ok(known.has(variable), `${name}: ${variable} is not a variable of src/config`);
    }
    for (const [name, s] of Object.entries({ 'items-service-postgres': service, migrate, postgres })) {
      const environment = s.environment ?? {};
      const used = Object.entries(environment)
        .filter(([variable]) => variable.endsWith('_FILE'))
        .map(([, file]) => secretAt(s, file));
      // No secret mounted for nothing.
      assert.deepEqual(used.sort(), (s.secrets ?? []).map((given) => given.source).sort(), name);
      for (const secret of used) {
        const value = readSecretFile(model.secrets[secret]!.file);
        for (const variable of Object.values(environment))
          assert.ok(!variable.includes(value), `${name}: the ${secret} secret is in its environment`);
      }
    }
    assert.deepEqual(
      Object.keys(migrate.environment ?? {}).filter((variable) => variable.includes('API_KEYS')),
      [],
      'the migration is given API keys',
    );
    for (const [name, secret] of Object.entries(model.secrets))
      assert.match(
        readFileSync(secret.file, 'utf8'),
        /not-for-production/,
        `${name} is not marked as development only`,
      );
  });

  it("then the database URL is the postgres service's user, password and database, and the settings load as the service on PostgreSQL with its rate limits in Redis", () => {
    const databaseUrl = readSecretFile(model.secrets.database_url!.file);
    const url = new URL(databaseUrl);
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.hostname, 'postgres');
    assert.equal(url.port || '5432', '5432');
    const environment = postgres.environment ?? {};
    assert.equal(decodeURIComponent(url.username), environment.POSTGRES_USER);
    const password = readSecretFile(model.secrets[secretAt(postgres, environment.POSTGRES_PASSWORD_FILE!)]!.file);
    assert.equal(decodeURIComponent(url.password), password);
    assert.equal(url.pathname, `/${environment.POSTGRES_DB}`);

    const config = loadConfig(containerEnv(service));
    assert.equal(config.store.driver, 'postgres');
    assert.equal(config.store.database?.url, databaseUrl);
    assert.equal(config.rateLimit.store, 'redis');
    assert.ok(config.rateLimit.max > 0, 'the rate limit is off, so Redis would count nothing');
    assert.equal(new URL(config.rateLimit.redis!.url).host, 'redis:6379');
    assert.equal(config.auth.apiKeys.length, 1);
    assert.equal(new URL(service.environment!.OTEL_EXPORTER_OTLP_ENDPOINT!).host, 'jaeger:4318');
    const grace = parseDuration(service.stop_grace_period ?? '10s')!;
    assert.ok(grace >= config.shutdown.drainDelayMs + config.shutdown.timeoutMs + SHUTDOWN_MARGIN_S * 1000);

    // The migration reads the DATABASE_* settings alone (src/migrate.ts): the same database.
    assert.equal(loadDatabaseConfig(containerEnv(migrate)).url, databaseUrl);
  });

  // As the helm test runs the chart's Job and Deployment: the commands of the profile's services, with
  // their environment over the image's ENV, on this machine. What stands in for the containers' network:
  // the database URL names a database of the test's own on the local PostgreSQL, `redis` is a
  // redis-server started with the redis service's command, `jaeger` an OTLP receiver in this process.
  // Needs dist/ (npm run build), a PostgreSQL (test/support/postgres.ts) and redis-server.
  describe('its commands, run with its settings against a real PostgreSQL and Redis (not `up`: no Docker engine here)', () => {
    let database: TestDatabase;
    let files: ReturnType<typeof makeTempDir>;
    let redisServer: ChildProcess | undefined;
    let redisPort: number;
    let receiver: OtlpReceiver;
    let server: ServerProcess | undefined;
    let databaseUrlFile: string;

    /** The redis service's health check, pointed at the local port (in the container it asks its own). */
    const redisHealthy = async () => {
      const [, cli, ...args] = redis.healthcheck!.test;
      const result = await runCommand([cli!, '-h', '127.0.0.1', '-p', String(redisPort), ...args], { timeout: 5_000 });
      return result.code === 0 && result.stdout.trim() === 'PONG';
    };

    beforeAll(async () => {
      files = makeTempDir('compose-run-');
      database = await createTestDatabase();
      databaseUrlFile = path.join(files.dir, 'database_url');
      await writeFile(databaseUrlFile, `${database.url}\n`);
      receiver = await startOtlpReceiver();
      redisPort = await freePort();
      const [command, ...args] = redis.command!;
      redisServer = spawn(command!, [...args, '--port', String(redisPort), '--bind', '127.0.0.1'], {
        stdio: 'ignore',
      });
      await once(redisServer, 'spawn');
      // Waited for as compose does before it starts the service: until its health check passes.
      const deadline = performance.now() + 10_000;
      while (!(await redisHealthy())) {
        assert.equal(redisServer.exitCode, null, 'redis-server exited');
        assert.ok(performance.now() < deadline, 'redis-server not healthy in 10 s');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    });
    afterAll(async () => {
      await server?.stop('SIGKILL');
      if (redisServer && redisServer.exitCode === null && redisServer.signalCode === null) {
        const exited = once(redisServer, 'exit');
        redisServer.kill('SIGKILL');
        await exited;
      }
      await receiver?.close();
      await database?.drop();
      files?.remove();
    });

    it("when the postgres service's health check runs against the server, then it passes", async () => {
      const [, command, ...args] = postgres.healthcheck!.test;
      const local = new URL(await postgresServerUrl());
      // The container asks its own server over TCP; here that is the test server's address.
      args[args.indexOf('-h') + 1] = local.hostname;
      const result = await runCommand([command!, ...args], {
        env: { PATH: process.env.PATH, PGPORT: local.port || '5432', PGCONNECT_TIMEOUT: '5' },
      });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /accepting connections/);
    });

    it("when the migrate service's command runs with its environment, then it applies the migrations, and run again it finds nothing to do", async () => {
      const env = containerEnv(migrate, { database_url: databaseUrlFile });
      // The image's WORKDIR is the project's root; run from an empty directory (no developer's .env).
      const command = [process.execPath, ...migrate.entrypoint!.slice(1).map((arg) => path.join(PROJECT_ROOT, arg))];
      const first = await runCommand(command, { cwd: files.dir, env: { PATH: process.env.PATH, ...env } });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /^migration \S+: applied$/m);
      assert.match(first.stdout, /^applied \d+$/m);
      assert.ok(!(first.stdout + first.stderr).includes(database.url), 'the migration printed the URL');
      // `docker compose --profile postgres up` again, or `run --rm migrate`: nothing left to apply.
      const second = await runCommand(command, { cwd: files.dir, env: { PATH: process.env.PATH, ...env } });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /schema up to date; nothing to apply/);
    });

    it('when the service then starts with its environment, then it is ready on the migrated database, its writes are rows there, its budgets are counted in Redis, and its traces are exported', async () => {
      const env = containerEnv(service, { database_url: databaseUrlFile });
      // Compose's service names, as this machine reaches what stands in for them.
      const standIns: Record<string, string> = {
        redis: `127.0.0.1:${redisPort}`,
        jaeger: new URL(receiver.endpoint).host,
      };
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        if (!URL.canParse(value)) continue;
        const url = new URL(value);
        if (!(url.hostname in model.services)) continue;
        assert.ok(standIns[url.hostname], `${variable} names the service ${url.hostname}, which has no stand-in here`);
        url.host = standIns[url.hostname]!;
        env[variable] = url.toString().replace(/\/$/, '');
      }
      const config = loadConfig(env);
      server = await startServer(
        {
          ...env,
          // On loopback and a free port rather than the container's 8080. The helper turns the rate limit
          // off unless told: the profile leaves it at the service's default, so that Redis counts.
          HOST: '127.0.0.1',
          PORT: '0',
          RATE_LIMIT_MAX: String(config.rateLimit.max),
        },
        30_000,
      );

      const ready = await jsonRequest(`${server.url}/readyz`, 'GET');
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      const key = readSecretFile(model.secrets.api_keys!.file);
      const created = await jsonRequest(
        `${server.url}/items`,
        'POST',
        { name: 'through compose' },
        { authorization: `Bearer ${key}` },
      );
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = (created.body as { id: string }).id;
      const read = await jsonRequest(`${server.url}/items/${id}`, 'GET', undefined, { authorization: `Bearer ${key}` });
      assert.equal(read.status, 200);
      assert.equal(read.headers.get('ratelimit-limit'), String(config.rateLimit.max));

      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string }>('select id from items where id = $1', [id]);
        assert.deepEqual(
          rows.map((row) => row.id),
          [id],
        );
      } finally {
        await client.end();
      }
      const counter = new Redis(`redis://127.0.0.1:${redisPort}`, { maxRetriesPerRequest: 1 });
      try {
        const keys = await counter.keys(`${config.rateLimit.redis!.keyPrefix}*`);
        assert.ok(keys.length > 0, 'no rate-limit key in Redis');
      } finally {
        counter.disconnect();
      }

      // SIGTERM, as `docker compose down` sends it: the service flushes its spans on the way out.
      assert.equal(await server.stop(), 0, server.stderr());
      server = undefined;
      assert.ok(
        receiver.spans.some((span) => span.resource['service.name'] === env.OTEL_SERVICE_NAME),
        `no span of ${env.OTEL_SERVICE_NAME} reached the stand-in for jaeger`,
      );
    });
  });
});
