import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from './server-process.js';

/** The one copy of the service's recording rules and alerts (the chart embeds it, compose loads it). */
export const RULES_FILE = path.join(PROJECT_ROOT, 'helm/items-service/files/prometheus/items-service.rules.yml');

/** Its promtool unit tests (`promtool test rules`). */
export const RULES_TEST_FILE = path.join(PROJECT_ROOT, 'test/prometheus/items-service.rules.test.yml');

/** One rule as Prometheus reads it: a recording rule has `record`, an alerting rule `alert`. */
export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export type AlertingRule = Rule & { alert: string };

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Rule[];
}

export function isAlertingRule(rule: Rule): rule is AlertingRule {
  return rule.alert !== undefined;
}

/** The rule file's groups, as Prometheus reads them; throws when the file is not `groups:` of rules. */
export function loadRuleGroups(file = RULES_FILE): RuleGroup[] {
  const document = parse(readFileSync(file, 'utf8')) as { groups?: RuleGroup[] } | null;
  if (!document || !Array.isArray(document.groups)) throw new Error(`${file}: no groups`);
  for (const group of document.groups) {
    for (const rule of group.rules) {
      if (typeof rule.expr !== 'string') throw new Error(`${file}: a rule of group ${group.name} has no expr`);
    }
  }
  return document.groups;
}
