import { execFile, spawn } from 'node:child_process';
import { chmod, chown, cp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ImageSpec } from './dockerfile.js';
import {
  collectOutput,
  type ExitedProcess,
  PROJECT_ROOT,
  type ServerProcess,
  whenExited,
  whenListening,
} from './server-process.js';

const run = promisify(execFile);

/**
 * The image's file system, assembled as the Dockerfile's build stage would leave it and as its runtime
 * stage copies it, without Docker (no engine runs here): the build stage's `/app` is package.json, the
 * production dependencies (`npm ci --omit=dev`, what `npm prune --omit=dev` keeps) and the project's
 * `dist/` (`npm run build`, already run by `npm test`); its `/data` is an empty directory.
 */
export async function assembleRootfs(spec: ImageSpec, dir: string): Promise<string> {
  const buildStage = path.join(dir, 'build-stage');
  const rootfs = path.join(dir, 'rootfs');
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(buildStage, 'app'), { recursive: true });
  await mkdir(path.join(buildStage, 'data'));
  for (const file of ['package.json', 'package-lock.json'])
    await cp(path.join(PROJECT_ROOT, file), path.join(buildStage, 'app', file));
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: path.join(buildStage, 'app'),
    maxBuffer: 16 * 1024 * 1024,
  });
  await cp(path.join(PROJECT_ROOT, 'dist'), path.join(buildStage, 'app', 'dist'), { recursive: true });

  // The distroless base: its Node at /nodejs/bin/node (bind-mounted from the project's Node 24 at run
  // time), the system's libraries and /etc (read-only), and empty mount points.
  for (const mountPoint of ['usr', 'etc', 'dev', 'proc', 'tmp', 'run/secrets', 'nodejs/bin'])
    await mkdir(path.join(rootfs, mountPoint), { recursive: true });
  await writeFile(path.join(rootfs, 'nodejs/bin/node'), '');
  for (const link of ['bin', 'lib', 'lib64', 'sbin']) await symlink(`usr/${link}`, path.join(rootfs, link));
  await chmod(path.join(rootfs, 'tmp'), 0o1777);

  for (const copy of spec.copies) {
    if (copy.from !== 'build') throw new Error(`COPY --from=${copy.from} is not emulated`);
    const target = path.join(rootfs, copy.destination);
    await mkdir(path.dirname(target), { recursive: true });
    await cp(path.join(buildStage, copy.source), target, { recursive: true });
    if (copy.chown) {
      const [uid, gid] = copy.chown.split(':').map(Number);
      await chown(target, uid!, gid!);
    }
  }
  await mkdir(path.join(rootfs, spec.workdir), { recursive: true });
  return rootfs;
}

export interface SandboxRun {
  /** Bind-mounted read-write at each of the image's VOLUMEs: host directory by container path. */
  volumes: Record<string, string>;
  /** Files bind-mounted read-only, as Kubernetes and compose mount secrets: host file by container path. */
  files?: Record<string, string>;
  /** `docker run -e`: on top of the image's ENV. */
  env?: Record<string, string>;
  /** The command; the image's ENTRYPOINT when not given. */
  command?: string[];
}

/**
 * Spawns a process as the image would run it: in its own mount namespace (`unshare -m`), chrooted into
 * the assembled file system remounted read-only, with only the volumes and a fresh /tmp writable, as the
 * image's USER (a numeric uid), in its WORKDIR, with its ENV and nothing else. The process keeps the pid
 * spawn reports (every step execs), so a signal sent to it reaches Node itself, as `docker stop`'s does.
 * Looser than the image in two ways: Node is not PID 1 (no PID namespace), and the host's /usr and /etc
 * stand in for distroless' (which has no shell), so a stray call to a system binary would pass here.
 */
export function spawnInSandbox(spec: ImageSpec, rootfs: string, options: SandboxRun) {
  const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;
  const lines = [
    'set -eu',
    'mount --make-rprivate /',
    `mount --bind ${quote(rootfs)} ${quote(rootfs)}`,
    `mount -o remount,bind,ro ${quote(rootfs)}`,
    `for dir in usr etc; do mount --rbind /$dir ${quote(rootfs)}/$dir; mount -o remount,bind,ro ${quote(rootfs)}/$dir; done`,
    `mount --rbind /dev ${quote(rootfs)}/dev`,
    `mount -t proc proc ${quote(rootfs)}/proc`,
    `mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs ${quote(rootfs)}/tmp`,
    `mount --bind ${quote(process.execPath)} ${quote(rootfs)}/nodejs/bin/node`,
    `mount -o remount,bind,ro ${quote(rootfs)}/nodejs/bin/node`,
  ];
  for (const [target, source] of Object.entries(options.volumes))
    lines.push(`mount --bind ${quote(source)} ${quote(path.join(rootfs, target))}`);
  for (const [target, source] of Object.entries(options.files ?? {})) {
    lines.push(`mount --bind ${quote(source)} ${quote(path.join(rootfs, target))}`);
    lines.push(`mount -o remount,bind,ro ${quote(path.join(rootfs, target))}`);
  }
  const env = { ...spec.env, ...options.env };
  const command = options.command ?? spec.entrypoint;
  lines.push(
    [
      'exec chroot',
      `--userspec=${spec.user}`,
      '--groups=',
      quote(rootfs),
      '/usr/bin/env -i',
      `-C ${quote(spec.workdir)}`,
      ...Object.entries(env).map(([name, value]) => quote(`${name}=${value}`)),
      ...command.map(quote),
    ].join(' '),
  );
  return spawn('unshare', ['-m', '--', 'sh', '-c', lines.join('\n')], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Prepares the mount points that `files` needs inside a read-only root: they must exist beforehand. */
export async function addMountPoints(rootfs: string, files: string[]): Promise<void> {
  for (const file of files) {
    await mkdir(path.dirname(path.join(rootfs, file)), { recursive: true });
    await writeFile(path.join(rootfs, file), '');
  }
}

/** Starts the image's entrypoint in the sandbox and waits for its "listening" line. */
export function startInSandbox(
  spec: ImageSpec,
  rootfs: string,
  options: SandboxRun,
  timeoutMs = 20_000,
): Promise<ServerProcess> {
  return whenListening(collectOutput(spawnInSandbox(spec, rootfs, options)), timeoutMs);
}

/** Runs a command in the sandbox to its end. */
export function runInSandbox(spec: ImageSpec, rootfs: string, options: SandboxRun): Promise<ExitedProcess> {
  return whenExited(collectOutput(spawnInSandbox(spec, rootfs, options)), 20_000);
}
