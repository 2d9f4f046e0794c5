import assert from './support/assert.js';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { dashboardQueries } from './support/grafana-dashboard.js';
import { loadRuleGroups } from './support/prometheus-rules.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { scrape } from './support/prometheus.js';
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

/** Every PromQL expression an operator gets from us: each rule's and each dashboard query. */
function monitoringQueries(): Query[] {
  const rules = loadRuleGroups().flatMap((group) =>
    group.rules.map((rule) => ({ where: `rule ${rule.record ?? rule.alert}`, expr: rule.expr })),
  );
  const panels = dashboardQueries().map(({ panel, expr }) => ({ where: `dashboard ${panel}`, expr }));
  return [...rules, ...panels];
}

/** The names a scrape serves: each sample's (histograms' _bucket, _sum, _count) and each family's. */
async function exportedNames(server: ServerProcess): Promise<Set<string>> {
  const { exposition } = await scrape(`${server.url}/metrics`);
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
