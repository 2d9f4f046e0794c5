/**
 * The side-by-side benchmark (bench/README.md): starts each target pinned to one core, drives it with
 * wrk pinned to the other, and prints medians and the ratios the performance issue sets as goals.
 * `npm run bench`; options:
 *   --reps N         measured repetitions of every cell (default 3, at least 3 for the goals)
 *   --duration S     seconds per measurement (default 8); --warmup S (default 2)
 *   --connections N  wrk connections (default 50)
 *   --sizes A,B      store sizes in items (default 1000,100000): the first is "small", the last "large"
 *   --targets LIST   baseline,nest,template,off,full,nolimit (the default), and pg: the service on PostgreSQL
 *                    (not in the default list: it adds minutes; needs a PostgreSQL, see test/support/postgres.ts),
 *                    and limit: the service (observability off) once per --rate-limits value, many clients
 *   --scale N        after the rounds, the service with full observability at N items (default 1000000;
 *                    0 skips it): cold start, RSS, reads, and GETs while a compaction runs
 *   --rate-limits L  for the limit targets, RATE_LIMIT_MAX per minute (default 0,1000,100000,10000000; 0 is off)
 *   --workloads LIST get,list,post (default all)
 *   --pairs N        the limiter on / off in N pairs of alternating bursts, both servers up (default 16; 0 skips
 *                    it; needs the targets off and nolimit); --burst S seconds per burst (default 2)
 *   --profile DIR    every server writes a CPU profile (node --cpu-prof) to DIR/<target>-<items>-<round>/,
 *                    summarized at the end (bench/cpu-profile.ts); with --workloads get, a profile of GET by id
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import type { Item } from '../src/items/item.js';
import { FIRST_ITEM_ID } from './baseline-items.js';
import { formatCpuProfileSummary, summarizeCpuProfile } from './cpu-profile.js';
import { writeSnapshot } from '../src/items/json-file/snapshot-writer.js';
import { StoreFiles } from '../src/items/json-file/store-files.js';
import { journalLine } from '../src/items/json-file/store-format.js';
import { startProdNodeFlags } from '../scripts/start-flags.js';
import { freePort } from '../test/support/ports.js';
import { createTestDatabase, postgresServerUrl, type TestDatabase } from '../test/support/postgres.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RESULTS = path.join(ROOT, 'bench/results');
const execFileAsync = promisify(execFile);

const BASELINE = 'bare Fastify (baseline)';
const TEMPLATE = 'NestJS template (Express)';
const OFF = 'service, observability off';
const FULL = 'service, full observability';
/** As OFF, with RATE_LIMIT_MAX=0: the limiter's cost is OFF against this. */
const NO_LIMIT = 'service, obs. off, no rate limit';
/**
 * The service runs as configured by default (rate limit, security headers, auth) with two exceptions:
 * a limit no run reaches, since wrk is one client and a refused request ends the run, and API keys,
 * which production requires (APP_ENV=prod), so that a POST pays for its key check. Reads need no key
 * by default (AUTH_READS=false).
 */
const NOTHING_REFUSED = 1_000_000_000;
const BENCH_API_KEY = 'bench-api-key-0123456789abcdef';
/** Observability off too, so that the store is the one difference from OFF. */
const ON_POSTGRES = 'service on PostgreSQL, obs. off';
/** Copies of the seed databases made so far: each run's database has a name of its own. */
let copies = 0;

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    sizes: { type: 'string', default: '1000,100000' },
    targets: { type: 'string', default: 'baseline,nest,template,off,full,nolimit' },
    scale: { type: 'string', default: '1000000' },
    profile: { type: 'string' },
    workloads: { type: 'string', default: 'get,list,post' },
    'rate-limits': { type: 'string', default: '0,1000,100000,10000000' },
    pairs: { type: 'string', default: '16' },
    burst: { type: 'string', default: '2' },
  },
});
const REPS = Number(args.reps);
const DURATION_S = Number(args.duration);
const WARMUP_S = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const SIZES = args.sizes.split(',').map(Number);
const SMALL = SIZES[0]!;
const LARGE = SIZES.at(-1)!;
const TARGET_KEYS = args.targets.split(',');
const RATE_LIMITS = args['rate-limits'].split(',').map(Number);
const SCALE = Number(args.scale);
const PAIRS = Number(args.pairs);
const BURST_S = Number(args.burst);
const PROFILE_DIR = args.profile === undefined ? undefined : path.resolve(args.profile);
/** Where the server started next writes its CPU profile, under PROFILE_DIR (set before each start). */
let profileLabel = 'server';

/**
 * Node's flags as production runs the service: `npm run start:prod` starts
 * `node <flags> dist/main.js`, and the benchmark starts it the same way.
 */
const SERVICE_NODE_FLAGS = startProdNodeFlags(ROOT);

/** The load generator and this process on one core, every server on the other. */
const LOAD_CPU = '0';
const SERVER_CPU = cpus().length > 1 ? '1' : '0';

type WorkloadKey = 'get' | 'list' | 'post';
const WORKLOADS: Record<WorkloadKey, string> = {
  get: 'GET /items/{id}',
  list: 'GET /items?limit=50',
  post: 'POST /items (durable)',
};
/** In this order for each start: the writes last, so that the reads see the store at its nominal size. */
const WORKLOAD_ORDER: WorkloadKey[] = (['get', 'list', 'post'] as const).filter((key) =>
  args.workloads.split(',').includes(key),
);

interface Measurement {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests answered in the run. */
  requests: number;
  /** The server's CPU time (user + system) per request: less disturbed than req/s by other load. */
  cpuUsPerRequest?: number;
  non2xx: number;
  errors: number;
}

interface RunningTarget {
  url: string;
  itemId: string;
  pid: number;
  /** From spawn to the first 200 from /readyz. */
  readyMs: number;
  stop: () => Promise<void>;
}

