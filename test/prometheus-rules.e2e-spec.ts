import assert from './support/assert.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { runPromtool } from './support/prometheus.js';
import {
  type AlertingRule,
  isAlertingRule,
  loadRuleGroups,
  type RuleGroup,
  RULES_FILE,
  RULES_TEST_FILE,
} from './support/prometheus-rules.js';
import { PROJECT_ROOT } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

/**
 * Neither package.json nor Chart.yaml names the repository, so every runbook_url starts with this one
 * placeholder prefix (example.com is reserved): a deployment replaces it in one place.
 */
const RUNBOOK_BASE_URL = 'https://git.example.com/items-service/blob/main/docs/runbooks/';
const RUNBOOKS_DIR = path.join(PROJECT_ROOT, 'docs/runbooks');
const SEVERITIES = ['critical', 'warning'];
/** Prometheus' convention for recorded series: level:metric:operations. */
const RECORDED_NAME = /^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/;

interface AlertTestCase {
  eval_time: string;
  alertname: string;
  exp_alerts?: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[];
}
interface UnitTestFile {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: AlertTestCase[] }[];
}

/** `ItemsServiceNotReady` → `items-service-not-ready`. */
function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

describe('Prometheus rules (helm/items-service/files/prometheus/items-service.rules.yml, real promtool)', () => {
  let groups: RuleGroup[];
  let alerts: AlertingRule[];
  let unitTests: UnitTestFile;
  const temp = makeTempDir('items-rules-');
  let mutants = 0;

  beforeAll(() => {
    groups = loadRuleGroups();
    alerts = groups.flatMap((group) => group.rules.filter(isAlertingRule));
    unitTests = parse(readFileSync(RULES_TEST_FILE, 'utf8')) as UnitTestFile;
  });
  afterAll(() => temp.remove());

  /** A copy of the rules with every `from` replaced by `to`, and the unit tests pointed at it. */
  async function mutant(from: string, to: string): Promise<{ rules: string; tests: string }> {
    const text = readFileSync(RULES_FILE, 'utf8');
    assert.ok(text.includes(from), `the rule file holds ${from}`);
    const rules = path.join(temp.dir, `mutant-${++mutants}.rules.yml`);
    await writeFile(rules, text.replaceAll(from, to));
    const tests = `${rules.slice(0, -'.yml'.length)}.test.yml`;
    await writeFile(tests, stringify({ ...unitTests, rule_files: [rules] }));
    return { rules, tests };
  }

  it('when promtool checks the rule file with every lint, then it passes without a remark, and a broken rule is refused', async () => {
    const checked = await runPromtool(['check', 'rules', '--lint=all', '--lint-fatal', RULES_FILE]);
    const count = groups.reduce((sum, group) => sum + group.rules.length, 0);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.equal(checked.stdout, `Checking ${RULES_FILE}\n  SUCCESS: ${count} rules found\n\n`);
    assert.equal(checked.stderr, '');

    const broken = await mutant('expr: absent(up{job="items-service"})', 'expr: absent(up{job="items-service"}');
    const refused = await runPromtool(['check', 'rules', broken.rules]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout + refused.stderr, /FAILED/);
  });

  it('when promtool runs the unit tests, then every case passes, and an SLI that counts the probes fails them', async () => {
    const tested = await runPromtool(['test', 'rules', RULES_TEST_FILE]);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /^\s+SUCCESS$/m);

    // The SLIs without their scope: a 503 from /readyz during a shutdown would page.
    const unscoped = await mutant('route!~"/healthz|/readyz|/startupz|/metrics", ', '');
    const failed = await runPromtool(['test', 'rules', unscoped.tests]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stderr, /name: 503s from \/readyz .*\n\s+alertname: ItemsServiceAvailabilityBudgetBurnFast/);
  });

  it.each([
    ['a fast burn threshold raised tenfold', '(6 * 0.01)', '(60 * 0.01)', /name: only the 6h and 30m slow ratios/],
    [
      "the 3d window's threshold raised tenfold",
      'job:sli_http_slow:ratio_rate3d{job="items-service"} > 0.01',
      'job:sli_http_slow:ratio_rate3d{job="items-service"} > 0.1',
      /name: only the 3d and 6h slow ratios/,
    ],
    [
      'the 30m confirming window swapped for 5m',
      'job:sli_http_errors:ratio_rate30m{job="items-service"} > (6 * 0.001)',
      'job:sli_http_errors:ratio_rate5m{job="items-service"} > (6 * 0.001)',
      /name: only the 6h and 30m error ratios/,
    ],
  ])('when a burn-rate alert has %s, then the unit tests of that branch fail', async (_what, from, to, failedCase) => {
    const mutated = await mutant(from, to);
    const failed = await runPromtool(['test', 'rules', mutated.tests]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stderr, failedCase);
  });

  it('then every alert has a severity, a summary, a description and a runbook page in docs/runbooks/', () => {
    assert.ok(alerts.length > 0);
    for (const rule of alerts) {
      assert.ok(SEVERITIES.includes(rule.labels?.severity ?? ''), `${rule.alert}: severity ${rule.labels?.severity}`);
      assert.ok((rule.annotations?.summary ?? '').trim() !== '', `${rule.alert}: summary`);
      assert.ok((rule.annotations?.description ?? '').trim() !== '', `${rule.alert}: description`);
      const page = `${kebab(rule.alert)}.md`;
      assert.equal(rule.annotations?.runbook_url, `${RUNBOOK_BASE_URL}${page}`, `${rule.alert}: runbook_url`);
      assert.ok(existsSync(path.join(RUNBOOKS_DIR, page)), `${rule.alert}: docs/runbooks/${page} exists`);
    }
  });

  it('then the runbooks index links every runbook, and every runbook belongs to an alert', () => {
    const pages = readdirSync(RUNBOOKS_DIR).filter((name) => name.endsWith('.md') && name !== 'README.md');
    const index = readFileSync(path.join(RUNBOOKS_DIR, 'README.md'), 'utf8');
    const alerted = new Set(alerts.map((rule) => `${kebab(rule.alert)}.md`));
    for (const page of pages) {
      assert.ok(index.includes(`](${page})`), `README.md links ${page}`);
      assert.ok(alerted.has(page), `${page} is the runbook of an alert`);
    }
  });

  it('then every alert is tested firing and quiet, and the tests name no alert that does not exist', () => {
    const firing = new Set<string>();
    const quiet = new Set<string>();
    for (const test of unitTests.tests) {
      for (const check of test.alert_rule_test ?? []) {
        // promtool passes a quiet case of a misspelt alert: there is nothing to fire.
        assert.ok(
          alerts.some((rule) => rule.alert === check.alertname),
          `"${test.name}" tests ${check.alertname}`,
        );
        if ((check.exp_alerts ?? []).length === 0) quiet.add(check.alertname);
        else firing.add(check.alertname);
        for (const expected of check.exp_alerts ?? []) {
          assert.ok(expected.exp_labels?.severity, `"${test.name}": ${check.alertname} expects a severity`);
          assert.ok(expected.exp_annotations?.runbook_url, `"${test.name}": ${check.alertname} expects annotations`);
        }
      }
    }
    assert.deepEqual(
      alerts.filter((rule) => !firing.has(rule.alert)).map((rule) => rule.alert),
      [],
      'alerts with no case where they fire',
    );
    assert.deepEqual(
      alerts.filter((rule) => !quiet.has(rule.alert)).map((rule) => rule.alert),
      [],
      'alerts with no case where they stay quiet',
    );
  });

  it('then recorded series are named level:metric:operations, and every one an expression reads is recorded', () => {
    const recorded = new Set(groups.flatMap((group) => group.rules.flatMap((rule) => rule.record ?? [])));
    assert.ok(recorded.size > 0);
    for (const name of recorded) assert.match(name, RECORDED_NAME);
    // A name that is recorded nowhere selects nothing, and an alert on it never fires.
    for (const group of groups) {
      for (const rule of group.rules) {
        for (const [name] of rule.expr.matchAll(/[a-z_]+:[a-z0-9_]+:[a-z0-9_]+/g)) {
          assert.ok(recorded.has(name), `${rule.alert ?? rule.record} reads ${name}`);
        }
      }
    }
  });
});
