import assert from './support/assert.js';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/app-config.js';
import { parseDuration } from '../src/config/duration.js';
import { type ImageSpec, readDockerfile, readImageSpec } from './support/dockerfile.js';
import { PROMTOOL_BIN } from './support/prometheus.js';
import { PROJECT_ROOT } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const run = promisify(execFile);
const COMPOSE_FILE = path.join(PROJECT_ROOT, 'docker-compose.yml');
const SHUTDOWN_MARGIN_S = 5;

interface ComposeService {
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  image: string;
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

  it('then every published port is bound to loopback only', () => {
    const published = Object.values(model.services).flatMap((service) => service.ports ?? []);
    assert.deepEqual(
      published.map((port) => port.split(':')[0]),
      ['127.0.0.1', '127.0.0.1', '127.0.0.1'],
    );
  });
});