interface Target {
  key: string;
  name: string;
  /** The workloads it serves: the baseline has no store, so no durable write to compare. */
  workloads: WorkloadKey[];
  /** When set, wrk names this many clients in turn in X-Forwarded-For (clientScript). */
  clients?: number;
  start: (size: number) => Promise<RunningTarget>;
}

interface Row {
  workload: string;
  items: number;
  target: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest?: number;
  runs: number[];
}

interface Goal {
  name: string;
  value: number;
  goal: string;
  met: boolean;
}

async function main(): Promise<void> {
  requireTool('wrk', 'apt-get install wrk');
  requireTool('taskset', 'apt-get install util-linux');
  if (!existsSync(path.join(ROOT, 'dist/main.js'))) throw new Error('dist/main.js missing: npm run build first');
  // Profiles of earlier runs would be printed as this run's.
  if (PROFILE_DIR && existsSync(PROFILE_DIR) && readdirSync(PROFILE_DIR).length > 0)
    throw new Error(`--profile ${PROFILE_DIR} is not empty`);
  const sink = await startOtlpSink();
  const workDir = mkdtempSync(path.join(tmpdir(), 'items-bench-'));
  const seedDatabases = new Map<number, TestDatabase>();
  try {
    const seeds = new Map<number, string>();
    for (const size of SIZES) seeds.set(size, await writeSeedStore(path.join(workDir, `seed-${size}`), size));
    const postgres = TARGET_KEYS.includes('pg') ? await describePostgres() : undefined;
    if (postgres)
      for (const size of SIZES) seedDatabases.set(size, await seedDatabase(seeds.get(size)!, size, workDir));
    const postScript = path.join(workDir, 'post.lua');
    writeFileSync(postScript, `${POST_LINES.join('\n')}\n`);

    const service = (key: string, name: string, env: Record<string, string>, clients?: number): Target => ({
      key,
      name,
      workloads: WORKLOAD_ORDER,
      clients,
      start: (size) => startService(path.join(workDir, `${key}-${size}`), seeds.get(size)!, size, env),
    });
    const serviceOff = { LOG_LEVEL: 'warn', METRICS_ENABLED: 'false' };
    const serviceFull = {
      LOG_LEVEL: 'info',
      METRICS_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    };
    const targets: Target[] = [
      {
        key: 'baseline',
        name: BASELINE,
        workloads: WORKLOAD_ORDER.filter((w) => w !== 'post'),
        start: startBaseline,
      },
      {
        key: 'nest',
        name: 'bare Nest',
        workloads: WORKLOAD_ORDER.filter((w) => w !== 'post'),
        start: (size: number) => startBaseline(size, 'build/bench/baseline-nest.js'),
      },
      {
        key: 'template',
        name: TEMPLATE,
        // Its POST is not durable (bench/baseline-template.ts): nothing to compare with the service's.
        workloads: WORKLOAD_ORDER.filter((w) => w !== 'post'),
        start: (size: number) => startBaseline(size, 'build/bench/baseline-template.js'),
      },
      service('off', OFF, serviceOff),
      {
        ...service('nolimit', NO_LIMIT, { ...serviceOff, RATE_LIMIT_MAX: '0' }),
        workloads: WORKLOAD_ORDER.filter((w) => w === 'get'),
      },
      service('full', FULL, serviceFull),
      {
        key: 'pg',
        name: ON_POSTGRES,
        workloads: WORKLOAD_ORDER,
        start: (size: number) => startPostgresService(seedDatabases.get(size)!, size, serviceOff),
      },
      // The limiter's cost: the same service, behind a trusted proxy (loopback: wrk) that names the client.
      ...RATE_LIMITS.map((limit) =>
        service(
          'limit',
          rateLimitTarget(limit),
          { ...serviceOff, TRUST_PROXY: 'loopback', RATE_LIMIT_MAX: String(limit), RATE_LIMIT_WINDOW: '1m' },
          clientsFor(limit),
        ),
      ),
    ].filter((target) => TARGET_KEYS.includes(target.key));

    const measurements = new Map<string, Measurement[]>();
    const readyMs = new Map<string, number[]>();
    const rssMb = new Map<string, number[]>();
    const itemsAfter = new Map<string, number[]>();
    const push = <T>(map: Map<string, T[]>, key: string, value: T) => map.set(key, [...(map.get(key) ?? []), value]);
    for (let rep = 0; rep < REPS; rep++) {
      for (const size of SIZES) {
        // A different order each round, so that no target always runs first.
        const order = targets.map((_, index) => targets[(index + rep) % targets.length]!);
        for (const target of order) {
          profileLabel = `${target.name.replace(/[^A-Za-z0-9]+/g, '-')}-${size}-${rep + 1}`;
          const running = await target.start(size);
          try {
            push(readyMs, `${target.name}|${size}`, running.readyMs);
            for (const workload of target.workloads) {
              // The writes grow the store: RSS "with N items" is read before them, and again after.
              if (workload === 'post') push(rssMb, `${target.name}|${size}|reads`, residentMb(running.pid));
              const url =
                workload === 'get'
                  ? `${running.url}/items/${running.itemId}`
                  : workload === 'list'
                    ? `${running.url}/items?limit=50`
                    : `${running.url}/items`;
              const script =
                target.clients === undefined
                  ? workload === 'post'
                    ? postScript
                    : undefined
                  : clientScript(workDir, target.clients, workload === 'post');
              await wrk(url, WARMUP_S, script);
              const cpuBefore = cpuSeconds(running.pid);
              const measurement = await wrk(url, DURATION_S, script);
              measurement.cpuUsPerRequest = ((cpuSeconds(running.pid) - cpuBefore) * 1e6) / measurement.requests;
              push(measurements, `${WORKLOADS[workload]}|${size}|${target.name}`, measurement);
              log(
                `rep ${rep + 1}/${REPS}, ${size} items, ${target.name}, ${WORKLOADS[workload]}: ` +
                  `${Math.round(measurement.requestsPerSecond)} req/s`,
              );
              if (measurement.non2xx > 0 || measurement.errors > 0)
                throw new Error(`${target.name}: ${measurement.non2xx} non-2xx, ${measurement.errors} socket errors`);
            }
            const phase = target.workloads.includes('post') ? 'writes' : 'reads';
            push(rssMb, `${target.name}|${size}|${phase}`, residentMb(running.pid));
            if (phase === 'writes') push(itemsAfter, `${target.name}|${size}`, await countItems(running.url));
          } finally {
            await running.stop();
          }
        }
      }
    }

    const [limitOn, limitOff] = [OFF, NO_LIMIT].map((name) => targets.find((target) => target.name === name));
    const paired =
      PAIRS > 0 && limitOn && limitOff && WORKLOAD_ORDER.includes('get')
        ? await pairedRun(limitOn, limitOff)
        : undefined;
    const scale = SCALE > 0 ? await scaleRun(workDir, serviceFull) : undefined;

    const rows: Row[] = [];
    for (const workload of WORKLOAD_ORDER)
      for (const size of SIZES)
        for (const target of targets) {
          const runs = measurements.get(`${WORKLOADS[workload]}|${size}|${target.name}`);
          if (runs) rows.push(summarize(WORKLOADS[workload], size, target.name, runs));
        }
    const rps = (workload: WorkloadKey, size: number, target: string) =>
      rows.find((row) => row.workload === WORKLOADS[workload] && row.items === size && row.target === target)
        ?.requestsPerSecond;
    const services = targets.filter((target) => target.key === 'off' || target.key === 'full');
    const startups = services.map((target) => ({
      target: target.name,
      items: LARGE,
      readyMs: median(readyMs.get(`${target.name}|${LARGE}`) ?? []),
      runs: readyMs.get(`${target.name}|${LARGE}`) ?? [],
    }));
    const memory = services.flatMap((target) =>
      (['reads', 'writes'] as const).map((after) => {
        const runs = rssMb.get(`${target.name}|${LARGE}|${after}`) ?? [];
        const items = after === 'reads' ? [LARGE] : (itemsAfter.get(`${target.name}|${LARGE}`) ?? []);
        return { target: target.name, after, items: median(items), rssMb: median(runs), runs };
      }),
    );

    const goals: Goal[] = [];
    const ratio = (name: string, numerator: number | undefined, denominator: number | undefined, goal: number) => {
      if (numerator === undefined || denominator === undefined) return;
      const value = numerator / denominator;
      goals.push({ name, value: round(value, 2), goal: `>= ${goal}`, met: value >= goal });
    };
    const [baseline, off, full] = [BASELINE, OFF, FULL];
    // Issue 23's goals, GET by id: the limiter on / off (from the paired bursts, else the median of
    // the rounds' ratios), then the service against bare Fastify and against a typical NestJS template.
    const runsOf = (workload: WorkloadKey, size: number, target: string) =>
      measurements.get(`${WORKLOADS[workload]}|${size}|${target}`)?.map((m) => m.requestsPerSecond) ?? [];
    // For context, no goal: how much of the gap to bare Fastify is Nest's own, and the like.
    const context: Goal[] = [];
    const perRound = (name: string, numerator: number[], denominator: number[], goal?: number) => {
      if (numerator.length === 0 || numerator.length !== denominator.length) return;
      const ratios = numerator.map((value, index) => value / denominator[index]!);
      const value = median(ratios);
      const entry = {
        name: `${name}, median of the rounds' ratios [${ratios.map((r) => round(r, 2)).join(', ')}]`,
        value: round(value, 2),
      };
      if (goal === undefined) context.push({ ...entry, goal: '', met: true });
      else goals.push({ ...entry, goal: `>= ${goal}`, met: value >= goal });
    };
    const limiter = `GET by id, ${SMALL} items: rate limiter on / off (service, observability off)`;
    if (paired) {
      const ratios = paired.pairs.map((pair) => pair.on / pair.off);
      const value = median(ratios);
      goals.push({
        name: `${limiter}, median of ${ratios.length} paired ${BURST_S} s bursts [${ratios.map((r) => round(r, 2)).join(', ')}]`,
        value: round(value, 2),
        goal: '>= 0.9',
        met: value >= 0.9,
      });
    }
    // The same two targets in the rounds, up to minutes apart: for context when the paired bursts ran.
    perRound(limiter, runsOf('get', SMALL, off), runsOf('get', SMALL, NO_LIMIT), paired ? undefined : 0.9);
    ratio(
      `GET by id, ${SMALL} items: service off / bare Fastify`,
      rps('get', SMALL, off),
      rps('get', SMALL, baseline),
      0.7,
    );
    ratio(
      `GET by id, ${SMALL} items: service full / bare Fastify`,
      rps('get', SMALL, full),
      rps('get', SMALL, baseline),
      0.5,
    );
    ratio(
      `GET by id, ${SMALL} items: service full / NestJS template`,
      rps('get', SMALL, full),
      rps('get', SMALL, TEMPLATE),
      1.5,
    );
    for (const target of [off, full]) {
      ratio(
        `POST, ${target}: ${LARGE} items / ${SMALL} items`,
        rps('post', LARGE, target),
        rps('post', SMALL, target),
        0.9,
      );
      ratio(`POST / GET by id, ${LARGE} items, ${target}`, rps('post', LARGE, target), rps('get', LARGE, target), 0.3);
    }
    // The limiter on / off, at each limit: its cost per request must not depend on the limit. The median
    // of each round's ratio: a round's targets run back to back, so the load from outside is shared more.
    for (const limit of RATE_LIMITS.filter((limit) => limit > 0))
      perRound(
        `GET by id, ${SMALL} items: ${rateLimitTarget(limit)} / ${rateLimitTarget(0)}`,
        runsOf('get', SMALL, rateLimitTarget(limit)),
        runsOf('get', SMALL, rateLimitTarget(0)),
        0.9,
      );
    const share = (name: string, numerator: number | undefined, denominator: number | undefined) => {
      if (numerator !== undefined && denominator !== undefined)
        context.push({ name, value: round(numerator / denominator, 2), goal: '', met: true });
    };
    share(
      `GET by id, ${SMALL} items: bare Nest / bare Fastify`,
      rps('get', SMALL, 'bare Nest'),
      rps('get', SMALL, baseline),
    );
    share(`GET by id, ${SMALL} items: service off / bare Nest`, rps('get', SMALL, off), rps('get', SMALL, 'bare Nest'));
    share(`GET by id, ${SMALL} items: service full / service off`, rps('get', SMALL, full), rps('get', SMALL, off));
    share(
      `GET by id, ${SMALL} items: NestJS template / bare Fastify`,
      rps('get', SMALL, TEMPLATE),
      rps('get', SMALL, baseline),
    );
    share(
      `GET /items?limit=50, ${SMALL} items: service full / NestJS template`,
      rps('list', SMALL, full),
      rps('list', SMALL, TEMPLATE),
    );
    // What the limiter adds to the server's CPU time per request, which other load disturbs less than req/s.
    const cpuOf = (limit: number) =>
      rows.find((row) => row.workload === WORKLOADS.get && row.items === SMALL && row.target === rateLimitTarget(limit))
        ?.cpuUsPerRequest;
    for (const limit of RATE_LIMITS.filter((limit) => limit > 0)) {
      const [on, off] = [cpuOf(limit), cpuOf(0)];
      if (on !== undefined && off !== undefined)
        context.push({
          name: `GET by id, ${SMALL} items: CPU µs per request, ${rateLimitTarget(limit)} - ${rateLimitTarget(0)}`,
          value: round(on - off, 1),
          goal: '',
          met: true,
        });
    }
    // The two stores side by side, with observability off on both.
    for (const workload of WORKLOAD_ORDER)
      for (const size of SIZES)
        share(
          `${WORKLOADS[workload]}, ${size} items: PostgreSQL / JSON file`,
          rps(workload, size, ON_POSTGRES),
          rps(workload, size, off),
        );
    for (const startup of startups)
      if (startup.runs.length > 0)
        goals.push({
          name: `cold start to /readyz 200, ${LARGE} items, ${startup.target} (ms)`,
          value: round(startup.readyMs, 0),
          goal: '<= 1500',
          met: startup.readyMs <= 1500,
        });
    for (const entry of memory)
      if (entry.after === 'reads' && entry.runs.length > 0)
        goals.push({
          name: `RSS after the reads, ${LARGE} items, ${entry.target} (MB)`,
          value: round(entry.rssMb, 1),
          goal: '<= 200',
          met: entry.rssMb <= 200,
        });
    if (scale) {
      goals.push({
        name: `cold start to /readyz 200, ${SCALE} items, ${FULL} (ms)`,
        value: round(median(scale.readyMs), 0),
        goal: '<= 4000',
        met: median(scale.readyMs) <= 4000,
      });
      goals.push({
        name: `RSS after the reads, ${SCALE} items, ${FULL} (MB)`,
        value: round(median(scale.rssMb), 1),
        goal: '<= 450',
        met: median(scale.rssMb) <= 450,
      });
    }

    printTable(rows);
    if (scale) printScale(scale);
    print(
      `\ncold start to /readyz 200 (ms, median of ${REPS}): ${startups.map((s) => `${s.target} ${round(s.readyMs, 0)} [${s.runs.map((n) => round(n, 0)).join(', ')}]`).join('; ')}`,
    );
    print(
      `RSS (MB, median of ${REPS}): ${memory
        .filter((m) => m.runs.length > 0)
        .map(
          (m) =>
            `${m.target} after the ${m.after} with ${Math.round(m.items)} items ${round(m.rssMb, 1)} [${m.runs.map((n) => round(n, 1)).join(', ')}]`,
        )
        .join('; ')}`,
    );
    if (paired) {
      const of = (pick: (pair: PairedResult['pairs'][number]) => number, digits = 0) =>
        round(median(paired.pairs.map(pick)), digits);
      print(
        `\nrate limiter on / off, GET by id, ${paired.items} items, ${paired.pairs.length} pairs of ${paired.burstS} s bursts ` +
          `(medians): ${of((p) => p.on)} / ${of((p) => p.off)} req/s, ${of((p) => p.onCpuUs, 1)} / ` +
          `${of((p) => p.offCpuUs, 1)} µs of CPU per request; the server not under load used ` +
          `${of((p) => p.idleCpuMs)} ms of CPU per pair [${paired.pairs.map((p) => round(p.idleCpuMs, 0)).join(', ')}]`,
      );
    }
    print('\ngoals:');
    for (const goal of goals)
      print(`  ${goal.met ? 'met    ' : 'NOT MET'} ${goal.name}: ${goal.value} (goal ${goal.goal})`);
    if (context.length > 0) print('for context:');
    for (const entry of context) print(`  ${entry.name}: ${entry.value}`);
    print(`OTLP sink: ${sink.requests} export requests, ${sink.bytes} bytes`);
    if (postgres) print(`PostgreSQL: ${postgres.summary}`);

    const report = {
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      settings: {
        reps: REPS,
        durationS: DURATION_S,
        warmupS: WARMUP_S,
        connections: CONNECTIONS,
        sizes: SIZES,
        pairs: PAIRS,
        burstS: BURST_S,
      },
      ...(postgres ? { postgres: postgres.settings } : {}),
      rows,
      startups,
      memory,
      goals,
      context,
      ...(paired ? { paired } : {}),
      ...(scale ? { scale } : {}),
    };
    compareWithLast(rows);
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
    log(`results written to bench/results/latest.json`);
    if (PROFILE_DIR) printProfiles(PROFILE_DIR);
  } finally {
    await sink.close();
    for (const database of seedDatabases.values()) await database.drop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

interface PairedResult {
  on: string;
  off: string;
  items: number;
  burstS: number;
  /**
   * Per pair: requests per second in its two bursts, the server's CPU time per request in each, and the
   * CPU time the other server, not under load, used meanwhile (its timers: a tick or two; more would
   * be work of its own burst spilling over into this one).
   */
  pairs: { on: number; off: number; onCpuUs: number; offCpuUs: number; idleCpuMs: number }[];
}

/**
 * The limiter on / off in pairs of short bursts, both servers up side by side (both pinned to the
 * server core; the one not under load waits): this VM's speed drifts by 10-20% from one minute to the
 * next (bench/README.md, "Paired bursts for the limiter"), more than the limiter costs, so the two targets measured minutes
 * apart in the rounds differ by more than what is sought. Two bursts seconds apart share the drift;
 * which runs first alternates from one pair to the next.
 */
async function pairedRun(on: Target, off: Target): Promise<PairedResult> {
  const result: PairedResult = { on: on.name, off: off.name, items: SMALL, burstS: BURST_S, pairs: [] };
  const running: RunningTarget[] = [];
  try {
    for (const target of [on, off]) {
      profileLabel = `${target.name.replace(/[^A-Za-z0-9]+/g, '-')}-${SMALL}-paired`;
      running.push(await target.start(SMALL));
    }
    const urls = running.map((server) => `${server.url}/items/${server.itemId}`);
    for (const url of urls) await wrk(url, WARMUP_S);
    for (let pair = 0; pair < PAIRS; pair++) {
      const rates: number[] = [];
      const cpuUs: number[] = [];
      let idleCpuMs = 0;
      // An even number of pairs gives each order as many pairs.
      for (const index of pair % 2 === 0 ? [0, 1] : [1, 0]) {
        const [busy, idle] = [running[index]!.pid, running[1 - index]!.pid];
        const cpuBefore = [cpuSeconds(busy), cpuSeconds(idle)];
        const burst = await wrk(urls[index]!, BURST_S);
        if (burst.non2xx > 0 || burst.errors > 0)
          throw new Error(`${[on, off][index]!.name}: ${burst.non2xx} non-2xx, ${burst.errors} socket errors`);
        rates[index] = burst.requestsPerSecond;
        cpuUs[index] = ((cpuSeconds(busy) - cpuBefore[0]!) * 1e6) / burst.requests;
        idleCpuMs += (cpuSeconds(idle) - cpuBefore[1]!) * 1e3;
      }
      result.pairs.push({ on: rates[0]!, off: rates[1]!, onCpuUs: cpuUs[0]!, offCpuUs: cpuUs[1]!, idleCpuMs });
      log(
        `pair ${pair + 1}/${PAIRS}, ${SMALL} items, GET /items/{id}: rate limiter on ${Math.round(rates[0]!)}, ` +
          `off ${Math.round(rates[1]!)} req/s`,
      );
    }
  } finally {
    for (const server of running) await server.stop();
  }
  return result;
}

interface ScaleResult {
  items: number;
  target: string;
  readyMs: number[];
  rssMb: number[];
  /** The highest RSS the process reached (VmHWM), read after the reads: the start-up's peak, or the load's. */
  peakRssMb: number[];
  get: Row;
  list: Row;
  /** GET by id while a compaction runs, against the GET above (the same build and size, no compaction). */
  compactions: { compactionMs: number; snapshotItems: number; journalItems: number; get: Measurement }[];
}

/**
 * The service with full observability at SCALE items (part 4 of issue 23), REPS times: cold start, RSS
 * after the reads, GET by id and a list page; then, on a store whose journal has outgrown its snapshot,
 * GETs while the compaction the first POST starts runs, from its start until the old journal is gone.
 */
async function scaleRun(workDir: string, env: Record<string, string>): Promise<ScaleResult> {
  log(`${SCALE} items: writing the seed stores`);
  const seed = await writeSeedStore(path.join(workDir, `seed-${SCALE}`), SCALE);
  const compactionSeed = await writeCompactionSeed(path.join(workDir, `compaction-${SCALE}`), SCALE);
  const result: Omit<ScaleResult, 'get' | 'list'> = {
    items: SCALE,
    target: FULL,
    readyMs: [],
    rssMb: [],
    peakRssMb: [],
    compactions: [],
  };
  const gets: Measurement[] = [];
  const lists: Measurement[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    profileLabel = `scale-${SCALE}-${rep + 1}`;
    const running = await startService(path.join(workDir, `scale-${SCALE}`), seed, SCALE, env);
    try {
      result.readyMs.push(running.readyMs);
      for (const [workload, runs] of [
        [`${running.url}/items/${running.itemId}`, gets],
        [`${running.url}/items?limit=50`, lists],
      ] as const) {
        await wrk(workload, WARMUP_S);
        const cpuBefore = cpuSeconds(running.pid);
        const measurement = await wrk(workload, DURATION_S);
        if (measurement.non2xx > 0 || measurement.errors > 0)
          throw new Error(`${SCALE} items: ${measurement.non2xx} non-2xx, ${measurement.errors} socket errors`);
        measurement.cpuUsPerRequest = ((cpuSeconds(running.pid) - cpuBefore) * 1e6) / measurement.requests;
        runs.push(measurement);
      }
      result.rssMb.push(residentMb(running.pid));
      result.peakRssMb.push(residentMb(running.pid, 'VmHWM'));
      log(
        `rep ${rep + 1}/${REPS}, ${SCALE} items: ready in ${Math.round(running.readyMs)} ms, ${Math.round(result.rssMb.at(-1)!)} MB`,
      );
    } finally {
      await running.stop();
    }

    const dataDir = path.join(workDir, `compaction-run-${SCALE}`);
    profileLabel = `compaction-${SCALE}-${rep + 1}`;
    const compacting = await startService(dataDir, compactionSeed.file, SCALE, env);
    try {
      result.compactions.push({ ...compactionSeed.counts, ...(await getsDuringCompaction(compacting, dataDir)) });
      log(
        `rep ${rep + 1}/${REPS}, ${SCALE} items: compaction in ${Math.round(result.compactions.at(-1)!.compactionMs)} ms`,
      );
    } finally {
      await compacting.stop();
    }
  }
  return {
    ...result,
    get: summarize(WORKLOADS.get, SCALE, FULL, gets),
    list: summarize(WORKLOADS.list, SCALE, FULL, lists),
  };
}

/**
 * wrk GETs one item until the compaction is over: the first POST finds the journal larger than the
 * snapshot and starts one, which sets the journal aside as `.journal.old` and removes it when the new
 * snapshot is in place. wrk stops on SIGINT and reports what it measured until then.
 */
async function getsDuringCompaction(
  running: RunningTarget,
  dataDir: string,
): Promise<{ compactionMs: number; get: Measurement }> {
  const oldJournal = path.join(dataDir, 'items.json.journal.old');
  const url = `${running.url}/items/${running.itemId}`;
  // Warmed up as the GETs it is compared with were.
  await wrk(url, WARMUP_S);
  const load = wrkUntilStopped(url);
  try {
    // Long enough for wrk's connections to be open and busy, short beside a compaction (seconds).
    await sleep(200);
    const started = performance.now();
    const response = await fetch(`${running.url}/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_API_KEY}` },
      body: JSON.stringify({ name: 'the write that starts a compaction' }),
    });
    if (response.status !== 201) throw new Error(`POST before the compaction: ${response.status}`);
    await until(() => existsSync(oldJournal), 'the compaction did not start');
    await until(() => !existsSync(oldJournal), 'the compaction did not end');
    return { compactionMs: performance.now() - started, get: await load.stop() };
  } finally {
    await load.stop();
  }
}

