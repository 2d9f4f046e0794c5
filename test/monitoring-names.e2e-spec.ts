import assert from './support/assert.js';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { dashboardQueries, readDashboard, substituteVariables, TEST_VARIABLES } from './support/grafana-dashboard.js';
import { loadRuleGroups } from './support/prometheus-rules.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { scrapeUntil } from './support/prometheus.js';
import { jsonRequest } from './support/http.js';
import { metricNamesIn } from './support/promql.js';
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

/**
 * The names a scrape serves, each sample's (histograms' _bucket, _sum, _count) and each family's, after a
 * few requests: a labelled family has no series until something is counted in it.
 */
async function exportedNames(server: ServerProcess): Promise<Set<string>> {
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
  return new Set([...exposition.types.keys(), ...exposition.samples.map((sample) => sample.name)]);
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
    known = new Set([...PROMETHEUS_SERIES, ...recorded]);
    for (const server of servers) for (const name of await exportedNames(server)) known.add(name);
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

  it('when a query misspells a metric, or names one the service does not export, then the check names it', () => {
    const typo = [{ where: 'rule typo', expr: 'sum(rate(http_request_total{job="items-service"}[5m]))' }];
    assert.deepEqual(unknownNames(typo, known), ['rule typo: http_request_total']);
    const byName = [{ where: 'panel by __name__', expr: 'rate({__name__="items_store_writes_total"}[5m])' }];
    assert.deepEqual(unknownNames(byName, known), ['panel by __name__: items_store_writes_total']);
  });
});
