import assert from './support/assert.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { diagnostic } from './support/diagnostic.js';
import { Pool } from 'undici';
import { EXIT_CODES } from '../src/lifecycle/exit-codes.js';
import { assertProblem, jsonRequest } from './support/http.js';
import { logLines } from './support/logs.js';
import {
  type Exposition,
  familyOf,
  parseExposition,
  type PrometheusServer,
  promtoolCheckMetrics,
  type Scrape,
  sampleValue,
  scrape,
  scrapeUntil,
  startPrometheus,
} from './support/prometheus.js';
import { freePort } from './support/ports.js';
import { Random, seedFromEnv } from './support/random.js';
import { PROJECT_ROOT, runServerToExit, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const VERSION = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

/** Our metric families and their TYPE; everything else in /metrics is prom-client's default metrics. */
const OUR_FAMILIES: Record<string, string> = {
  http_requests_total: 'counter',
  http_request_duration_seconds: 'histogram',
  http_requests_in_flight: 'gauge',
  items_store_operations_total: 'counter',
  items_store_operation_duration_seconds: 'histogram',
  items_store_fsync_duration_seconds: 'histogram',
  items_store_items: 'gauge',
  items_store_journal_bytes: 'gauge',
  items_store_nonconforming_items: 'gauge',
  items_service_build_info: 'gauge',
};
const isOurs = (family: string) => Object.hasOwn(OUR_FAMILIES, family);

/** Every value each bounded label may take: the service's routes, methods and store outcomes. */
const LABEL_VALUES: Record<string, RegExp> = {
  method: /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|_OTHER)$/,
  route: /^(\/items|\/items\/\{id\}|\/healthz|\/readyz|\/startupz|\/metrics|\/admin\/log-level|unmatched)$/,
  status_code: /^[1-5]\d\d$/,
  op: /^(find|list|insert|replace|remove|find_idempotency_key)$/,
  outcome: /^(ok|not_found|conflict|precondition_failed|not_modified|unavailable|error)$/,
};

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

const requests = (exposition: Exposition, method: string, route: string, status: number) =>
  sampleValue(exposition, 'http_requests_total', { method, route, status_code: String(status) });

/** All requests counted, except the scrapes themselves. */
const apiRequestTotal = (exposition: Exposition) =>
  exposition.samples
    .filter((sample) => sample.name === 'http_requests_total' && sample.labels.route !== '/metrics')
    .reduce((sum, sample) => sum + sample.value, 0);

/** Distinct label sets (the series a TSDB stores) of the http_* and items_store_* families; `le` is a histogram's. */
function seriesOf(exposition: Exposition): Set<string> {
  const series = new Set<string>();
  for (const { family, labels } of exposition.samples) {
    if (!family.startsWith('http_') && !family.startsWith('items_store_')) continue;
    const key = Object.entries(labels).filter(([name]) => name !== 'le');
    series.add(`${family}${JSON.stringify(key.sort())}`);
  }
  return series;
}

/** Checks that every bounded label holds one of its few values. */
function assertBoundedLabels(exposition: Exposition): void {
  for (const { name, family, labels } of exposition.samples) {
    if (!isOurs(family)) continue;
    for (const [label, value] of Object.entries(labels)) {
      const allowed = LABEL_VALUES[label];
      if (allowed) assert.match(value, allowed, `${name} has ${label}="${value}"`);
      // The build's labels have one value per process; a label of any other name is unexpected.
      else if (label !== 'le') assert.equal(family, 'items_service_build_info', `${name} has a label ${label}`);
    }
  }
}

/** Every label value of every sample, ours and the default metrics' alike. */
const labelValues = (exposition: Exposition) =>
  new Set(exposition.samples.flatMap((sample) => Object.values(sample.labels)));

