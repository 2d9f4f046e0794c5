/**
 * The side-by-side benchmark (bench/README.md): starts each target pinned to one core, drives it with
 * wrk pinned to the other, and prints medians and ratios. `npm run bench`; options:
 *   --reps N        measured repetitions per target and workload (default 3, at least 3 for the goals)
 *   --duration S    seconds per measurement (default 10); --warmup S (default 3)
 *   --connections N wrk connections (default 50)
 *   --items N       items in the store (default 1000)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RESULTS = path.join(ROOT, 'bench/results');

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    items: { type: 'string', default: '1000' },
  },
});
const REPS = Number(args.reps);
const DURATION_S = Number(args.duration);
const WARMUP_S = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const ITEMS = Number(args.items);

/** The load generator and this process on one core, every server on the other. */
const LOAD_CPU = '0';
const SERVER_CPU = cpus().length > 1 ? '1' : '0';

interface Measurement {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

interface RunningTarget {
  name: string;
  url: string;
  itemId: string;
  pid: number;
  stop: () => Promise<void>;
}

async function main(): Promise<void> {
  requireTool('wrk', 'apt-get install wrk');
  requireTool('taskset', 'apt-get install util-linux');
  if (!existsSync(path.join(ROOT, 'dist/main.js'))) throw new Error('dist/main.js missing: npm run build first');
  const sink = await startOtlpSink();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'items-bench-'));
  const targets: RunningTarget[] = [];
  try {
    targets.push(await startBaseline());
    targets.push(
      await startService('service, observability off', path.join(dataDir, 'off'), {
        LOG_LEVEL: 'warn',
        METRICS_ENABLED: 'false',
      }),
    );
    targets.push(
      await startService('service, full observability', path.join(dataDir, 'full'), {
        LOG_LEVEL: 'info',
        METRICS_ENABLED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
      }),
    );

    const workload = 'GET /items/{id}';
    const results: Record<string, Measurement[]> = Object.fromEntries(targets.map((target) => [target.name, []]));
    for (let rep = 0; rep < REPS; rep++) {
      // A different order each round, so that no target always runs first (or right after another).
      const order = targets.map((_, index) => targets[(index + rep) % targets.length]!);
      for (const target of order) {
        const url = `${target.url}/items/${target.itemId}`;
        await wrk(url, WARMUP_S);
        const measurement = await wrk(url, DURATION_S);
        results[target.name]!.push(measurement);
        log(`rep ${rep + 1}/${REPS} ${target.name}: ${Math.round(measurement.requestsPerSecond)} req/s`);
        if (measurement.non2xx > 0 || measurement.errors > 0)
          throw new Error(`${target.name}: ${measurement.non2xx} non-2xx, ${measurement.errors} socket errors`);
      }
    }

    const rows = targets.map((target) => summarize(target.name, results[target.name]!));
    const [baseline, off, full] = rows as [Row, Row, Row];
    const ratios = {
      'service off / bare Fastify (goal >= 0.60)': off.requestsPerSecond / baseline.requestsPerSecond,
      'service full / service off (goal >= 0.50)': full.requestsPerSecond / off.requestsPerSecond,
    };
    printTable(workload, rows);
    for (const [name, ratio] of Object.entries(ratios)) print(`${name}: ${ratio.toFixed(2)}`);
    print(`OTLP sink: ${sink.requests} export requests, ${sink.bytes} bytes`);

    const report = {
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      settings: { reps: REPS, durationS: DURATION_S, warmupS: WARMUP_S, connections: CONNECTIONS, items: ITEMS },
      workloads: { [workload]: rows },
      ratios,
    };
    compareWithLast(report.workloads);
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    log(`results written to bench/results/latest.json`);
  } finally {
    for (const target of targets) await target.stop();
    await sink.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface Row {
  target: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  runs: number[];
}

function summarize(target: string, measurements: Measurement[]): Row {
  return {
    target,
    requestsPerSecond: median(measurements.map((m) => m.requestsPerSecond)),
    p50Ms: median(measurements.map((m) => m.p50Ms)),
    p99Ms: median(measurements.map((m) => m.p99Ms)),
    runs: measurements.map((m) => Math.round(m.requestsPerSecond)),
  };
}

function printTable(workload: string, rows: Row[]): void {
  print(`\n${workload}, ${CONNECTIONS} connections, median of ${REPS} x ${DURATION_S} s`);
  print(`${'target'.padEnd(32)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}  runs`);
  for (const row of rows)
    print(
      `${row.target.padEnd(32)} ${Math.round(row.requestsPerSecond).toString().padStart(9)} ` +
        `${row.p50Ms.toFixed(2).padStart(8)} ${row.p99Ms.toFixed(2).padStart(8)}  ${row.runs.join(', ')}`,
    );
}

/** Prints each median against the last run's, so that a change shows its cost. */
function compareWithLast(workloads: Record<string, Row[]>): void {
  const file = path.join(RESULTS, 'latest.json');
  if (!existsSync(file)) return;
  const last = JSON.parse(readFileSync(file, 'utf8')) as { commit: string; workloads: Record<string, Row[]> };
  print(`\nagainst the last run (${last.commit}):`);
  for (const [workload, rows] of Object.entries(workloads))
    for (const row of rows) {
      const before = last.workloads[workload]?.find((candidate) => candidate.target === row.target);
      if (!before) continue;
      const change = (row.requestsPerSecond / before.requestsPerSecond - 1) * 100;
      print(`  ${workload} ${row.target}: ${change >= 0 ? '+' : ''}${change.toFixed(1)}% req/s`);
    }
}

async function startBaseline(): Promise<RunningTarget> {
  const port = await freePort();
  const child = spawnPinned([path.join(ROOT, 'build/bench/baseline-fastify.js')], { PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child);
  return {
    name: 'bare Fastify (baseline)',
    url,
    itemId: '00000000-0000-4000-8000-000000000000',
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

async function startService(name: string, dataDir: string, env: Record<string, string>): Promise<RunningTarget> {
  const port = await freePort();
  mkdirSync(dataDir, { recursive: true });
  const child = spawnPinned([path.join(ROOT, 'dist/main.js')], {
    PORT: String(port),
    DB_PATH: path.join(dataDir, 'items.json'),
    SHUTDOWN_DRAIN_DELAY: '0',
    NODE_ENV: 'production',
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child);
  const itemId = await seed(url, ITEMS);
  return { name, url, itemId, pid: child.pid!, stop: () => stopChild(child) };
}

/**
 * The server on its own core; its stdout (the request lines, when logging is on) goes to /dev/null:
 * serialized and written like in production, without a reader competing with wrk for its core.
 */
function spawnPinned(args: string[], env: Record<string, string>): ChildProcess {
  const devNull = openSync('/dev/null', 'w');
  const child = spawn('taskset', ['-c', SERVER_CPU, process.execPath, ...args], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', ...env },
    stdio: ['ignore', devNull, 'inherit'],
  });
  closeSync(devNull);
  return child;
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: exited with ${child.exitCode} before ready`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} not ready in 30 s`);
}

/** Creates `count` items through the API, 50 at a time; returns the id of one of them. */
async function seed(url: string, count: number): Promise<string> {
  let next = 0;
  let firstId = '';
  const worker = async () => {
    while (next < count) {
      const n = next++;
      const response = await fetch(`${url}/items`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `benchmark item ${n}` }),
      });
      if (response.status !== 201) throw new Error(`seeding: ${response.status} ${await response.text()}`);
      const { id } = (await response.json()) as { id: string };
      if (n === 0) firstId = id;
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return firstId;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

async function wrk(url: string, seconds: number): Promise<Measurement> {
  const child = spawn(
    'taskset',
    ['-c', LOAD_CPU, 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', url],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${output}`);
  return parseWrk(output);
}

/** wrk's text report: "Requests/sec:", the latency distribution, and its error lines. */
export function parseWrk(output: string): Measurement {
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
  if (!rate) throw new Error(`unexpected wrk output:\n${output}`);
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)\\b`, 'm').exec(output);
    if (!match) throw new Error(`no ${p}% latency in wrk output:\n${output}`);
    const scale = { us: 0.001, ms: 1, s: 1000 }[match[2] as 'us' | 'ms' | 's'];
    return Number(match[1]) * scale;
  };
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSecond: Number(rate[1]),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    errors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** A local OTLP/HTTP endpoint that accepts every export, as a collector on the same host would. */
async function startOtlpSink() {
  const state = { requests: 0, bytes: 0 };
  const server: Server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (state.bytes += chunk.length));
    request.on('end', () => {
      state.requests++;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return state.requests;
    },
    get bytes() {
      return state.bytes;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function freePort(): Promise<number> {
  const server = createNetServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function requireTool(tool: string, install: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${tool} is missing: ${install} (npm run bench installs it when it can)`);
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** The report, on stdout. */
function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Progress, on stderr. */
function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

await main();
