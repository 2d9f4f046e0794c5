import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { typecheck } from './tsc.js';
import { PROJECT_ROOT } from './server-process.js';
import { makeTempDir } from './temp-dir.js';

/** The dashboard's single copy: the chart's ConfigMap and compose's provisioning both read it. */
export const DASHBOARD_FILE = path.join(PROJECT_ROOT, 'helm/items-service/files/grafana/items-service.json');

/** The parts of Grafana's dashboard JSON model the tests and the screenshot script read. */
export interface DashboardTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
  format?: string;
  instant?: boolean;
  range?: boolean;
  [key: string]: unknown;
}

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface MappingResult {
  text?: string;
  color?: string;
  index?: number;
}

export type ValueMapping =
  | { type: 'value'; options: Record<string, MappingResult> }
  | { type: 'special'; options: { match: string; result: MappingResult } }
  | { type: 'range' | 'regex'; options: Record<string, unknown> };

/** `fieldConfig.defaults`: what every series of a panel gets unless an override says otherwise. */
export interface FieldDefaults {
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  custom?: { lineWidth?: number; fillOpacity?: number; thresholdsStyle?: { mode: string }; [key: string]: unknown };
  thresholds?: { mode: string; steps: { color: string; value: number | null }[] };
  mappings?: ValueMapping[];
  [key: string]: unknown;
}

export interface FieldOverride {
  matcher: { id: string; options?: unknown };
  properties: { id: string; value?: unknown }[];
}

/** The options of the panel types the dashboard uses, those read outside the schema check. */
export interface PanelOptions {
  colorMode?: string;
  graphMode?: string;
  textMode?: string;
  calculate?: boolean;
  color?: { exponent?: number };
  yAxis?: { unit?: string };
  [key: string]: unknown;
}

/** Grafana's "organize fields" transformation. */
export interface OrganizeOptions {
  excludeByName?: Record<string, boolean>;
  indexByName?: Record<string, number>;
  renameByName?: Record<string, string>;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: GridPos;
  datasource?: { type?: string; uid?: string };
  targets?: DashboardTarget[];
  /** A row's panels, when the row is collapsed (an open row's panels follow it at the top level). */
  panels?: DashboardPanel[];
  collapsed?: boolean;
  fieldConfig?: { defaults: FieldDefaults; overrides: FieldOverride[] };
  options?: PanelOptions;
  transformations?: { id: string; options: OrganizeOptions & Record<string, unknown> }[];
  [key: string]: unknown;
}

export interface DashboardVariable {
  name: string;
  type: string;
  query?: unknown;
  current?: { text: string | string[]; value: string | string[] };
  datasource?: { type?: string; uid?: string };
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string;
  [key: string]: unknown;
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: DashboardVariable[] };
  [key: string]: unknown;
}

export function readDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, rows included, with a collapsed row's panels after it: the order Grafana lays them out. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** The panels that query: everything but rows. */
export function queryPanels(dashboard: Dashboard): DashboardPanel[] {
  return allPanels(dashboard).filter((panel) => panel.type !== 'row');
}

// ---------------------------------------------------------------------------------------------------
// Grafana's variables in PromQL

/**
 * Values that make every query valid PromQL and select everything: `$namespace` and `$instance` are
 * used as `namespace=~"$namespace"` and `instance=~"$instance"`, and their "All" is `.*` (the variables'
 * allValue), which also matches a series with no namespace label at all (docker compose).
 */
export const TEST_VARIABLES: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '1m',
  __interval_ms: '60000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
  job: 'items-service',
  namespace: '.*',
  instance: '.*',
};

// `${name}`, `${name:format}`, `[[name]]` and `$name`; `$1` (a label_replace group) is no variable.
const VARIABLE = /\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\[\[([A-Za-z_]\w*)(?::[^\]]*)?\]\]|\$([A-Za-z_]\w*)/g;

/**
 * Replaces Grafana's variables as Grafana would before sending the query. An unknown variable throws,
 * so that a query using a new one cannot pass a check with the variable left in.
 */
export function substituteVariables(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(VARIABLE, (whole, braced?: string, bracketed?: string, bare?: string) => {
    const name = braced ?? bracketed ?? bare!;
    const value = values[name];
    if (value === undefined) throw new Error(`no value for Grafana variable ${whole} in: ${expr}`);
    return value;
  });
}

/** Each panel query's PromQL, with Grafana's variables replaced by `TEST_VARIABLES`. */
export function dashboardQueries(dashboard: Dashboard = readDashboard()): { panel: string; expr: string }[] {
  return queryPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: `${panel.title} [${target.refId}]`,
      expr: substituteVariables(target.expr, TEST_VARIABLES),
    })),
  );
}

// ---------------------------------------------------------------------------------------------------
// Grafana's schema

/**
 * The panel types the dashboard may use, each with its options module in @grafana/schema (generated
 * from the CUE schema of Grafana's core panel plugins) and whether that module types
 * `fieldConfig.defaults.custom`. Another core panel type needs a line here.
 */
