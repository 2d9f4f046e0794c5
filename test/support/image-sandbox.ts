import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { PROJECT_ROOT } from './server-process.js';

const run = promisify(execFile);

/** What the Dockerfile's runtime stage says about how the image runs, read from the Dockerfile itself. */
export interface ImageSpec {
  baseImages: { stage: string | null; image: string }[];
  args: Map<string, string>;
  env: Record<string, string>;
  user: string;
  workdir: string;
  volumes: string[];
  entrypoint: string[];
  healthcheck: string[];
  /** `COPY --from=<stage> <source> <destination>` of the runtime stage, with their `--chown`. */
  copies: { from: string; source: string; destination: string; chown?: string }[];
}

/** Reads the last stage of the Dockerfile, substituting `buildArgs` (and the ARG defaults) into ENV. */
export function readImageSpec(dockerfile: string, buildArgs: Record<string, string> = {}): ImageSpec {
  const parsed = DockerfileParser.parse(dockerfile);
  const froms = parsed.getFROMs();
  const baseImages = froms.map((from) => ({ stage: from.getBuildStage(), image: from.getImage() ?? '' }));
  const lastFrom = froms.at(-1);
  if (!lastFrom) throw new Error('Dockerfile has no FROM');
  const runtime = parsed.getInstructions().filter((i) => i.getRange().start.line > lastFrom.getRange().start.line);
  const spec: ImageSpec = {
    baseImages,
    args: new Map(),
    env: {},
    user: 'root',
    workdir: '/',
    volumes: [],
    entrypoint: [],
    healthcheck: [],
    copies: [],
  };
  const substitute = (value: string) =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced?: string, bare?: string) => spec.args.get(braced ?? bare!) ?? '');
  for (const instruction of runtime) {
    const keyword = instruction.getKeyword();
    const args = instruction.getArguments().map((argument) => argument.getValue());
    if (keyword === 'ARG') {
      const [name = '', fallback = ''] = args[0]!.split('=');
      spec.args.set(name, buildArgs[name] ?? unquote(fallback));
    } else if (keyword === 'ENV') {
      for (const property of (instruction as unknown as { getProperties(): PropertyLike[] }).getProperties())
        spec.env[property.getName()] = substitute(unquote(property.getValue() ?? ''));
    } else if (keyword === 'USER') spec.user = args[0]!;
    else if (keyword === 'WORKDIR') spec.workdir = path.posix.resolve(spec.workdir, args[0]!);
    else if (keyword === 'VOLUME') spec.volumes.push(...jsonStrings(instruction));
    else if (keyword === 'ENTRYPOINT') spec.entrypoint = jsonStrings(instruction);
    else if (keyword === 'HEALTHCHECK') spec.healthcheck = jsonStrings(instruction);
    else if (keyword === 'COPY') {
      const flags = new Map(
        (instruction as unknown as { getFlags(): FlagLike[] }).getFlags().map((f) => [f.getName(), f.getValue()]),
      );
      const paths = args.filter((arg) => !arg.startsWith('--'));
      spec.copies.push({
        from: flags.get('from') ?? '',
        source: paths[0]!,
        // Into the directory when the destination ends with a slash, as Docker does.
        destination: path.posix.resolve(
          spec.workdir,
          paths[1]!.endsWith('/') ? path.posix.join(paths[1]!, path.posix.basename(paths[0]!)) : paths[1]!,
        ),
        ...(flags.get('chown') ? { chown: flags.get('chown')! } : {}),
      });
    }
  }
  return spec;
}

interface PropertyLike {
  getName(): string;
  getValue(): string | null;
}
interface FlagLike {
  getName(): string;
  getValue(): string | null;
}

function unquote(value: string): string {
  return /^".*"$/.test(value) ? value.slice(1, -1) : value;
}

/** The exec form's array (`["a", "b"]`), after any `--flag`s and, for HEALTHCHECK, `CMD`. */
function jsonStrings(instruction: Instruction): string[] {
  const content = (instruction.getArgumentsContent() ?? '').replace(/\\\r?\n/g, ' ');
  const array = /\[.*\]\s*$/s.exec(content);
  if (!array) throw new Error(`${instruction.getKeyword()} is not in exec form: ${content}`);
  return JSON.parse(array[0]) as string[];
}

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
  for (const link of ['bin', 'lib', 'lib64', 'sbin'])
    await run('ln', ['-s', `usr/${link}`, path.join(rootfs, link)]).catch(() => undefined);
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
 * spawn reports (every step execs), so a signal sent to it reaches Node as it would as PID 1.
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

export interface SandboxedServer {
  pid: number;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | string>;
}

/** Starts the image's entrypoint in the sandbox and waits for its "listening" line. */
export async function startInSandbox(
  spec: ImageSpec,
  rootfs: string,
  options: SandboxRun,
  timeoutMs = 20_000,
): Promise<SandboxedServer> {
  const child = spawnInSandbox(spec, rootfs, options);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not listening in ${timeoutMs} ms:\n${stdout}\n${stderr}`)),
      timeoutMs,
    );
    const check = () => {
      const match = /"msg":"listening","address":"[^"]*:(\d+)"/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before listening:\n${stdout}\n${stderr}`));
    });
  });
  return { pid: child.pid!, url: `http://127.0.0.1:${port}`, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs a command in the sandbox to its end. */
export async function runInSandbox(
  spec: ImageSpec,
  rootfs: string,
  options: SandboxRun,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawnInSandbox(spec, rootfs, options);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  return { code: code ?? signal ?? 'unknown', stdout, stderr };
}

/** The Dockerfile's text. */
export function readDockerfile(): Promise<string> {
  return readFile(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
}
