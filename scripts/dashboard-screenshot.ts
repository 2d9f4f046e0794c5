/**
 * The picture of the Grafana dashboard in docs/images/dashboard.png, from real data:
 *   node build/scripts/dashboard-screenshot.js [output.png]   (npm run dashboard:screenshot builds first)
 * Starts the built service on the JSON-file store in a temporary directory and a real Prometheus scraping
 * it every 2 s, sends it a short mixed load (creates, reads, lists, updates, deletes, and 304s, 404s, 409s
 * and 412s so that the error panels have something to show), runs each panel's query over that time
 * as a range query, draws the panels where their gridPos puts them (scripts/dashboard-render.ts) and
 * photographs the page with headless Chromium.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { queryPanels, readDashboard, substituteVariables } from '../test/support/grafana-dashboard.js';
import { startPrometheus } from '../test/support/prometheus.js';
import { PROJECT_ROOT, startServer } from '../test/support/server-process.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { renderDashboardHtml, type Series } from './dashboard-render.js';

const OUTPUT = path.join(PROJECT_ROOT, 'docs/images/dashboard.png');
const JOB = 'items-service';
const SCRAPE_SECONDS = 2;
/** The range queries' step: what Grafana's $__interval would be for a few minutes over ~800 px, at least the scrape interval. */
const STEP_SECONDS = 2;
const LOAD_SECONDS = Number(process.env.DASHBOARD_LOAD_SECONDS ?? 100);
const WORKERS = 8;
const WIDTH = 1600;
const CHROMIUM = process.env.CHROMIUM ?? 'chromium';

const log = (message: string) => process.stderr.write(`dashboard-screenshot: ${message}\n`);

// ---------------------------------------------------------------------------------------------------
// The load

interface Known {
  id: string;
  etag: string;
}

/**
 * Bounded in time, to 127.0.0.1 only. The number of busy workers rises and falls over the run, so that
 * the rate panels have a shape; each worker waits a little between requests, so that the load is
 * steady rather than the most the machine can do.
 */
async function runLoad(baseUrl: string, seconds: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  const known: Known[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const pick = () => known[Math.floor(Math.random() * known.length)];

  const request = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${baseUrl}${url}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    count(response.status);
    return { status: response.status, etag: response.headers.get('etag') ?? '', text };
  };

  const once = async () => {
    const r = Math.random();
    const item = pick();
    if (r < 0.22 || !item) {
      const created = await request('POST', '/items', { name: `load item ${known.length}` });
      if (created.status === 201)
        known.push({ id: (JSON.parse(created.text) as { id: string }).id, etag: created.etag });
    } else if (r < 0.42) {
      await request('GET', `/items/${item.id}`);
    } else if (r < 0.5) {
      // A client revalidating its copy: 304 while it is current.
      await request('GET', `/items/${item.id}`, undefined, { 'if-none-match': item.etag });
    } else if (r < 0.64) {
      await request('GET', '/items?limit=20');
    } else if (r < 0.74) {
      const updated = await request('PATCH', `/items/${item.id}`, { name: `renamed ${r}` }, { 'if-match': item.etag });
      if (updated.status === 200) item.etag = updated.etag;
    } else if (r < 0.78) {
      // A stale copy: 412.
      await request('PATCH', `/items/${item.id}`, { name: 'stale' }, { 'if-match': '"0123456789abcdef"' });
    } else if (r < 0.81) {
      // The id is taken: 409.
      await request('POST', '/items', { id: item.id, name: 'duplicate' });
    } else if (r < 0.84) {
      const removed = await request('DELETE', `/items/${item.id}`, undefined, { 'if-match': item.etag });
      if (removed.status === 204) known.splice(known.indexOf(item), 1);
    } else if (r < 0.94) {
      await request('GET', `/items/${randomUUID()}`);
    } else {
      await request('GET', '/no-such-route');
    }
  };

  const worker = async (index: number) => {
    while (performance.now() < deadline) {
      const elapsed = (performance.now() - started) / 1000;
      const active = Math.round(2 + (WORKERS - 2) * (0.5 - 0.5 * Math.cos((2 * Math.PI * elapsed) / (seconds * 0.8))));
      if (index >= active) {
        await delay(200);
        continue;
      }
      await once();
      await delay(5 + Math.random() * 20);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index)));
  return statuses;
}

