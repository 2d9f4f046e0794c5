import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './ports.js';
import { makeTempDir } from './temp-dir.js';

/** From Debian's `prometheus` package (scripts/ensure-test-tools.sh installs it). */
export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';

// ---------------------------------------------------------------------------------------------------
// The text exposition format, parsed just enough to count series and read values.

export interface Sample {
  /** The sample's own name, e.g. `http_request_duration_seconds_bucket`. */
  name: string;
  /** The metric family it belongs to (its `# TYPE` line), e.g. `http_request_duration_seconds`. */
  family: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** `# TYPE` by family name. */
  types: Map<string, string>;
  samples: Sample[];
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const FAMILY_SUFFIXES = ['_bucket', '_sum', '_count', '_created', '_total'];

/** Parses Prometheus' text format 0.0.4; throws on a line it cannot read, since that is a bug too. */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      continue;
    }
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`unreadable exposition line: ${line}`);
    const name = match[1]!;
    samples.push({
      name,
      family: familyOf(name, types),
      labels: match[2] === undefined ? {} : parseLabels(match[2], line),
      value: parseValue(match[3]!),
    });
  }
  return { types, samples };
}

/** The family a sample belongs to: `x_bucket`, `x_sum` and `x_count` are histogram `x`'s. */
export function familyOf(name: string, types: ReadonlyMap<string, string>): string {
  if (types.has(name)) return name;
  for (const suffix of FAMILY_SUFFIXES) {
    if (name.endsWith(suffix) && types.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length);
  }
  return name;
}

/** `a="x",b="y\"z"`: values may hold escaped quotes, backslashes and newlines, and commas or braces. */
function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const name = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i));
    if (!name) throw new Error(`unreadable labels in: ${line}`);
    i += name[0].length;
    let value = '';
    for (;;) {
      if (i >= text.length) throw new Error(`unterminated label value in: ${line}`);
      const char = text[i++]!;
      if (char === '"') break;
      if (char === '\\') {
        const escaped = text[i++];
        value += escaped === 'n' ? '\n' : escaped;
      } else value += char;
    }
    labels[name[1]!] = value;
    const separator = /^\s*,?\s*/.exec(text.slice(i))!;
    i += separator[0].length;
  }
  return labels;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

// ---------------------------------------------------------------------------------------------------
// promtool

export interface PromtoolResult {
  /** 0: no problem; 3: lint problems only (promtool's lint exit code); 1: the text could not be parsed. */
  code: number | string;
  /** What promtool printed, stdout and stderr together: one problem a line, `<metric> <problem>`. */
  output: string;
}

/** What one promtool command printed, and its exit code. */
export interface PromtoolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `promtool <args>` (check rules, test rules, check config) and resolves whatever its exit code: the
 * tests read the code and the output. Rejects only when promtool did not run at all.
 */