async function until(condition: () => boolean, failure: string): Promise<void> {
  const deadline = performance.now() + 300_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(failure);
    await sleep(10);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function printScale(scale: ScaleResult): void {
  const runs = (values: number[], digits = 0) => `[${values.map((v) => round(v, digits)).join(', ')}]`;
  print(`
${scale.items} items, ${scale.target}, median of ${scale.readyMs.length}:`);
  print(`  cold start to /readyz 200: ${round(median(scale.readyMs), 0)} ms ${runs(scale.readyMs)}`);
  print(`  RSS after the reads: ${round(median(scale.rssMb), 1)} MB ${runs(scale.rssMb, 1)}`);
  print(`  peak RSS (start-up and reads): ${round(median(scale.peakRssMb), 1)} MB ${runs(scale.peakRssMb, 1)}`);
  for (const row of [scale.get, scale.list])
    print(
      `  ${row.workload}: ${row.requestsPerSecond} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms ${runs(row.runs)}`,
    );
  const during = scale.compactions.map((c) => c.get);
  const first = scale.compactions[0];
  if (first)
    print(
      `  GET by id while a compaction runs (snapshot of ${first.snapshotItems} items + journal of ${first.journalItems}): ` +
        `p99 ${median(during.map((m) => m.p99Ms))} ms ${runs(
          during.map((m) => m.p99Ms),
          2,
        )}, p50 ` +
        `${median(during.map((m) => m.p50Ms))} ms, ${round(median(during.map((m) => m.requestsPerSecond)), 0)} req/s; ` +
        `compaction ${round(median(scale.compactions.map((c) => c.compactionMs)), 0)} ms ${runs(scale.compactions.map((c) => c.compactionMs))}; ` +
        `non-2xx ${during.map((m) => m.non2xx).join(', ')}, socket errors (30 s timeouts included) ${during.map((m) => m.errors).join(', ')}`,
    );
}

/** Each server's CPU profile (written when it exits), its top frames by self time. */
function printProfiles(directory: string): void {
  for (const label of readdirSync(directory).sort()) {
    const files = readdirSync(path.join(directory, label)).filter((file) => file.endsWith('.cpuprofile'));
    for (const file of files) {
      print(`\nCPU profile, ${label} (${path.join(directory, label, file)}):`);
      print(formatCpuProfileSummary(summarizeCpuProfile(path.join(directory, label, file), { top: 12 })));
    }
  }
}

function summarize(workload: string, items: number, target: string, measurements: Measurement[]): Row {
  return {
    workload,
    items,
    target,
    requestsPerSecond: round(median(measurements.map((m) => m.requestsPerSecond)), 0),
    p50Ms: median(measurements.map((m) => m.p50Ms)),
    p99Ms: median(measurements.map((m) => m.p99Ms)),
    cpuUsPerRequest: round(median(measurements.map((m) => m.cpuUsPerRequest ?? Number.NaN)), 1),
    runs: measurements.map((m) => Math.round(m.requestsPerSecond)),
  };
}

function printTable(rows: Row[]): void {
  const width = Math.max(28, ...rows.map((row) => row.target.length));
  print(`\n${CONNECTIONS} connections, median of ${REPS} x ${DURATION_S} s`);
  print(
    `${'workload'.padEnd(22)} ${'items'.padStart(7)}  ${'target'.padEnd(width)} ${'req/s'.padStart(7)} ` +
      `${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'CPU µs'.padStart(7)}  runs`,
  );
  for (const row of rows)
    print(
      `${row.workload.padEnd(22)} ${String(row.items).padStart(7)}  ${row.target.padEnd(width)} ` +
        `${String(row.requestsPerSecond).padStart(7)} ${row.p50Ms.toFixed(2).padStart(7)} ` +
        `${row.p99Ms.toFixed(2).padStart(7)} ${String(row.cpuUsPerRequest).padStart(7)}  ${row.runs.join(', ')}`,
    );
}

/** Prints each median against the last run's, so that a change shows its cost. */
function compareWithLast(rows: Row[]): void {
  const file = path.join(RESULTS, 'latest.json');
  if (!existsSync(file)) return;
  const last = JSON.parse(readFileSync(file, 'utf8')) as { commit: string; rows?: Row[] };
  if (!last.rows) return;
  print(`\nagainst the last run (${last.commit}):`);
  for (const row of rows) {
    const before = last.rows.find(
      (candidate) =>
        candidate.workload === row.workload && candidate.items === row.items && candidate.target === row.target,
    );
    if (!before) continue;
    const change = (row.requestsPerSecond / before.requestsPerSecond - 1) * 100;
    print(`  ${row.workload}, ${row.items} items, ${row.target}: ${change >= 0 ? '+' : ''}${change.toFixed(1)}% req/s`);
  }
}

/** wrk's POST: an item, with the API key writes need. */
const POST_LINES = [
  'wrk.method = "POST"',
  'wrk.body = \'{"name":"benchmark item"}\'',
  'wrk.headers["Content-Type"] = "application/json"',
  `wrk.headers["Authorization"] = "Bearer ${BENCH_API_KEY}"`,
];

function rateLimitTarget(limit: number): string {
  return limit === 0 ? 'service, obs. off, limit off' : `service, obs. off, limit ${limit}/min`;
}

/** What no target reaches on this machine (bare Fastify, the fastest, gives ~60k req/s). */
const MAX_REQUESTS_PER_SECOND = 50_000;

/**
 * How many clients wrk names for a limit of `limit` a minute: enough that none spends more than half
 * its budget in a minute at MAX_REQUESTS_PER_SECOND, so nothing is refused, and no more, so that each
 * client is as busy as its limit allows. A high limit is one busy client (every client behind one
 * proxy address); the cost of counting must not grow with it.
 */
function clientsFor(limit: number): number {
  return limit === 0 ? 1 : Math.max(1, Math.ceil((MAX_REQUESTS_PER_SECOND * 60) / (limit / 2)));
}

/** A wrk script that names `clients` clients (10.x.y.z) in turn in X-Forwarded-For; for POST, with the body. */
function clientScript(workDir: string, clients: number, post: boolean): string {
  const file = path.join(workDir, `clients-${clients}${post ? '-post' : ''}.lua`);
  const lines = [
    ...(post ? POST_LINES : []),
    `local clients = ${clients}`,
    'local n = 0',
    'request = function()',
    '  n = (n + 1) % clients',
    '  wrk.headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)',
    '  return wrk.format()',
    'end',
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function startBaseline(size: number, script = 'build/bench/baseline-fastify.js'): Promise<RunningTarget> {
  const port = await freePort();
  const startedAt = performance.now();
  const child = spawnPinned([path.join(ROOT, script)], {
    PORT: String(port),
    ITEMS: String(size),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child).catch(async (err: unknown) => {
    await stopChild(child);
    throw err;
  });
  return {
    url,
    itemId: FIRST_ITEM_ID,
    pid: child.pid!,
    readyMs: performance.now() - startedAt,
    stop: () => stopChild(child),
  };
}

/** The service on a fresh copy of the seed store: every run starts from the same `size` items. */
async function startService(
  dataDir: string,
  seed: string,
  size: number,
  env: Record<string, string>,
): Promise<RunningTarget> {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  cpSync(seed, path.join(dataDir, 'items.json'));
  if (existsSync(`${seed}.journal`)) cpSync(`${seed}.journal`, path.join(dataDir, 'items.json.journal'));
  return startServiceProcess(size, { DB_PATH: path.join(dataDir, 'items.json'), ...env });
}

/**
 * The service on PostgreSQL, on a fresh copy of the seed database (CREATE DATABASE … TEMPLATE), dropped
 * after it stops: like the JSON file's copy, every run starts from the same `size` items.
 */
async function startPostgresService(
  seed: TestDatabase,
  size: number,
  env: Record<string, string>,
): Promise<RunningTarget> {
  const copy = await copyDatabase(seed);
  try {
    const running = await startServiceProcess(size, { STORE_DRIVER: 'postgres', DATABASE_URL: copy.url, ...env });
    return {
      ...running,
      stop: async () => {
        await running.stop();
        await copy.drop();
      },
    };
  } catch (err) {
    await copy.drop();
    throw err;
  }
}

async function startServiceProcess(size: number, env: Record<string, string>): Promise<RunningTarget> {
  const port = await freePort();
  const startedAt = performance.now();
  const child = spawnPinned([...SERVICE_NODE_FLAGS, path.join(ROOT, 'dist/main.js')], {
    PORT: String(port),
    SHUTDOWN_DRAIN_DELAY: '0',
    NODE_ENV: 'production',
    // The default configuration, but for the limit and the keys (NOTHING_REFUSED).
    RATE_LIMIT_MAX: String(NOTHING_REFUSED),
    API_KEYS: BENCH_API_KEY,
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitReady(url, child).catch(async (err: unknown) => {
    await stopChild(child);
    throw err;
  });
  return {
    url,
    itemId: seedItemId(Math.floor(size / 2)),
    pid: child.pid!,
    readyMs: performance.now() - startedAt,
    stop: () => stopChild(child),
  };
}

/**
 * A database of its own on the test server (test/support/postgres.ts), holding the same items as the
 * JSON-file seed, put there as an operator moves an install: `node dist/migrate.js`, then
 * `node dist/import.js --from <the seed store>`.
 */
async function seedDatabase(seedStore: string, size: number, workDir: string): Promise<TestDatabase> {
  const database = await createTestDatabase();
  try {
    // From the work directory: no developer's .env.
    const options = { cwd: workDir, env: { PATH: process.env.PATH, DATABASE_URL: database.url } };
    const startedAt = performance.now();
    await execFileAsync(process.execPath, [path.join(ROOT, 'dist/migrate.js')], options);
    const { stdout } = await execFileAsync(
      process.execPath,
      [path.join(ROOT, 'dist/import.js'), '--from', seedStore],
      options,
    );
    log(`PostgreSQL seed of ${size} items in ${Math.round(performance.now() - startedAt)} ms: ${stdout.trim()}`);
    // Fresh statistics for the planner, as after a real move (autovacuum would get there in time).
    await withClient(database.url, (client) => client.query('analyze items'));
    return database;
  } catch (err) {
    await database.drop();
    throw err;
  }
}

/** A copy of `seed` (which nobody may be connected to), dropped by `drop()`. */
async function copyDatabase(seed: TestDatabase): Promise<{ url: string; drop: () => Promise<void> }> {
  const seedName = new URL(seed.url).pathname.slice(1);
  const name = `${seedName}_run${(copies += 1)}`;
  await withClient(await postgresServerUrl(), (client) => client.query(`create database ${name} template ${seedName}`));
  const url = new URL(seed.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await withClient(await postgresServerUrl(), (client) =>
        client.query(`drop database if exists ${name} with (force)`),
      );
    },
  };
}

/** The server's version and the settings a durable write's cost depends on, for the report. */
async function describePostgres(): Promise<{ settings: Record<string, string>; summary: string }> {
  const names = ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'max_connections'];
  const settings: Record<string, string> = {};
  await withClient(await postgresServerUrl(), async (client) => {
    for (const name of names)
      settings[name] = (await client.query<Record<string, string>>(`show ${name}`)).rows[0]![name]!;
  });
  return { settings, summary: names.map((name) => `${name}=${settings[name]}`).join(', ') };
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function seedItemId(n: number): string {
  return `bench-${n.toString().padStart(7, '0')}`;
}

const SEED_START = Date.parse('2026-01-01T00:00:00.000Z');

/** The n-th seed item: the same in the snapshot seeds and the journal of the compaction seed. */
function seedItem(n: number): Item {
  const time = new Date(SEED_START + n).toISOString();
  return { id: seedItemId(n), name: `benchmark item ${n}`, created_at: time, updated_at: time, version: 1 };
}

/**
 * A store of `count` items, written with the store's own snapshot writer: seeding 100,000 items through
 * the API would take minutes of durable writes before every measurement.
 */
async function writeSeedStore(directory: string, count: number): Promise<string> {
  mkdirSync(directory, { recursive: true });
  const items = Array.from({ length: count }, (_, n) => seedItem(n));
  const file = path.join(directory, 'items.json');
  await writeSnapshot(new StoreFiles(file), items, 0);
  return file;
}

/**
 * A store of `count` items whose journal has outgrown its snapshot: the first half in the snapshot, the
 * second as journal entries, so that the first write starts a compaction of all `count` items.
 */
async function writeCompactionSeed(
  directory: string,
  count: number,
): Promise<{ file: string; counts: { snapshotItems: number; journalItems: number } }> {
  const half = Math.floor(count / 2);
  const file = await writeSeedStore(directory, half);
  const journal = openSync(`${file}.journal`, 'w');
  try {
    // Written 10,000 lines at a time; entry n has sequence number n - half + 1.
    for (let n = half; n < count;) {
      const lines: string[] = [];
      for (const end = Math.min(count, n + 10_000); n < end; n++)
        lines.push(journalLine({ seq: n - half + 1, op: 'put', item: seedItem(n) }));
      writeSync(journal, lines.join(''));
    }
  } finally {
    closeSync(journal);
  }
  return { file, counts: { snapshotItems: half, journalItems: count - half } };
}

/** Pages through the whole list: how many items the store holds after the writes. */
async function countItems(url: string): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const page = (await (await fetch(`${url}/items?limit=1000${query}`)).json()) as {
      items: unknown[];
      next_cursor: string | null;
    };
    count += page.items.length;
    cursor = page.next_cursor;
  } while (cursor !== null);
  return count;
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU seconds (user + system) the process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name (which may hold spaces), from the 3rd: utime is the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * The server's RSS now (VmRSS), or the highest it has been (VmHWM). The server runs on its own core
 * (see spawnPinned); taskset execs node, so the pid is the server's.
 */
function residentMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} for ${pid}`);
  return Number(match[1]) / 1024;
}

/**
 * The server on its own core; its stdout (the request lines, when logging is on) goes to /dev/null:
 * serialized and written like in production, without a reader competing with wrk for its core.
 */
function spawnPinned(args: string[], env: Record<string, string>): ChildProcess {
  const devNull = openSync('/dev/null', 'w');
  const profile = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PROFILE_DIR, profileLabel)}`] : [];
  const child = spawn('taskset', ['-c', SERVER_CPU, process.execPath, ...profile, ...args], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', ...env },
    stdio: ['ignore', devNull, 'inherit'],
  });
  closeSync(devNull);
  return child;
}

