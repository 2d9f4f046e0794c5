import assert from './support/assert.js';
import { execFile } from 'node:child_process';
import { chown, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { promisify } from 'node:util';
import dockerignoreModule from '@balena/dockerignore';
import { validate } from 'dockerfile-utils';
import { startProdNodeFlags } from '../scripts/start-flags.js';
import { logLines } from './support/logs.js';
import { freePort } from './support/ports.js';
import { parseExposition } from './support/prometheus.js';
import { type ImageSpec, readDockerfile, readImageSpec } from './support/dockerfile.js';
import {
  addMountPoints,
  assembleRootfs,
  runInSandbox,
  type SandboxRun,
  startInSandbox,
} from './support/image-sandbox.js';
import { PROJECT_ROOT } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitFor } from './support/timing.js';

// A CommonJS module whose default export TypeScript sees one level down.
const dockerignore = dockerignoreModule.default;
const run = promisify(execFile);
const KEY = 'image-smoke-key-0123456789';
const BUILD_ARGS = { VERSION: '1.2.3-rc.1', COMMIT: 'abc1234' };

describe('Dockerfile', () => {
  let dockerfile: string;
  let spec: ImageSpec;

  beforeAll(() => {
    dockerfile = readDockerfile();
    spec = readImageSpec(dockerfile, BUILD_ARGS);
  });

  it('when linted with dockerfile-utils, then it has 0 errors and 0 warnings, and a broken one is caught', () => {
    assert.deepEqual(
      validate(dockerfile).map((d) => [d.range.start.line + 1, d.message]),
      [],
    );
    const broken = dockerfile.replace('EXPOSE 8080', 'EXPOSE http').replace(/^USER .*$/m, 'USER');
    // Severity 1 is an error (the Language Server Protocol's numbering).
    assert.deepEqual(
      validate(broken)
        .map((d) => [d.severity, d.message])
        .sort(),
      [
        [1, 'Instruction has no arguments'],
        [1, 'Invalid containerPort: http'],
      ],
    );
  });

  it('then it builds on node:24-bookworm-slim and runs on distroless Node 24 as a numeric non-root user', () => {
    assert.equal(spec.baseImages[0]!.image, 'node:24-bookworm-slim');
    assert.match(spec.baseImages.at(-1)!.image, /^gcr\.io\/distroless\/nodejs24-debian\d+(:|@|$)/);
    assert.match(spec.user, /^\d+:\d+$/, 'numeric, so that runAsNonRoot can check it');
    assert.notEqual(spec.user.split(':')[0], '0');
    assert.equal(spec.env.NODE_ENV, 'production');
  });

  it('then the store lives in the /data volume', () => {
    assert.equal(spec.env.DB_PATH, '/data/items.json');
    assert.deepEqual(spec.volumes, ['/data']);
    const data = spec.copies.find((copy) => copy.destination === '/data');
    assert.equal(data?.chown, spec.user, 'a new volume copies the owner of the directory it is mounted on');
  });

  it('then Node runs dist/main.js directly, with the flags of npm run start:prod, so signals reach it', () => {
    assert.deepEqual(spec.entrypoint, ['/nodejs/bin/node', ...startProdNodeFlags(PROJECT_ROOT), 'dist/main.js']);
    assert.equal(spec.workdir, '/app');
  });

  it('then the build args VERSION and COMMIT are baked in as BUILD_VERSION and BUILD_COMMIT', () => {
    assert.equal(spec.env.BUILD_VERSION, '1.2.3-rc.1');
    assert.equal(spec.env.BUILD_COMMIT, 'abc1234');
    const unset = readImageSpec(dockerfile);
    assert.equal(unset.env.BUILD_VERSION, '', "empty means package.json's version");
    assert.equal(unset.env.BUILD_COMMIT, '', 'empty means unknown');
  });

  it('then .dockerignore keeps the context to what the build stage copies', async () => {
    const rules = dockerignore().add(await readFile(path.join(PROJECT_ROOT, '.dockerignore'), 'utf8'));
    const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
      cwd: PROJECT_ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
    const files = stdout.split('\n').filter(Boolean);
    const context = rules.filter(files);
    // Untracked, ignored by git, and large: each must stay out of the context too.
    for (const file of ['node_modules/typescript/package.json', 'dist/main.js', 'build/src/main.js', '.git/HEAD'])
      assert.ok(rules.ignores(file), `${file} is in the context`);
    // Exactly what the build copies: every source is there, and nothing else is.
    const copied = (file: string) =>
      spec.contextSources.some((source) => file === source || file.startsWith(`${source.replace(/\/$/, '')}/`));
    for (const source of spec.contextSources)
      assert.ok(context.includes(source) || context.some(copied), `${source} is copied but not in the context`);
    assert.deepEqual(
      context.filter((file) => !copied(file)),
      [],
    );
    assert.deepEqual(
      context.filter((file) => file.endsWith('.spec.ts')),
      [],
    );
    let bytes = 0;
    for (const file of context) bytes += (await stat(path.join(PROJECT_ROOT, file))).size;
    assert.ok(bytes < 2 * 1024 * 1024, `context is ${bytes} bytes`);
  });

  describe('when the production bundle runs as the image runs it (uid 65534, read-only root, /data and /tmp writable)', () => {
    const temp = makeTempDir('items-image-');
    const volume = makeTempDir('items-volume-');
    let rootfs: string;
    let options: SandboxRun;

    beforeAll(async () => {
      rootfs = await assembleRootfs(spec, path.join(temp.dir, 'image'));
      const [uid, gid] = spec.user.split(':').map(Number);
      await chown(volume.dir, uid!, gid!);
      const keyFile = path.join(temp.dir, 'api-keys');
      await writeFile(keyFile, `${KEY}\n`, { mode: 0o644 });
      await addMountPoints(rootfs, ['/run/secrets/api-keys']);
      options = {
        volumes: { '/data': volume.dir },
        files: { '/run/secrets/api-keys': keyFile },
        env: { PORT: String(await freePort()), API_KEYS_FILE: '/run/secrets/api-keys' },
      };
    });
    afterAll(() => {
      temp.remove();
      volume.remove();
    });

    it('then without API keys it refuses to start in prod (the image sets APP_ENV=prod), naming API_KEYS', async () => {
      const result = await runInSandbox(spec, rootfs, { ...options, files: {}, env: { PORT: '0' } });
      assert.equal(result.code, 78);
      assert.match(result.stderr, /API_KEYS \(or API_KEYS_FILE\) must be set when APP_ENV=prod/);
    });

    it('then it serves, stops on SIGTERM, keeps its data across a restart, and the health check follows it', async () => {
      let itemId: string | undefined;
      let createdItem: unknown;
      const server = await startInSandbox(spec, rootfs, options);
      try {
        const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
        assert.match(status, /^Uid:\t65534\t65534\t65534\t65534$/m);
        assert.match(status, /^Gid:\t65534\t65534\t65534\t65534$/m);
        const cmdline = (await readFile(`/proc/${server.pid}/cmdline`, 'utf8')).split('\0').slice(0, -1);
        assert.deepEqual(cmdline, spec.entrypoint, 'the signalled pid is Node itself, started as the entrypoint says');
        const mounts = await mountOptions(server.pid);
        assert.equal(mounts.get('/')?.[0], 'ro', 'root file system read-only');
        assert.equal(mounts.get('/data')?.[0], 'rw');
        assert.equal(mounts.get('/tmp')?.[0], 'rw');

        const created = await fetch(`${server.url}/items`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'packed' }),
        });
        assert.equal(created.status, 201);
        const item = (await created.json()) as { id: string; name: string; version: number };
        itemId = item.id;
        createdItem = item;
        const read = await fetch(`${server.url}/items/${item.id}`);
        assert.equal(read.status, 200);
        assert.deepEqual(await read.json(), item);

        const exposition = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
        const buildInfo = exposition.samples.find((sample) => sample.name === 'items_service_build_info');
        assert.equal(buildInfo?.labels.version, '1.2.3-rc.1');
        assert.equal(buildInfo?.labels.commit, 'abc1234');

        const healthy = await runInSandbox(spec, rootfs, { ...options, command: spec.healthcheck });
        assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);

        const stopped = server.stop('SIGTERM');
        // Draining (SHUTDOWN_DRAIN_DELAY, 5 s by default): the server still answers, /readyz with 503.
        await waitFor(() => logLines(server.stdout()).some((line) => line.msg === 'shutting down'), 'shutting down');
        const draining = await runInSandbox(spec, rootfs, { ...options, command: spec.healthcheck });
        assert.deepEqual([draining.code, /: 503$/m.test(draining.stdout)], [1, true], draining.stdout);
        assert.equal(await stopped, 0);
        assert.ok(logLines(server.stdout()).some((line) => line.msg === 'shutdown complete'));
        assert.deepEqual(
          logLines(server.stdout()).filter((line) => line.level >= 40),
          [],
          'no warning or error: nothing tried to write outside /data and /tmp',
        );
        assert.equal(server.stderr(), '');
        assert.equal((await stat(path.join(volume.dir, 'items.json'))).uid, 65534);
      } finally {
        await server.stop('SIGKILL');
      }

      const unhealthy = await runInSandbox(spec, rootfs, { ...options, command: spec.healthcheck });
      assert.equal(unhealthy.code, 1);

      const restarted = await startInSandbox(spec, rootfs, options);
      try {
        const again = await fetch(`${restarted.url}/items/${itemId}`);
        assert.equal(again.status, 200);
        assert.deepEqual(await again.json(), createdItem);
        const page = (await (await fetch(`${restarted.url}/items?limit=10`)).json()) as { items: unknown[] };
        assert.deepEqual(page.items, [createdItem], 'nothing else in the store');
      } finally {
        await restarted.stop('SIGKILL'); // SIGTERM was shown above; this saves the drain delay
      }
    });
  });
});

/** Mount point → its options (`ro`/`rw` first), as the process sees them. */
async function mountOptions(pid: number): Promise<Map<string, string[]>> {
  const mounts = new Map<string, string[]>();
  for (const line of (await readFile(`/proc/${pid}/mountinfo`, 'utf8')).split('\n').filter(Boolean)) {
    const fields = line.split(' ');
    mounts.set(fields[4]!, fields[5]!.split(','));
  }
  return mounts;
}