export function runPromtool(args: string[], timeoutMs = 300_000): Promise<PromtoolRun> {
  return new Promise((resolve, reject) => {
    execFile(PROMTOOL_BIN, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(new Error(`promtool did not run: ${err.message}`));
      else resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

/** Pipes an exposition into `promtool check metrics`, as `curl … | promtool check metrics` does. */
export async function promtoolCheckMetrics(exposition: string, timeoutMs = 10_000): Promise<PromtoolResult> {
  const child = spawn(PROMTOOL_BIN, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // promtool may exit before reading all of stdin (a parse error); its exit code tells why.
  child.stdin.on('error', () => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.stdin.end(exposition);
  try {
    // 'close', not 'exit': after it, every byte promtool printed has been read.
    const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
    return { code: code ?? signal ?? 'unknown', output };
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------
// A Prometheus server

export interface VectorSample {
  metric: Record<string, string>;
  /** [evaluation time in seconds, value as Prometheus formats it] */
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  /** Time from spawning the process to /-/ready answering 200 (the last attempt, if ports were retried). */
  readyAfterMs: number;
  output: () => string;
  /** An instant query through the HTTP API; throws unless Prometheus answers a vector. */
  query: (promql: string) => Promise<VectorSample[]>;
  /** Repeats an instant query until `accept` holds; throws with the last result after the timeout. */
  queryUntil: (
    promql: string,
    accept: (result: VectorSample[]) => boolean,
    timeoutMs?: number,
  ) => Promise<VectorSample[]>;
  /** SIGTERM, waits for the exit (SIGKILL after 10 s), removes the data; resolves with the exit code. */
  stop: () => Promise<number | string>;
}

export interface PrometheusOptions {
  /** `host:port` of the service to scrape. */
  target: string;
  job?: string;
  metricsPath?: string;
  /** Short, so that a test sees a value within seconds of the change. */
  scrapeInterval?: string;
  readyTimeoutMs?: number;
}

/**
 * Runs a real Prometheus on 127.0.0.1 scraping one target, with its configuration and storage in a
 * temporary directory, and resolves once it answers /-/ready.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPrometheusOnce(options, await freePort());
    } catch (err) {
      // Another process took the free port between freePort() and Prometheus' listen.
      const portTaken = err instanceof Error && /address already in use/.test(err.message);
      if (!portTaken || attempt >= 3) throw err;
    }
  }
}

async function startPrometheusOnce(
  {
    target,
    job = 'items',
    metricsPath = '/metrics',
    scrapeInterval = '1s',
    readyTimeoutMs = 30_000,
  }: PrometheusOptions,
  port: number,
): Promise<PrometheusServer> {
  const temp = makeTempDir('prometheus-test-');
  const configFile = path.join(temp.dir, 'prometheus.yml');
  // JSON is YAML, and spares quoting the values by hand.
  const config = {
    global: { scrape_interval: scrapeInterval, scrape_timeout: scrapeInterval, evaluation_interval: scrapeInterval },
    scrape_configs: [{ job_name: job, metrics_path: metricsPath, static_configs: [{ targets: [target] }] }],
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));

  const startedAt = performance.now();
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(temp.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { cwd: temp.dir, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  let exitCode: number | string | undefined;
  void exited.then((code) => (exitCode = code));

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited.finally(() => clearTimeout(timer));
    }
    temp.remove();
    return exited;
  };

  try {
    const deadline = startedAt + readyTimeoutMs;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`prometheus exited (${exitCode}) before it was ready:\n${output}`);
      if (performance.now() > deadline) throw new Error(`prometheus not ready in ${readyTimeoutMs} ms:\n${output}`);
      const status = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
        async (response) => (await response.arrayBuffer(), response.status),
        () => 0, // not listening yet
      );
      if (status === 200) break;
      await delay(20);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const readyAfterMs = performance.now() - startedAt;

  const query = async (promql: string): Promise<VectorSample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, {
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: [] };
    };
    if (body.status !== 'success' || body.data?.resultType !== 'vector')
      throw new Error(`query ${promql} failed (${response.status}): ${JSON.stringify(body)}`);
    return body.data.result;
  };

  const queryUntil = async (promql: string, accept: (result: VectorSample[]) => boolean, timeoutMs = 30_000) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const result = await query(promql);
      if (accept(result)) return result;
      if (performance.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting on ${promql}; last result: ${JSON.stringify(result)}`);
      await delay(100);
    }
  };

  return { url, readyAfterMs, output: () => output, query, queryUntil, stop };
}

/** One GET of a metrics endpoint, parsed. */
export interface Scrape {
  contentType: string;
  text: string;
  exposition: Exposition;
}

/** GETs `url` (the metrics endpoint itself, e.g. `${server.url}/metrics`) and parses what it serves. */
export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${text}`);
  return { contentType, text, exposition: parseExposition(text) };
}

/**
 * Scrapes until `accept` holds. The service counts a request in a hook that may run after the client
 * has read the response: a scrape right after a request can miss it.
 */
export async function scrapeUntil(
  url: string,
  accept: (exposition: Exposition) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<Scrape> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const scraped = await scrape(url);
    if (accept(scraped.exposition)) return scraped;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what} in:\n${scraped.text}`);
    await delay(20);
  }
}

/** The value of the sample with exactly these labels; undefined when there is none. */
export function sampleValue(
  exposition: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return exposition.samples.find(
    (sample) => sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted,
  )?.value;
}