/** Polls /readyz every 5 ms: the start-up time is measured to within that. */
async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: exited with ${child.exitCode} before ready`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${url} not ready in 30 s`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** wrk on the load generator's core, `CONNECTIONS` connections, with its latency distribution. */
function startWrk(args: string[]): { child: ChildProcess; exited: Promise<unknown[]>; output: () => string } {
  const child = spawn('taskset', ['-c', LOAD_CPU, 'wrk', '-t1', `-c${CONNECTIONS}`, '--latency', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return { child, exited: once(child, 'exit'), output: () => output };
}

async function wrk(url: string, seconds: number, script?: string): Promise<Measurement> {
  const { exited, output } = startWrk([`-d${seconds}s`, ...(script ? ['-s', script] : []), url]);
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${output()}`);
  return parseWrk(output());
}

/**
 * wrk for as long as it takes, until `stop()`: SIGINT makes wrk report what it measured so far. A
 * request is a timeout (an error) only after 30 s, so that a stall shows in the latencies, not beside them.
 */
function wrkUntilStopped(url: string): { stop: () => Promise<Measurement> } {
  const { child, exited, output } = startWrk(['-d600s', '--timeout', '30s', url]);
  let result: Promise<Measurement> | undefined;
  return {
    stop: () =>
      (result ??= (async () => {
        child.kill('SIGINT');
        await exited;
        return parseWrk(output());
      })()),
  };
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
  const requests = /(\d+) requests in /.exec(output);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSecond: Number(rate[1]),
    requests: requests ? Number(requests[1]) : Number.NaN,
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

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
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
