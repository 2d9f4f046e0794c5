import assert from './support/assert.js';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { dashboardQueries, readDashboard, substituteVariables, TEST_VARIABLES } from './support/grafana-dashboard.js';
import { loadRuleGroups } from './support/prometheus-rules.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { scrapeUntil } from './support/prometheus.js';
import { jsonRequest } from './support/http.js';
import { metricNamesIn, selectorsIn } from './support/promql.js';
import { stopRedisServer, testRedisUrl } from './support/redis.js';
import { type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

/**
 * Series Prometheus makes itself, for every target and every alert: not the service's to export.
 * https://prometheus.io/docs/concepts/jobs_instances/#automatically-generated-labels-and-time-series
 */
const PROMETHEUS_SERIES = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'ALERTS',
  'ALERTS_FOR_STATE',
];

interface Query {
  /** Where it is written: `rule <name>` or `dashboard <panel>`. */
  where: string;
  expr: string;
}

/**
 * The series selector of each of the dashboard's query variables: Grafana's `label_values(selector, label)`
 * lists the values of a label of the series a selector finds; with a name nobody exports, the variable's
 * list is empty and every panel filtered by it shows nothing.
 */
function variableQueries(): Query[] {
  return readDashboard()
    .templating.list.filter((variable) => variable.type === 'query')
    .map((variable) => {
      const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query: string }).query;
      const selector = /^label_values\((.+),\s*\w+\)$/.exec(query.trim())?.[1];
      if (selector === undefined) throw new Error(`variable ${variable.name}: not a label_values() query: ${query}`);
      return { where: `dashboard variable ${variable.name}`, expr: substituteVariables(selector, TEST_VARIABLES) };
    });
}

/** Every PromQL expression an operator gets from us: each rule's, each dashboard query and variable. */
function monitoringQueries(): Query[] {
  const rules = loadRuleGroups().flatMap((group) =>
    group.rules.map((rule) => ({ where: `rule ${rule.record ?? rule.alert}`, expr: rule.expr })),
  );
  const panels = dashboardQueries().map(({ panel, expr }) => ({ where: `dashboard ${panel}`, expr }));
  return [...rules, ...panels, ...variableQueries()];
}

/** Each exported sample name with the label sets of its series. */
type Series = Map<string, Record<string, string>[]>;

/**
 * The series a scrape serves, by sample name (histograms' _bucket, _sum and _count: a histogram's family
 * name selects nothing), after a few requests: a labelled family has no series until something is
 * counted in it.
 */
async function exportedSeries(server: ServerProcess, into: Series): Promise<void> {
  const created = await jsonRequest(`${server.url}/items`, 'POST', { name: 'monitoring' });
  assert.equal(created.status, 201);
  assert.equal((await jsonRequest(`${server.url}/items/${created.body.id}`, 'GET')).status, 200);
  assert.equal((await jsonRequest(`${server.url}/items`, 'GET')).status, 200);
  const { exposition } = await scrapeUntil(
    `${server.url}/metrics`,
    (scraped) =>
      scraped.samples.some((sample) => sample.name === 'http_requests_total' && sample.labels.route === '/items'),
    'the requests counted',
  );
  for (const sample of exposition.samples) into.set(sample.name, [...(into.get(sample.name) ?? []), sample.labels]);
}

/** Labels whose values depend on where the service runs, not on what it exports. */
const TARGET_LABELS = new Set(['job', 'namespace', 'instance']);

/**
 * Each equality matcher on a label the service sets (`le="0.25"`, `probe="readiness"`) that no exported
 * series of that name carries, as `where: name{label="value"}`: a selector that finds nothing, whose alert
 * can never fire. Matchers on the target's labels, and regex or negative ones, are not checked.
 */
function unmatchedLabelValues(queries: readonly Query[], series: Series): string[] {
  return queries.flatMap(({ where, expr }) =>
    selectorsIn(expr).flatMap(({ name, matchers }) => {
      const labelSets = name === undefined ? undefined : series.get(name);
      if (!labelSets) return [];
      return matchers
        .filter(({ label, op }) => op === '=' && !TARGET_LABELS.has(label))
        .filter(({ label, value }) => !labelSets.some((labels) => labels[label] === value))
        .map(({ label, value }) => `${where}: ${name}{${label}="${value}"}`);
    }),
  );
}