describe('Metrics (built server, GET /metrics, promtool and a real Prometheus on 127.0.0.1)', () => {
  describe('when the API has served a mix of requests (BUILD_COMMIT=abc1234)', () => {
    const temp = makeTempDir();
    let server: ServerProcess;
    let scraped: Scrape;
    const ids: string[] = [];
    const missingId = `missing-${hex(6)}`;
    const unknownSegment = `no-such-${hex(6)}`;
    beforeAll(async () => {
      server = await startServer({ DB_PATH: temp.dbPath, BUILD_COMMIT: 'abc1234' });
      const etags: string[] = [];
      for (const name of ['one', 'two', 'three']) {
        const created = await jsonRequest(`${server.url}/items`, 'POST', { name });
        assert.equal(created.status, 201);
        ids.push(created.body.id);
        etags.push(created.headers.get('etag')!);
      }
      const fetched = await jsonRequest(`${server.url}/items/${ids[0]}`, 'GET');
      assert.equal(fetched.status, 200);
      assert.equal((await jsonRequest(`${server.url}/items/${missingId}`, 'GET')).status, 404);
      assert.equal((await jsonRequest(`${server.url}/items`, 'GET')).status, 200);
      const patched = await jsonRequest(
        `${server.url}/items/${ids[0]}`,
        'PATCH',
        { name: 'renamed' },
        { 'if-match': fetched.headers.get('etag')! },
      );
      assert.equal(patched.status, 200);
      assert.equal((await jsonRequest(`${server.url}/items/${ids[1]}`, 'DELETE')).status, 204);
      // Conditions the service decides on the item it read: a 304, and a PATCH and a DELETE refused (412).
      const stale = { 'if-match': '"0.stale"' };
      const revalidated = `${server.url}/items/${ids[2]}`;
      assert.equal((await jsonRequest(revalidated, 'GET', undefined, { 'if-none-match': etags[2]! })).status, 304);
      assertProblem(await jsonRequest(revalidated, 'PATCH', { name: 'x' }, stale), 412);
      assertProblem(await jsonRequest(revalidated, 'DELETE', undefined, stale), 412);
      // Refused before the store: counted as a request, not as a store operation.
      assertProblem(await jsonRequest(revalidated, 'PATCH', { name: 'x' }, { 'if-match': 'nonsense' }), 400);
      assertProblem(await jsonRequest(revalidated, 'PUT', { name: 'x' }), 405);
      assertProblem(await jsonRequest(`${server.url}/items`, 'POST', {}), 400);
      assertProblem(await jsonRequest(`${server.url}/${unknownSegment}/x`, 'GET'), 404);
      assert.equal((await jsonRequest(`${server.url}/healthz`, 'GET')).status, 200);
      // The last request above: once it is counted, all of them are.
      scraped = await scrapeUntil(
        `${server.url}/metrics`,
        (exposition) => requests(exposition, 'GET', '/healthz', 200) === 1,
        'the /healthz request',
      );
    });
    afterAll(async () => {
      await server.stop();
      temp.remove();
    });

    it('then promtool check metrics passes all of /metrics without a remark, and our families alone too', async () => {
      assert.match(scraped.contentType, /^text\/plain; version=0\.0\.4/);

      // All of /metrics, as Prometheus' own docs pipe it. promtool exits 3 for lint remarks, 1 when it
      // cannot parse. prom-client's misnamed nodejs_active_*_total gauges are dropped (metrics.ts).
      const whole = await promtoolCheckMetrics(scraped.text);
      assert.equal(whole.code, 0, `promtool on all of /metrics: ${whole.output}`);
      assert.equal(whole.output.trim(), '', 'no remark');
      assert.ok(scraped.exposition.types.has('nodejs_active_handles'), 'the labelled gauge they summed stays');

      // Our families alone: no remark at all, and exit 0.
      const ours = scraped.text
        .split('\n')
        .filter((line) => {
          // `# HELP name …`, `# TYPE name …`, or a sample `name{…} value`.
          const name = line.startsWith('#') ? line.split(' ')[2] : line.split(/[{ ]/, 1)[0];
          return name !== undefined && isOurs(familyOf(name, scraped.exposition.types));
        })
        .join('\n');
      const checked = await promtoolCheckMetrics(`${ours}\n`);
      assert.deepEqual(checked, { code: 0, output: '' });
      const families = new Set(parseExposition(ours).samples.map((sample) => sample.family));
      assert.equal(families.size, Object.keys(OUR_FAMILIES).length, 'every family of ours went through promtool');
    });

    it('then each of our families has its TYPE, build_info names the commit and the server’s Node, and items_store_items counts the items', () => {
      const { exposition } = scraped;
      for (const [family, type] of Object.entries(OUR_FAMILIES))
        assert.equal(exposition.types.get(family), type, `# TYPE of ${family}`);
      for (const family of Object.keys(OUR_FAMILIES))
        assert.ok(
          exposition.samples.some((sample) => sample.family === family),
          `no sample of ${family}`,
        );

      const listening = logLines(server.stdout()).find((line) => line.msg === 'listening');
      assert.match(String(listening?.node_version), /^v\d+\.\d+\.\d+$/);
      const buildInfo = exposition.samples.filter((sample) => sample.family === 'items_service_build_info');
      assert.deepEqual(
        buildInfo.map(({ labels, value }) => ({ labels, value })),
        [{ labels: { version: VERSION, commit: 'abc1234', node_version: listening!.node_version }, value: 1 }],
      );

      // Three created, one deleted.
      assert.equal(sampleValue(exposition, 'items_store_items'), 2);
      assert.ok(sampleValue(exposition, 'items_store_journal_bytes')! > 0, 'the journal holds the writes');

      // Each store operation once per call the API made: a PATCH reads before it writes, and so does a
      // DELETE with If-Match. A condition decided on the item read is counted on the operation it
      // answers: the 304 on find (whose read is also counted, ok), the 412s on the writes never made.
      const operations = Object.fromEntries(
        exposition.samples
          .filter((sample) => sample.name === 'items_store_operations_total')
          .map(({ labels, value }) => [`${labels.op} ${labels.outcome}`, value]),
      );
      assert.deepEqual(operations, {
        'insert ok': 3,
        'find ok': 5,
        'find not_found': 1,
        'find not_modified': 1,
        'list ok': 1,
        'replace ok': 1,
        'replace precondition_failed': 1,
        'remove ok': 1,
        'remove precondition_failed': 1,
      });
      // One duration per store operation, whatever its outcome; a refused write took no store time.
      for (const [op, count] of Object.entries({ insert: 3, find: 6, list: 1, replace: 1, remove: 1 }))
        assert.equal(
          sampleValue(exposition, 'items_store_operation_duration_seconds_count', { op }),
          count,
          `duration count of ${op}`,
        );
      const fsyncs = sampleValue(exposition, 'items_store_fsync_duration_seconds_count')!;
      assert.ok(fsyncs >= 1 && fsyncs <= 5, `${fsyncs} fsyncs for 5 sequential writes`);
      assert.equal(sampleValue(exposition, 'http_requests_in_flight'), 1, 'the scrape itself is in flight');
    });

    it('then requests are counted by route template (/items/{id}, unmatched), with a histogram per series, and no id or path in any label', () => {
      const { exposition } = scraped;
      const counted = Object.fromEntries(
        exposition.samples
          .filter((sample) => sample.name === 'http_requests_total' && sample.labels.route !== '/metrics')
          .map(({ labels, value }) => [`${labels.method} ${labels.route} ${labels.status_code}`, value]),
      );
      assert.deepEqual(counted, {
        'POST /items 201': 3,
        'GET /items/{id} 200': 1,
        'GET /items/{id} 404': 1,
        'GET /items 200': 1,
        'PATCH /items/{id} 200': 1,
        'DELETE /items/{id} 204': 1,
        'POST /items 400': 1,
        'GET /items/{id} 304': 1,
        'PATCH /items/{id} 412': 1,
        'DELETE /items/{id} 412': 1,
        'PATCH /items/{id} 400': 1,
        'PUT unmatched 405': 1,
        'GET unmatched 404': 1,
        'GET /healthz 200': 1,
      });

      // The histogram has the counter's series, and its +Inf bucket and count agree with the counter.
      for (const sample of exposition.samples.filter((s) => s.name === 'http_requests_total')) {
        const count = sampleValue(exposition, 'http_request_duration_seconds_count', sample.labels);
        assert.equal(count, sample.value, `histogram count of ${JSON.stringify(sample.labels)}`);
        const inf = sampleValue(exposition, 'http_request_duration_seconds_bucket', { ...sample.labels, le: '+Inf' });
        assert.equal(inf, sample.value);
      }

      assertBoundedLabels(exposition);
      const values = [...labelValues(exposition)];
      for (const secret of [...ids, missingId, unknownSegment])
        assert.deepEqual(
          values.filter((value) => value.includes(secret)),
          [],
          `${secret} in a label`,
        );
    });
    it('then a request Fastify refuses before routing (bad percent-encoding: 400, over-long id: 414) is counted too', async () => {
      const counted = (exposition: Exposition, status: string) =>
        exposition.samples
          .filter((sample) => sample.name === 'http_requests_total' && sample.labels.status_code === status)
          .reduce((sum, sample) => sum + sample.value, 0);
      const url = `${server.url}/metrics`;
      const { exposition: start } = await scrape(url);
      assertProblem(await jsonRequest(`${server.url}/items/%zz`, 'GET'), 400);
      assertProblem(await jsonRequest(`${server.url}/items/${'a'.repeat(101)}`, 'GET'), 414);
      // Counted after the response: given a moment, then compared (a short message, not the whole scrape).
      const found = await scrapeUntil(
        url,
        (exposition) => counted(exposition, '414') > counted(start, '414'),
        '414',
        1_000,
      )
        .then((scraped) => scraped.exposition)
        .catch(async () => (await scrape(url)).exposition);
      assert.equal(counted(found, '400') - counted(start, '400'), 1, 'the 400 counted');
      assert.equal(counted(found, '414') - counted(start, '414'), 1, 'the 414 counted');
    });
  });

  describe('when a real Prometheus scrapes the service every second', () => {
    const temp = makeTempDir();
    let server: ServerProcess;
    let prometheus: PrometheusServer | undefined;
    beforeAll(async () => {
      server = await startServer({ DB_PATH: temp.dbPath, BUILD_COMMIT: 'def5678' });
    });
    afterAll(async () => {
      await prometheus?.stop();
      await server.stop();
      temp.remove();
    });

    it('then up is 1, and the request counter, build info and a default process metric are queryable', async () => {
      const creates = 3;
      for (let i = 0; i < creates; i++)
        assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { name: `scraped ${i}` })).status, 201);

      const target = new URL(server.url).host;
      const startedAt = performance.now();
      prometheus = await startPrometheus({ target, job: 'items' });
      diagnostic(`prometheus ready after ${Math.round(prometheus.readyAfterMs)} ms`);

      // Prometheus 2.42 hands new targets to its scrape manager on a fixed 5 s tick (no flag changes it):
      // the first scrape comes 5-6 s after the start, whatever the scrape interval.
      const up = await prometheus.queryUntil('up{job="items"}', (result) => result[0]?.value[1] === '1');
      diagnostic(`up == 1 after ${Math.round(performance.now() - startedAt)} ms`);
      assert.equal(up.length, 1);
      assert.equal(up[0]!.metric.instance, target);

      // Prometheus may first store a scrape taken before the last onResponse hook ran: wait for the value.
      const counted = await prometheus.queryUntil(
        'http_requests_total{job="items",route="/items"}',
        (result) => result.length === 1 && result[0]!.value[1] === String(creates),
      );
      assert.deepEqual(counted[0]!.metric, {
        __name__: 'http_requests_total',
        job: 'items',
        instance: target,
        method: 'POST',
        route: '/items',
        status_code: '201',
      });
      diagnostic(
        `http_requests_total{route="/items"} == ${creates} after ${Math.round(performance.now() - startedAt)} ms`,
      );

      const buildInfo = await prometheus.query('items_service_build_info{job="items"}');
      assert.equal(buildInfo.length, 1);
      assert.equal(buildInfo[0]!.value[1], '1');
      assert.equal(buildInfo[0]!.metric.commit, 'def5678');
      assert.equal(buildInfo[0]!.metric.version, VERSION);
      assert.match(buildInfo[0]!.metric.node_version!, /^v\d+\.\d+\.\d+$/);

      const rss = await prometheus.query('process_resident_memory_bytes{job="items"}');
      assert.equal(rss.length, 1);
      assert.ok(Number(rss[0]!.value[1]) > 1_000_000, `resident memory ${rss[0]!.value[1]} bytes`);

      // Prometheus' scrapes are requests too, each counted after its response: seen from the second on.
      const scrapes = await prometheus.queryUntil(
        'http_requests_total{job="items",route="/metrics"}',
        (result) => result.length === 1 && Number(result[0]!.value[1]) >= 1,
      );
      assert.equal(scrapes[0]!.metric.method, 'GET');
      assert.equal(scrapes[0]!.metric.status_code, '200');

      assert.equal(await prometheus.stop(), 0);
      prometheus = undefined;
    });
  });

  describe('when 10,000 requests go to random paths, ids, methods and query strings', () => {
    const REQUESTS = 10_000;
    const CONCURRENCY = 32;
    const EXISTING = 300;
    /** On unknown paths: the label's known methods, and two it folds into _OTHER. */
    const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'PURGE'];
    /**
     * Writes to an unknown path carry a JSON body: without one the service answers 415, not 404 (its
     * "a write needs a JSON body" hook runs for the not-found handler too), a status of its own.
     */
    const unknownPath = (method: string, path: string, body = '{}'): Call =>
      ['POST', 'PUT', 'PATCH'].includes(method) ? { method, path, body } : { method, path };
    /** First path segments that lead to a route; a random path must not start with one. */
    const ROUTE_ROOTS = new Set(['', 'items', 'healthz', 'readyz', 'startupz', 'metrics', 'admin']);
    const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-';

    const temp = makeTempDir();
    let server: ServerProcess;
    let pool: Pool;
    beforeAll(async () => {
      server = await startServer({ DB_PATH: temp.dbPath });
      pool = new Pool(server.url, { connections: CONCURRENCY });
    });
    afterAll(async () => {
      await pool.close();
      await server.stop();
      temp.remove();
    });

    interface Call {
      method: string;
      path: string;
      headers?: Record<string, string>;
      body?: string;
    }

    async function send({ method, path, headers, body }: Call): Promise<{ status: number; id?: string }> {
      const response = await pool.request({
        method,
        path,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await response.body.text();
      const id = response.statusCode === 201 ? (JSON.parse(text) as { id: string }).id : undefined;
      return { status: response.statusCode, id };
    }

    it('then the number of series after them is the number after a warm-up touching each kind once, and no label holds a random string', async () => {
      const seed = seedFromEnv('METRICS_SEED');
      diagnostic(`seed ${seed} (METRICS_SEED=${seed} repeats this run)`);
      const random = new Random(seed);
      const metricsUrl = `${server.url}/metrics`;
      const initial = await scrape(metricsUrl);

      // Warm-up: items to hit, then each kind of request below once, with each of its outcomes.
      const created = await Promise.all(
        Array.from({ length: EXISTING + 3 }, (_, i) =>
          send({ method: 'POST', path: '/items', body: JSON.stringify({ name: `existing ${i}` }) }),
        ),
      );
      assert.ok(
        created.every((response) => response.status === 201),
        'every warm-up create succeeded',
      );
      const [hit, stale, gone, ...existing] = created.map((response) => response.id!);
      const staleTag = { 'if-match': '"0.stale"' };
      const warmUp: [Call, number][] = [
        ...METHODS.map((method): [Call, number] => [unknownPath(method, `/warm-up/${method}?a=b`), 404]),
        [{ method: 'GET', path: `/items/${hit}` }, 200],
        [{ method: 'GET', path: '/items/warm-up-missing' }, 404],
        [{ method: 'PATCH', path: `/items/${hit}`, body: '{"name":"patched"}' }, 200],
        [{ method: 'PATCH', path: '/items/warm-up-missing', body: '{"name":"x"}' }, 404],
        [{ method: 'PATCH', path: `/items/${stale}`, body: '{"name":"x"}', headers: staleTag }, 412],
        [{ method: 'DELETE', path: `/items/${gone}`, headers: staleTag }, 412],
        [{ method: 'DELETE', path: `/items/${gone}` }, 204],
        [{ method: 'DELETE', path: '/items/warm-up-missing' }, 404],
        [{ method: 'DELETE', path: '/items/warm-up-missing', headers: staleTag }, 404],
      ];
      for (const [call, status] of warmUp)
        assert.equal((await send(call)).status, status, `${call.method} ${call.path}`);
      const expectedAfterWarmUp = apiRequestTotal(initial.exposition) + EXISTING + 3 + warmUp.length;
      const warmed = await scrapeUntil(
        metricsUrl,
        (exposition) => apiRequestTotal(exposition) === expectedAfterWarmUp,
        'the warm-up requests',
      );

      // The random requests. Strings of 8 characters or more are kept to look for in the labels:
      // shorter ones could be in a label by chance ("GET" holds "E").
      const randomStrings = new Set<string>();
      const keep = (value: string) => {
        if (value.length >= 8) randomStrings.add(value);
        return value;
      };
      const randomText = (min: number, max: number) => {
        let text = '';
        for (let i = random.int(min, max); i > 0; i--)
          // Mostly URL-safe, some ASCII punctuation and some non-ASCII (BMP, no surrogates), to percent-encode.
          text +=
            random.next() < 0.8
              ? random.pick([...ID_CHARS])
              : String.fromCodePoint(random.next() < 0.5 ? random.int(0x20, 0x7e) : random.int(0xa0, 0xd7ff));
        return keep(text);
      };
      const randomId = () => keep(Array.from({ length: random.int(1, 64) }, () => random.pick([...ID_CHARS])).join(''));
      const randomQuery = () => {
        if (random.next() < 0.5) return '';
        const pairs = Array.from({ length: random.int(1, 5) }, () => {
          const key = encodeURIComponent(randomText(1, 20));
          return random.next() < 0.2 ? key : `${key}=${keep(encodeURIComponent(randomText(0, 30)))}`;
        });
        return `?${pairs.join('&')}`;
      };
      const randomPath = () => {
        for (;;) {
          const segments = Array.from({ length: random.int(1, 6) }, () => randomText(1, 40));
          if (ROUTE_ROOTS.has(segments[0]!)) continue;
          return `/${segments.map((segment) => keep(encodeURIComponent(segment))).join('/')}`;
        }
      };
      const randomIfMatch = () =>
        random.next() < 0.5 ? undefined : { 'if-match': `"${random.int(1, 99)}.${keep(randomId())}"` };
      // A write takes an existing item at most once: two writes to one item could race, and a lost race
      // is an outcome (replace/precondition_failed) no warm-up request can be relied on to produce.
      const unwritten = [...existing];
      const writeTarget = () => (random.next() < 0.1 && unwritten.length > 0 ? unwritten.pop()! : randomId());

      const calls: Call[] = Array.from({ length: REQUESTS }, () => {
        const kind = random.next();
        if (kind < 0.4)
          return unknownPath(
            random.pick(METHODS),
            `${randomPath()}${randomQuery()}`,
            JSON.stringify({ [randomText(1, 20)]: randomText(0, 40) }),
          );
        if (kind < 0.7) {
          const id = random.next() < 0.1 ? random.pick(existing) : randomId();
          return { method: 'GET', path: `/items/${id}${randomQuery()}` };
        }
        if (kind < 0.85)
          return {
            method: 'PATCH',
            path: `/items/${writeTarget()}`,
            headers: randomIfMatch(),
            body: JSON.stringify({ name: randomText(1, 50).trim() || 'x' }),
          };
        return { method: 'DELETE', path: `/items/${writeTarget()}`, headers: randomIfMatch() };
      });

      const statuses = new Map<number, number>();
      let next = 0;
      const startedAt = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < calls.length) {
            const { status } = await send(calls[next++]!);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }),
      );
      const elapsedMs = performance.now() - startedAt;
      const tally = [...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}: ${count}`);
      diagnostic(
        `${REQUESTS} requests, ${CONCURRENCY} in flight: ${Math.round(elapsedMs)} ms (${Math.round(REQUESTS / (elapsedMs / 1000))}/s); ${tally.join(', ')}`,
      );
      assert.deepEqual(
        [...statuses.keys()].filter((status) => ![200, 204, 404, 412].includes(status)),
        [],
        'only the statuses the warm-up produced',
      );

      const final = await scrapeUntil(
        metricsUrl,
        (exposition) => apiRequestTotal(exposition) >= expectedAfterWarmUp + REQUESTS,
        'the random requests',
      );
      assert.equal(apiRequestTotal(final.exposition), expectedAfterWarmUp + REQUESTS, 'each request counted once');

      const initialSeries = seriesOf(initial.exposition);
      const warmSeries = seriesOf(warmed.exposition);
      const finalSeries = seriesOf(final.exposition);
      const sampleLines = (s: Scrape) => s.text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
      diagnostic(
        `http_* and items_store_* series: ${initialSeries.size} at start, ${warmSeries.size} after the warm-up, ${finalSeries.size} after ${REQUESTS} random requests`,
      );
      diagnostic(
        `sample lines of all of /metrics: ${sampleLines(initial).length}, ${sampleLines(warmed).length}, ${sampleLines(final).length}`,
      );
      // prom-client's default metrics may grow too (a new GC kind, a new kind of active resource):
      // reported, not asserted, since what they count is Node's, not the requests'.
      const linesByFamily = (s: Scrape) =>
        s.exposition.samples.reduce(
          (counts, { family }) => counts.set(family, (counts.get(family) ?? 0) + 1),
          new Map<string, number>(),
        );
      const [warmLines, finalLines] = [linesByFamily(warmed), linesByFamily(final)];
      const grown = [...finalLines]
        .filter(([family, count]) => count !== (warmLines.get(family) ?? 0))
        .map(([family, count]) => `${family} ${warmLines.get(family) ?? 0} -> ${count}`);
      diagnostic(`sample lines that changed during the random requests: ${grown.join(', ') || 'none'}`);
      assert.deepEqual(
        [...finalSeries].filter((series) => !warmSeries.has(series)),
        [],
        'series that only the random requests made',
      );
      assert.equal(finalSeries.size, warmSeries.size);

      assertBoundedLabels(final.exposition);
      const leaked = [...labelValues(final.exposition)].filter((value) =>
        [...randomStrings].some((text) => value.includes(text)),
      );
      assert.deepEqual(leaked, [], `label values holding one of ${randomStrings.size} random strings`);
      diagnostic(`${randomStrings.size} random strings of 8+ characters, none in a label`);
    });
  });

  describe('when METRICS_PORT is set', () => {
    const temp = makeTempDir();
    afterAll(() => temp.remove());

    it('then /metrics is served on that port only: the API port answers 404 problem+json for it, and the metrics port 404 for any other path and 405 with Allow for any other method', async () => {
      const metricsPort = await freePort();
      const server = await startServer({ DB_PATH: temp.dbPath, METRICS_PORT: String(metricsPort) });
      const metricsUrl = `http://127.0.0.1:${metricsPort}`;
      try {
        const started = logLines(server.stdout()).find((line) => line.msg === 'metrics listening');
        assert.equal(started?.address, `127.0.0.1:${metricsPort}`);

        assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { name: 'on the API port' })).status, 201);
        const first = await scrapeUntil(
          `${metricsUrl}/metrics`,
          (exposition) => requests(exposition, 'POST', '/items', 201) === 1,
          'the POST on the metrics port',
        );
        assert.match(first.contentType, /^text\/plain; version=0\.0\.4/);
        assert.equal(sampleValue(first.exposition, 'items_store_items'), 1);

        const onApiPort = await jsonRequest(`${server.url}/metrics`, 'GET');
        assertProblem(onApiPort, 404);
        const second = await scrapeUntil(
          `${metricsUrl}/metrics`,
          (exposition) => requests(exposition, 'GET', 'unmatched', 404) === 1,
          'GET /metrics on the API port counted as unmatched',
        );
        // Scrapes on the metrics port do not pass through the API, so they are not API requests.
        assert.deepEqual(
          second.exposition.samples.filter((sample) => sample.labels.route === '/metrics'),
          [],
        );

        for (const [method, path] of [
          ['GET', '/other'],
          ['GET', '/'],
          ['GET', '/metrics/extra'],
          ['POST', '/other'],
        ] as const) {
          const response = await fetch(`${metricsUrl}${path}`, { method, signal: AbortSignal.timeout(5_000) });
          assert.equal(response.status, 404, `${method} ${path} on the metrics port`);
          assert.equal(response.headers.get('allow'), null, `${method} ${path} on the metrics port`);
          await response.arrayBuffer();
        }
        for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
          const response = await fetch(`${metricsUrl}/metrics`, { method, signal: AbortSignal.timeout(5_000) });
          assert.equal(response.status, 405, `${method} /metrics on the metrics port`);
          assert.equal(response.headers.get('allow'), 'GET, HEAD', `${method} /metrics on the metrics port`);
          await response.arrayBuffer();
        }
        const head = await fetch(`${metricsUrl}/metrics`, { method: 'HEAD', signal: AbortSignal.timeout(5_000) });
        assert.equal(head.status, 200);
        assert.match(head.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
        assert.equal(await head.text(), '');
        const withQuery = await fetch(`${metricsUrl}/metrics?x=1`, { signal: AbortSignal.timeout(5_000) });
        assert.equal(withQuery.status, 200);
        await withQuery.arrayBuffer();
      } finally {
        // The metrics server closes with the app: a clean shutdown.
        assert.equal(await server.stop(), 0);
      }
    });

    it('then a METRICS_PORT already in use stops start-up with exit code 1 (failed) and a message naming it, before the API listens', async () => {
      const blocker = net.createServer();
      blocker.listen(0, '127.0.0.1');
      await new Promise((resolve) => blocker.once('listening', resolve));
      const { port } = blocker.address() as net.AddressInfo;
      try {
        const exited = await runServerToExit({ DB_PATH: temp.dbPath, METRICS_PORT: String(port) });
        assert.equal(exited.code, EXIT_CODES.failed, `${exited.stdout}\n${exited.stderr}`);
        assert.match(exited.stderr, new RegExp(`METRICS_PORT ${port} cannot be listened on \\(EADDRINUSE\\)`));
        assert.doesNotMatch(exited.stdout, /"msg":"listening"/);
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
    });
  });
});