const PANEL_TYPES: Record<string, { module: string; customFieldConfig: boolean }> = {
  timeseries: { module: 'timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen', customFieldConfig: true },
  heatmap: { module: 'heatmap/panelcfg/x/HeatmapPanelCfg_types.gen', customFieldConfig: true },
  stat: { module: 'stat/panelcfg/x/StatPanelCfg_types.gen', customFieldConfig: false },
  table: { module: 'table/panelcfg/x/TablePanelCfg_types.gen', customFieldConfig: true },
  text: { module: 'text/panelcfg/x/TextPanelCfg_types.gen', customFieldConfig: false },
};

/**
 * The type a dashboard file must have. @grafana/schema types `options` and `custom` as open records and
 * a panel's `type` as any string: here each panel is the union member of its type, with that plugin's
 * own options and custom field config, so that an unknown panel type, a misspelt option and a
 * wrong value fail. Saved JSON holds an enum's value (`"line"`), not the enum (`GraphDrawStyle.Line`):
 * `Json<T>` turns each string enum into the union of its values.
 */
function schemaPrelude(): string {
  const types = Object.entries(PANEL_TYPES);
  return [
    `import type * as schema from '@grafana/schema';`,
    ...types.map(
      ([type, { module }]) => `import type * as ${type} from '@grafana/schema/dist/esm/raw/composable/${module}';`,
    ),
    `type Json<T> = unknown extends T ? T : T extends string ? \`\${T}\` : T extends number | boolean | null | undefined ? T`,
    `  : T extends ReadonlyArray<infer U> ? Json<U>[] : { [K in keyof T]: Json<T[K]> };`,
    `type FieldConfigSource<Custom> = Omit<schema.FieldConfigSource, 'defaults'>`,
    `  & { defaults: Omit<schema.FieldConfig, 'custom'> & { custom?: Custom } };`,
    `type PanelOf<Type extends string, Options, Custom> = Json<Omit<schema.Panel, 'type' | 'options' | 'fieldConfig'>`,
    `  & { type: Type; options?: Options; fieldConfig?: FieldConfigSource<Custom> }>;`,
    `type Panel =`,
    ...types.map(
      ([type, { customFieldConfig }]) =>
        `  | PanelOf<'${type}', ${type}.Options, ${customFieldConfig ? `${type}.FieldConfig` : 'never'}>`,
    ),
    `  ;`,
    `type Row = Json<Omit<schema.RowPanel, 'panels'>> & { panels: Panel[] };`,
    `type Dashboard = Json<Omit<schema.Dashboard, 'panels'>> & { panels?: Array<Panel | Row> };`,
  ].join('\n');
}

/** One compiler diagnostic, at a line of the dashboard JSON. */
export interface SchemaProblem {
  /** 1-based line in the JSON text as given. */
  line: number;
  /** The JSON line it points at, trimmed. */
  text: string;
  message: string;
}

/**
 * Type-checks dashboard JSON texts against Grafana's published schema types (@grafana/schema) with the
 * project's TypeScript compiler: each text becomes `const dashboard: Dashboard = <the JSON>`, so that a
 * missing required field, a wrong value and, through the compiler's excess property checks, an unknown
 * field are errors. One compiler run; the problems come back by name.
 */
export async function validateWithGrafanaSchema(
  documents: ReadonlyMap<string, string>,
): Promise<Map<string, SchemaProblem[]>> {
  const temp = makeTempDir('grafana-schema-');
  try {
    // @grafana/schema resolves through its package.json exports only: let the files see node_modules.
    symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(temp.dir, 'node_modules'), 'dir');
    const prelude = schemaPrelude();
    const preludeLines = prelude.split('\n').length + 1;
    const files = [...documents].map(([, json], index) => {
      const file = path.join(temp.dir, `dashboard-${index}.ts`);
      writeFileSync(file, `${prelude}\nexport const dashboard: Dashboard = ${json.trim()};\n`);
      return file;
    });
    writeFileSync(
      path.join(temp.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          target: 'es2023',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          types: [],
        },
        files,
      }),
    );
    const diagnostics = await typecheck(path.join(temp.dir, 'tsconfig.json'));

    const names = [...documents.keys()];
    const texts = [...documents.values()].map((json) => json.trim().split('\n'));
    const problems = new Map<string, SchemaProblem[]>(names.map((name) => [name, []]));
    for (const { file, line, message } of diagnostics) {
      const index = files.indexOf(file);
      if (index < 0) throw new Error(`tsc reported on an unexpected file: ${file}: ${message}`);
      const jsonLine = line - preludeLines + 1;
      // An error in the prelude is this module's bug (or a changed @grafana/schema), not the dashboard's.
      if (jsonLine < 1) throw new Error(`the schema prelude does not compile: ${message}`);
      problems.get(names[index]!)!.push({ line: jsonLine, text: texts[index]![jsonLine - 1]?.trim() ?? '', message });
    }
    return problems;
  } finally {
    temp.remove();
  }
}