/** Each query's metric names that are not in `known`, as `where: name`. */
function unknownNames(queries: readonly Query[], known: ReadonlySet<string>): string[] {
  return queries.flatMap(({ where, expr }) =>
    metricNamesIn(expr)
      .filter((name) => !known.has(name))
      .map((name) => `${where}: ${name}`),
  );
}

describe('Alert rules and dashboard queries name only metrics the service exports (live scrapes)', () => {
  const temp = makeTempDir('items-monitoring-');
  const redisServers: ChildProcess[] = [];
  const servers: ServerProcess[] = [];
  let database: TestDatabase;
  let queries: Query[];
  let known: Set<string>;
  const series: Series = new Map();

  beforeAll(async () => {
    queries = monitoringQueries();
    database = await createTestDatabase();
    await database.migrate();
    const redisUrl = await testRedisUrl(redisServers);
    // The default (the JSON file), and PostgreSQL with rate limits in Redis: the pool and Redis metrics
    // exist only there, and the dashboard shows them.
    servers.push(await startServer({ DB_PATH: temp.dbPath }));
    servers.push(
      await startServer({
        STORE_DRIVER: 'postgres',
        DATABASE_URL: database.url,
        RATE_LIMIT_STORE: 'redis',
        RATE_LIMIT_MAX: '100000',
        REDIS_URL: redisUrl,
      }),
    );
    const recorded = loadRuleGroups().flatMap((group) => group.rules.flatMap((rule) => rule.record ?? []));
    for (const server of servers) await exportedSeries(server, series);
    known = new Set([...PROMETHEUS_SERIES, ...recorded, ...series.keys()]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
    await Promise.all(redisServers.map(stopRedisServer));
    temp.remove();
  });

  it('when the rules and the dashboard are read, then there are queries of both and each names at least one metric', () => {
    assert.ok(queries.filter((query) => query.where.startsWith('rule ')).length >= 10, 'rules');
    assert.ok(queries.filter((query) => query.where.startsWith('dashboard ')).length >= 10, 'dashboard queries');
    assert.ok(
      queries.some((query) => query.where === 'dashboard variable job'),
      'the job variable',
    );
    for (const { where, expr } of queries)
      assert.ok(metricNamesIn(expr).length > 0, `${where} names no metric: ${expr}`);
  });

  it('when every query is checked against what the service serves on /metrics, then none names a metric it does not export', () => {
    assert.deepEqual(unknownNames(queries, known), []);
  });

  it('when every equality matcher on a label the service sets is checked against the scraped series, then each finds one (a bucket bound, a probe, an op)', () => {
    assert.deepEqual(unmatchedLabelValues(queries, series), []);
    const checked = queries.flatMap(({ expr }) =>
      selectorsIn(expr).flatMap(({ matchers }) =>
        matchers.filter(({ label, op }) => op === '=' && !TARGET_LABELS.has(label)),
      ),
    );
    assert.ok(
      checked.some(({ label, value }) => label === 'le' && value === '0.25'),
      'the latency SLI bucket',
    );
    assert.ok(
      checked.some(({ label, value }) => label === 'probe' && value === 'readiness'),
      'the readiness probe',
    );
  });

  it('when a selector asks for a bucket bound or a label value the service does not have, then the check names it', () => {
    const bucket = [{ where: 'rule slow', expr: 'rate(http_request_duration_seconds_bucket{le="0.3"}[5m])' }];
    assert.deepEqual(unmatchedLabelValues(bucket, series), [
      'rule slow: http_request_duration_seconds_bucket{le="0.3"}',
    ]);
    const family = [{ where: 'panel family', expr: 'rate(http_request_duration_seconds[5m])' }];
    assert.deepEqual(
      unknownNames(family, known),
      ['panel family: http_request_duration_seconds'],
      'a histogram family',
    );
  });

  it('when a query misspells a metric, or names one the service does not export, then the check names it', () => {
    const typo = [{ where: 'rule typo', expr: 'sum(rate(http_request_total{job="items-service"}[5m]))' }];
    assert.deepEqual(unknownNames(typo, known), ['rule typo: http_request_total']);
    const byName = [{ where: 'panel by __name__', expr: 'rate({__name__="items_store_writes_total"}[5m])' }];
    assert.deepEqual(unknownNames(byName, known), ['panel by __name__: items_store_writes_total']);
  });
});
