import assert from './support/assert.js';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  allPanels,
  type Dashboard,
  DASHBOARD_FILE,
  dashboardQueries,
  type DashboardPanel,
  type GridPos,
  queryPanels,
  readDashboard,
  type SchemaProblem,
  substituteVariables,
  TEST_VARIABLES,
  validateWithGrafanaSchema,
} from './support/grafana-dashboard.js';
import { runPromtool } from './support/prometheus.js';
import { PROJECT_ROOT } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** The newest dashboard schema version the schema library knows (Grafana migrates older ones on load). */
const LATEST_SCHEMA_VERSION = Number(
  /schemaVersion: (\d+)/.exec(
    readFileSync(
      path.join(PROJECT_ROOT, 'node_modules/@grafana/schema/dist/esm/raw/dashboard/x/types.gen.mjs'),
      'utf8',
    ),
  )?.[1],
);
/**
 * The fields of Grafana's Prometheus query (its dataquery schema). @grafana/schema types a panel's targets
 * as open records, so a misspelt `legendFormat` would pass the schema check: this list catches it.
 */
const PROMETHEUS_QUERY_FIELDS = new Set([
  'datasource',
  'editorMode',
  'exemplar',
  'expr',
  'format',
  'hide',
  'instant',
  'interval',
  'intervalFactor',
  'legendFormat',
  'queryType',
  'range',
  'refId',
]);
const SERVICE_METRIC = /\b(?:http|items|nodejs|process)_[a-z_]+/g;

/** A copy of the dashboard with one thing broken, as JSON text. */
function brokenCopy(dashboard: Dashboard, breakIt: (copy: Dashboard) => void): string {
  const copy = structuredClone(dashboard);
  breakIt(copy);
  return JSON.stringify(copy, null, 2);
}

function panelOfType(dashboard: Dashboard, type: string): DashboardPanel {
  const panel = queryPanels(dashboard).find((candidate) => candidate.type === type);
  assert.ok(panel, `no ${type} panel`);
  return panel;
}

const overlaps = (a: GridPos, b: GridPos) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** promtool's exit code and everything it printed. */
const promtoolOutput = async (args: string[]) => {
  const { code, stdout, stderr } = await runPromtool(args);
  return { code, output: stdout + stderr };
};

/** Each query as a recording rule: `promtool check rules` parses every expression with Prometheus' parser. */
function writeRulesFile(file: string, queries: readonly { panel: string; expr: string }[]): void {
  const rules = queries.map(({ expr }, index) => ({ record: `dashboard:query_${index}`, expr }));
  // JSON is YAML.
  writeFileSync(file, JSON.stringify({ groups: [{ name: 'items-service-dashboard', rules }] }, null, 2));
}

const describeProblems = (problems: readonly SchemaProblem[]) =>
  problems.map((problem) => `line ${problem.line} (${problem.text}): ${problem.message}`).join('\n');

// ---------------------------------------------------------------------------------------------------