// ---------------------------------------------------------------------------------------------------
// Prometheus' HTTP API

async function queryRange(prometheusUrl: string, expr: string, from: number, to: number): Promise<Series[]> {
  const params = new URLSearchParams({ query: expr, start: String(from), end: String(to), step: String(STEP_SECONDS) });
  const response = await fetch(`${prometheusUrl}/api/v1/query_range?${params.toString()}`, {
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as {
    status: string;
    data?: { result: { metric: Record<string, string>; values: [number, string][] }[] };
  };
  if (body.status !== 'success' || !body.data) throw new Error(`query_range ${expr}: ${JSON.stringify(body)}`);
  return body.data.result.map(({ metric, values }) => ({
    labels: metric,
    points: values.map(([t, v]): [number, number] => [t, Number(v)]),
  }));
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${command} failed: ${err.message}\n${stdout}${stderr}`)) : resolve(),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------

async function main(output: string): Promise<void> {
  const dashboard = readDashboard();
  const temp = makeTempDir('dashboard-screenshot-');
  const server = await startServer({ DB_PATH: temp.dbPath });
  try {
    const prometheus = await startPrometheus({
      target: new URL(server.url).host,
      job: JOB,
      scrapeInterval: `${SCRAPE_SECONDS}s`,
    });
    try {
      await prometheus.queryUntil(`up{job="${JOB}"} == 1`, (result) => result.length === 1);
      // The picture spans the load and ends with it, so that the stat panels show a value under load.
      const from = Math.floor(Date.now() / 1000);
      log(`load for ${LOAD_SECONDS} s on ${server.url}`);
      const statuses = await runLoad(server.url, LOAD_SECONDS);
      const to = Math.floor(Date.now() / 1000);
      log(`answered: ${[...statuses].map(([status, n]) => `${status}×${n}`).join(', ')}`);
      // The last requests are counted in the next scrape.
      await delay(2 * SCRAPE_SECONDS * 1000);

      // As Grafana computes them for this range, a Prometheus data source with a 2 s scrape interval.
      const variables = {
        __interval: `${STEP_SECONDS}s`,
        __rate_interval: `${Math.max(STEP_SECONDS + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)}s`,
        __range: `${to - from}s`,
        job: JOB,
        namespace: '.*',
        instance: '.*',
      };
      const results = new Map<number, Map<string, Series[]>>();
      for (const panel of queryPanels(dashboard)) {
        const byRefId = new Map<string, Series[]>();
        for (const target of panel.targets ?? [])
          byRefId.set(
            target.refId,
            await queryRange(prometheus.url, substituteVariables(target.expr, variables), from, to),
          );
        results.set(panel.id, byRefId);
      }

      const { html, height } = renderDashboardHtml({
        dashboard,
        results,
        from,
        to,
        width: WIDTH,
        variables: { 'Data source': 'Prometheus', Job: JOB, Namespace: 'All', Instance: 'All' },
      });
      const page = path.join(temp.dir, 'dashboard.html');
      writeFileSync(page, html);
      mkdirSync(path.dirname(output), { recursive: true });
      await run(CHROMIUM, [
        '--headless',
        // Root in a container: Chromium's sandbox needs user namespaces it may not have.
        '--no-sandbox',
        '--disable-gpu',
        '--hide-scrollbars',
        '--force-device-scale-factor=1',
        `--user-data-dir=${path.join(temp.dir, 'chromium')}`,
        `--window-size=${WIDTH},${height}`,
        `--screenshot=${output}`,
        pathToFileURL(page).href,
      ]);
      // A few hundred colours are enough for flat panels and lines: a third of the size, for the repository.
      await run('pngquant', ['--quality=70-95', '--speed=1', '--force', `--output=${output}`, output]);
      log(`wrote ${path.relative(process.cwd(), output)} (${Math.round(statSync(output).size / 1024)} KiB)`);
    } finally {
      await prometheus.stop();
    }
  } finally {
    await server.stop();
    temp.remove();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  await main(path.resolve(process.argv[2] ?? OUTPUT));