describe('Grafana dashboard helm/items-service/files/grafana/items-service.json', () => {
  const dashboard = readDashboard();
  const panels = allPanels(dashboard);

  describe("when it is type-checked against Grafana's schema (@grafana/schema)", () => {
    const firstTimeseries = (copy: Dashboard) => panelOfType(copy, 'timeseries');
    const broken = new Map<string, { json: string; expected: RegExp }>([
      [
        'a misspelt panel field (gridpos)',
        {
          json: brokenCopy(dashboard, (copy) => {
            const panel = firstTimeseries(copy);
            panel.gridpos = panel.gridPos;
            delete (panel as Partial<DashboardPanel>).gridPos;
          }),
          expected: /TS2353: .*'"gridpos"' does not exist/,
        },
      ],
      [
        'a misspelt option of the panel type (legend.showLegnd)',
        {
          json: brokenCopy(dashboard, (copy) => {
            const legend = (firstTimeseries(copy).options as any).legend;
            legend.showLegnd = legend.showLegend;
            delete legend.showLegend;
          }),
          expected: /'"showLegnd"' does not exist/,
        },
      ],
      [
        'a panel type Grafana does not have (graph, the removed Angular panel)',
        {
          json: brokenCopy(dashboard, (copy) => (firstTimeseries(copy).type = 'graph')),
          expected: /Type '"graph"' is not assignable to type '"timeseries" \| "heatmap"/,
        },
      ],
      [
        'a value of the wrong type (lineWidth "1")',
        {
          json: brokenCopy(
            dashboard,
            (copy) => ((firstTimeseries(copy).fieldConfig!.defaults.custom as any).lineWidth = '1'),
          ),
          expected: /Type 'string' is not assignable to type 'number'/,
        },
      ],
      [
        'a value no enum of the schema has (drawStyle "lines")',
        {
          json: brokenCopy(
            dashboard,
            (copy) => (firstTimeseries(copy).fieldConfig!.defaults.custom!.drawStyle = 'lines'),
          ),
          expected: /Type '"lines"' is not assignable to type '"line" \| "bars" \| "points"/,
        },
      ],
      [
        'a required field missing (schemaVersion)',
        {
          json: brokenCopy(dashboard, (copy) => delete (copy as Partial<Dashboard>).schemaVersion),
          expected: /Property 'schemaVersion' is missing/,
        },
      ],
    ]);
    let problems: Map<string, SchemaProblem[]>;

    beforeAll(async () => {
      problems = await validateWithGrafanaSchema(
        new Map([
          ['dashboard', readFileSync(DASHBOARD_FILE, 'utf8')],
          ...[...broken].map(([name, { json }]) => [name, json] as const),
        ]),
      );
    });

    it('then the dashboard has no problem', () => {
      assert.equal(describeProblems(problems.get('dashboard')!), '');
    });

    it.each([...broken.keys()])('then a copy with %s fails, naming it', (name) => {
      const found = problems.get(name)!;
      assert.ok(found.length > 0, `${name}: the schema check found nothing`);
      assert.ok(
        found.some((problem) => broken.get(name)!.expected.test(problem.message)),
        `${name}: no problem matches ${broken.get(name)!.expected}:\n${describeProblems(found)}`,
      );
    });

    it(`then its schemaVersion is one of a recent Grafana's (39 to the schema's ${LATEST_SCHEMA_VERSION})`, () => {
      assert.ok(LATEST_SCHEMA_VERSION >= 39, `the schema library's version: ${LATEST_SCHEMA_VERSION}`);
      assert.ok(
        dashboard.schemaVersion >= 39 && dashboard.schemaVersion <= LATEST_SCHEMA_VERSION,
        `schemaVersion ${dashboard.schemaVersion}`,
      );
    });
  });

  describe('when each query, its Grafana variables replaced, is checked by promtool check rules', () => {
    const temp = makeTempDir('grafana-dashboard-');
    afterAll(() => temp.remove());
    const queries = dashboardQueries(dashboard);

    it('then promtool parses every one', async () => {
      const file = path.join(temp.dir, 'dashboard-rules.yml');
      writeRulesFile(file, queries);
      const { code, output } = await promtoolOutput(['check', 'rules', file]);
      assert.equal(code, 0, output);
      assert.match(output, new RegExp(`SUCCESS: ${queries.length} rules found`));
      assert.ok(queries.length >= 20, `only ${queries.length} queries`);
    });

    it('then a copy with one query broken fails, so the check can fail', async () => {
      const file = path.join(temp.dir, 'broken-rules.yml');
      writeRulesFile(file, [...queries, { panel: 'broken', expr: 'sum by (route) (rate(http_requests_total[1m])' }]);
      const { code, output } = await promtoolOutput(['check', 'rules', file]);
      assert.notEqual(code, 0);
      assert.match(output, /unclosed left parenthesis/);
    });

    it('then every query has the same panel name once per target, and no variable is left in it', () => {
      assert.equal(queries.length, queryPanels(dashboard).flatMap((panel) => panel.targets ?? []).length);
      for (const { panel, expr } of queries) assert.doesNotMatch(expr, /\$|\[\[/, panel);
      assert.throws(() => substituteVariables('rate(x[$__rate_intervl])', TEST_VARIABLES), /\$__rate_intervl/);
    });
  });

  describe('when the 5xx error-ratio panels read series with no namespace label, probe 503s and 499s (promtool test rules)', () => {
    const temp = makeTempDir('grafana-dashboard-');
    afterAll(() => temp.remove());

    it('then they count as the availability SLO does: the stat leaves the probes and 499s out, the per-route panel the 499s', async () => {
      const exprOf = (title: string) => {
        const panel = queryPanels(dashboard).find((candidate) => candidate.title === title);
        assert.ok(panel, `no panel ${title}`);
        // 5m: a window that holds several of the 1-minute samples below.
        return substituteVariables(panel.targets![0]!.expr, { ...TEST_VARIABLES, __rate_interval: '5m' });
      };
      const rules = path.join(temp.dir, 'error-ratio.rules.yml');
      writeFileSync(
        rules,
        JSON.stringify({
          groups: [
            {
              name: 'dashboard',
              rules: [
                { record: 'dashboard:errors:ratio', expr: exprOf('5xx error ratio') },
                { record: 'dashboard:errors_by_route:ratio', expr: exprOf('5xx error ratio by route') },
              ],
            },
          ],
        }),
      );
      // Under docker compose: no namespace label, so only `namespace=~".*"` (All) selects these.
      const series = (route: string, status: string, perMinute: number) => ({
        series: `http_requests_total{job="items-service", instance="items:8080", method="GET", route="${route}", status_code="${status}"}`,
        values: `0+${perMinute}x10`,
      });
      const tests = path.join(temp.dir, 'error-ratio.test.yml');
      writeFileSync(
        tests,
        JSON.stringify({
          rule_files: [rules],
          evaluation_interval: '1m',
          tests: [
            {
              interval: '1m',
              input_series: [
                series('/items', '200', 990),
                series('/items', '500', 10),
                series('/items', '499', 9000),
                series('/readyz', '503', 1000),
              ],
              promql_expr_test: [
                {
                  expr: 'round(dashboard:errors:ratio, 0.0001)',
                  eval_time: '10m',
                  exp_samples: [{ labels: '{}', value: 0.01 }],
                },
                {
                  expr: 'round(dashboard:errors_by_route:ratio, 0.0001)',
                  eval_time: '10m',
                  exp_samples: [
                    { labels: '{method="GET", route="/items"}', value: 0.01 },
                    { labels: '{method="GET", route="/readyz"}', value: 1 },
                  ],
                },
              ],
            },
          ],
        }),
      );
      const { code, output } = await promtoolOutput(['test', 'rules', tests]);
      assert.equal(code, 0, output);
      assert.match(output, /SUCCESS/);
    });
  });

  describe('when its structure is read', () => {
    it('then every panel id is unique, rows and the panels of a collapsed row included', () => {
      const ids = panels.map((panel) => panel.id);
      assert.ok(
        ids.every((id) => Number.isInteger(id) && id > 0),
        `ids: ${ids.join(', ')}`,
      );
      assert.equal(new Set(ids).size, ids.length, `ids: ${ids.join(', ')}`);
    });

    it('then every panel and every query uses the ${datasource} variable, a Prometheus data source', () => {
      const datasource = dashboard.templating.list.find((variable) => variable.name === 'datasource');
      assert.equal(datasource?.type, 'datasource');
      assert.equal(datasource?.query, 'prometheus');
      for (const panel of queryPanels(dashboard)) {
        assert.deepEqual(panel.datasource, DATASOURCE, panel.title);
        assert.ok((panel.targets ?? []).length > 0, `${panel.title}: no query`);
        for (const target of panel.targets!) assert.deepEqual(target.datasource ?? DATASOURCE, DATASOURCE, panel.title);
      }
    });

    it('then each query has only fields of a Prometheus query, a refId unique in its panel and an expression', () => {
      for (const panel of queryPanels(dashboard)) {
        const refIds = panel.targets!.map((target) => target.refId);
        assert.equal(new Set(refIds).size, refIds.length, `${panel.title}: refIds ${refIds.join(', ')}`);
        for (const target of panel.targets!) {
          const unknown = Object.keys(target).filter((key) => !PROMETHEUS_QUERY_FIELDS.has(key));
          assert.deepEqual(unknown, [], `${panel.title} [${target.refId}]`);
          assert.ok(typeof target.expr === 'string' && target.expr.trim() !== '', `${panel.title}: no expr`);
        }
      }
    });

    it('then the job, namespace and instance variables select the service: job from build info, namespace and instance multi with All', () => {
      const variable = (name: string) => dashboard.templating.list.find((candidate) => candidate.name === name);
      const job = variable('job');
      assert.equal(job?.type, 'query');
      assert.equal(job?.query, 'label_values(items_service_build_info, job)');
      assert.deepEqual(job?.datasource, DATASOURCE);
      assert.equal(job?.current?.value, 'items-service');
      const namespace = variable('namespace');
      assert.equal(namespace?.type, 'query');
      assert.equal(namespace?.query, 'label_values(items_service_build_info{job="$job"}, namespace)');
      assert.deepEqual(namespace?.datasource, DATASOURCE);
      assert.equal(namespace?.multi, true);
      assert.equal(namespace?.includeAll, true);
      // Under docker compose there is no namespace label and so no value to pick: All must still select
      // everything, and `namespace=~".*"` matches a series without the label.
      assert.equal(namespace?.allValue, '.*');
      const instance = variable('instance');
      assert.equal(instance?.type, 'query');
      assert.equal(
        instance?.query,
        'label_values(items_service_build_info{job="$job", namespace=~"$namespace"}, instance)',
      );
      assert.deepEqual(instance?.datasource, DATASOURCE);
      assert.equal(instance?.multi, true);
      assert.equal(instance?.includeAll, true);
      // `instance=~"$instance"` with All: one regex rather than every instance's name in the query.
      assert.equal(instance?.allValue, '.*');
      // Each variable's query reads the ones before it, so Grafana must list them in that order.
      assert.deepEqual(
        dashboard.templating.list.map((candidate) => candidate.name),
        ['datasource', 'job', 'namespace', 'instance'],
      );
    });

    it('then every series selector is limited to $job, $namespace and $instance, and every rate window is $__rate_interval', () => {
      for (const panel of queryPanels(dashboard)) {
        for (const target of panel.targets!) {
          const where = `${panel.title} [${target.refId}]: ${target.expr}`;
          const selectors = [...target.expr.matchAll(/([a-z_:]+)\{([^}]*)\}/g)];
          const metrics = [...target.expr.matchAll(SERVICE_METRIC)];
          assert.ok(selectors.length > 0, where);
          // A metric name not followed by its selector would read every job's series.
          assert.equal(metrics.length, selectors.length, where);
          for (const [, , matchers] of selectors) {
            assert.match(matchers!, /(^|, )job="\$job"(,|$)/, where);
            // Two releases of the chart in two namespaces share the job name.
            assert.match(matchers!, /(^|, )namespace=~"\$namespace"(,|$)/, where);
            assert.match(matchers!, /(^|, )instance=~"\$instance"(,|$)/, where);
          }
          for (const [, window] of target.expr.matchAll(/\[([^\]]*)\]/g))
            assert.equal(window, '$__rate_interval', where);
        }
      }
    });

    it('then the panels lie within 24 columns and none overlaps another, a collapsed row’s panels under it', () => {
      for (const panel of panels) {
        const { x, y, w, h } = panel.gridPos;
        assert.ok(
          x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24,
          `${panel.title}: ${JSON.stringify(panel.gridPos)}`,
        );
      }
      for (const [i, a] of panels.entries())
        for (const b of panels.slice(i + 1))
          assert.ok(!overlaps(a.gridPos, b.gridPos), `${a.title} overlaps ${b.title}`);
      for (const row of dashboard.panels.filter((panel) => panel.type === 'row' && panel.collapsed)) {
        assert.ok(row.panels!.length > 0, `${row.title}: collapsed and empty`);
        for (const panel of row.panels!) assert.ok(panel.gridPos.y > row.gridPos.y, `${panel.title} above its row`);
        // Grafana puts a collapsed row's panels back where they were, just under the row: nothing may follow it.
        const below = dashboard.panels.filter((panel) => panel.gridPos.y > row.gridPos.y);
        assert.deepEqual(
          below.map((panel) => panel.title),
          [],
          `${row.title}: panels below a collapsed row`,
        );
      }
    });

    it('then every panel has a title, and every time series a unit', () => {
      for (const panel of panels) assert.ok(panel.title.trim() !== '', `panel ${panel.id} has no title`);
      for (const panel of queryPanels(dashboard).filter((candidate) => candidate.type === 'timeseries'))
        assert.ok(panel.fieldConfig?.defaults.unit, `${panel.title}: no unit`);
    });

    interface Wanted {
      what: string;
      types: string[];
      /** Every pattern matches one of the panel's queries (not necessarily the same one). */
      exprs: RegExp[];
      inCollapsedRow?: boolean;
    }
    const WANTED: Wanted[] = [
      {
        what: 'request rate per route',
        types: ['timeseries'],
        exprs: [/^sum by \(method, route\) \(rate\(http_requests_total\{/],
      },
      {
        what: '5xx error ratio per route',
        types: ['timeseries'],
        exprs: [
          /^\(sum by \(method, route\) \(rate\(http_requests_total\{[^}]*status_code=~"5\.\."[^}]*\}.*\) \/ sum by/,
        ],
      },
      {
        what: 'latency p50, p90 and p99 per route',
        types: ['timeseries'],
        exprs: [0.5, 0.9, 0.99].map(
          (q) =>
            new RegExp(
              `^histogram_quantile\\(${q}, sum by \\(le, method, route\\) \\(rate\\(http_request_duration_seconds_bucket\\{`,
            ),
        ),
      },
      {
        what: 'a latency heatmap',
        types: ['heatmap'],
        exprs: [/^sum by \(le\) \(increase\(http_request_duration_seconds_bucket\{/],
      },
      {
        what: 'store operations by op and outcome',
        types: ['timeseries'],
        exprs: [
          /^sum by \(op, outcome\) \(rate\(items_store_operations_total\{job="\$job", namespace=~"\$namespace", instance=~"\$instance"\}\[/,
        ],
      },
      {
        what: 'store errors',
        types: ['timeseries'],
        exprs: [/items_store_operations_total\{[^}]*outcome!~"ok\|not_modified"/],
      },
      {
        what: 'store operation latency',
        types: ['timeseries'],
        exprs: [/items_store_operation_duration_seconds_bucket/],
      },
      { what: 'fsync latency', types: ['timeseries'], exprs: [/items_store_fsync_duration_seconds_bucket/] },
      {
        what: 'event-loop lag',
        types: ['timeseries'],
        exprs: [
          /nodejs_eventloop_lag_p50_seconds/,
          /nodejs_eventloop_lag_p99_seconds/,
          /nodejs_eventloop_lag_max_seconds/,
        ],
      },
      {
        what: 'memory',
        types: ['timeseries'],
        exprs: [/process_resident_memory_bytes/, /nodejs_heap_size_used_bytes/, /nodejs_heap_size_total_bytes/],
      },
      {
        what: 'the health probes',
        types: ['stat', 'timeseries'],
        exprs: [/^min by \(probe\) \(items_health_probe_status\{/],
      },
      { what: 'in-flight requests', types: ['timeseries'], exprs: [/http_requests_in_flight\{/] },
      {
        what: 'build info',
        types: ['table', 'stat'],
        exprs: [/^count by \(version, commit, node_version\) \(items_service_build_info\{/],
      },
      {
        what: 'the PostgreSQL pool',
        types: ['timeseries'],
        exprs: [/items_store_pool_connections\{/, /items_store_pool_max_connections\{/],
        inCollapsedRow: true,
      },
      {
        what: 'queries waiting for a pool connection',
        types: ['timeseries'],
        exprs: [/items_store_pool_pending_requests\{/],
        inCollapsedRow: true,
      },
    ];
    const inCollapsedRow = new Set(
      dashboard.panels.filter((panel) => panel.type === 'row' && panel.collapsed).flatMap((row) => row.panels!),
    );

    it.each(WANTED.map((wanted) => [wanted.what, wanted] as const))('then a panel shows %s', (_, wanted) => {
      const found = queryPanels(dashboard).filter(
        (panel) =>
          wanted.types.includes(panel.type) &&
          wanted.exprs.every((pattern) => panel.targets!.some((target) => pattern.test(target.expr))),
      );
      assert.equal(found.length, 1, `${wanted.what}: ${found.length} panels`);
      assert.equal(inCollapsedRow.has(found[0]!), wanted.inCollapsedRow ?? false, `${wanted.what}: in a collapsed row`);
    });

    it('then the heatmap reads the buckets as Prometheus histograms, and the build info as a table', () => {
      const heatmap = panelOfType(dashboard, 'heatmap');
      assert.equal(heatmap.targets![0]!.format, 'heatmap');
      assert.equal(heatmap.targets![0]!.legendFormat, '{{le}}');
      assert.equal(heatmap.options!.calculate, false, 'the buckets are the data: Grafana must not re-bucket them');
      const build = panelOfType(dashboard, 'table');
      assert.equal(build.targets![0]!.format, 'table');
      assert.equal(build.targets![0]!.instant, true);
    });
  });
});
