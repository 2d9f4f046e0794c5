/**
 * Draws a Grafana dashboard's panels over Prometheus range-query results as one HTML page of inline SVG,
 * laid out by the panels' gridPos, for scripts/dashboard-screenshot.ts to photograph. Grafana itself is
 * not installable here, so this draws what the panel types used by the dashboard show (time series,
 * heatmap, stat, table, rows) in Grafana's dark theme: a picture of the data, not a Grafana replica.
 */
import type {
  Dashboard,
  DashboardPanel,
  DashboardTarget,
  FieldDefaults,
  OrganizeOptions,
} from '../test/support/grafana-dashboard.js';

/** One series of a range query: its labels and `[unix seconds, value]` points. */
export interface Series {
  labels: Record<string, string>;
  points: [number, number][];
}

export interface RenderInput {
  dashboard: Dashboard;
  /** The range queries' results by panel id, then by target refId. */
  results: ReadonlyMap<number, ReadonlyMap<string, Series[]>>;
  /** The time range shown, in unix seconds. */
  from: number;
  to: number;
  /** What the variable pickers show. */
  variables: Record<string, string>;
  /** The page's width in pixels (the screenshot's). */
  width: number;
}

const COLUMNS = 24;
const CELL_HEIGHT = 30;
const MARGIN = 8;
const HEADER_HEIGHT = 64;
const PANEL_TITLE_HEIGHT = 28;
const THEME = {
  page: '#111217',
  panel: '#181b1f',
  border: '#2a2d33',
  text: '#ccccdc',
  muted: '#8e8e9e',
  grid: '#24272c',
};
/** Grafana's "classic" palette, in its order. */
const PALETTE = [
  '#7EB26D',
  '#EAB839',
  '#6ED0E0',
  '#EF843C',
  '#E24D42',
  '#1F78C1',
  '#BA43A9',
  '#705DA0',
  '#508642',
  '#CCA300',
  '#447EBC',
  '#C15C17',
  '#890F02',
  '#0A437C',
  '#6D1F62',
  '#584477',
  '#B7DBAB',
  '#F4D598',
  '#70DBED',
  '#F9BA8F',
  '#F29191',
  '#82B5D8',
  '#E5A8E2',
  '#AEA2E0',
];
const NAMED_COLORS: Record<string, string> = {
  green: '#73BF69',
  red: '#F2495C',
  orange: '#FF9830',
  'dark-orange': '#FA6400',
  yellow: '#FADE2A',
  blue: '#5794F2',
  purple: '#B877D9',
};
const colorOf = (name: string | undefined) => (name ? (NAMED_COLORS[name] ?? name) : THEME.text);

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

// ---------------------------------------------------------------------------------------------------
// Units, as Grafana's value formats name them

/** `steps` from the largest factor down; a value under the smallest is shown with the smallest. */
function withPrefix(value: number, steps: [number, string][], decimals?: number): string {
  const abs = Math.abs(value);
  const [factor, suffix] = steps.find(([step]) => abs >= step) ?? steps[steps.length - 1]!;
  return `${trim(value / factor, decimals)} ${suffix}`.trim();
}

function trim(value: number, decimals?: number): string {
  if (decimals !== undefined) return value.toFixed(decimals);
  const abs = Math.abs(value);
  const digits = abs === 0 || abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return String(Number(value.toFixed(digits)));
}

export function formatValue(value: number, unit: string | undefined, decimals?: number): string {
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 's':
      if (value === 0) return '0 s';
      return withPrefix(
        value,
        [
          [1, 's'],
          [1e-3, 'ms'],
          [1e-6, 'µs'],
          [1e-9, 'ns'],
        ],
        decimals,
      );
    case 'bytes':
      return withPrefix(
        value,
        [
          [2 ** 30, 'GiB'],
          [2 ** 20, 'MiB'],
          [2 ** 10, 'KiB'],
          [1, 'B'],
        ],
        decimals,
      );
    case 'percentunit':
      return `${trim(value * 100, decimals)}%`;
    case 'reqps':
      return `${trim(value, decimals)} req/s`;
    case 'ops':
      return `${trim(value, decimals)} ops/s`;
    case undefined:
    default:
      return withPrefix(
        value,
        [
          [1e9, 'B'],
          [1e6, 'M'],
          [1e3, 'K'],
          [1, ''],
        ],
        decimals,
      );
  }
}

/** Round tick values covering [min, max]; in MiB, GiB… for bytes, as Grafana's binary units. */
function ticks(min: number, max: number, count: number, unit?: string): number[] {
  if (unit === 'bytes' && max - min >= 2 ** 20) {
    const factor = 2 ** (10 * Math.floor(Math.log2(max - min) / 10));
    return ticks(min / factor, max / factor, count).map((value) => value * factor);
  }
  const span = max - min || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((candidate) => candidate >= raw)!;
  const result: number[] = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step)
    result.push(Number(value.toPrecision(12)));
  return result;
}

/** Time ticks on whole seconds, minutes…, as a clock reads them (every 15 s, not every 25 s). */
function timeTicks(from: number, to: number, count: number): number[] {
  const raw = (to - from) / Math.max(1, count);
  const step = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => s >= raw) ?? 3600;
  const result: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) result.push(t);
  return result;
}

const clock = (seconds: number) => new Date(seconds * 1000).toISOString().slice(11, 19);

/** Grafana's `{{label}}` legend format. */
const legendOf = (target: DashboardTarget, labels: Record<string, string>) =>
  (target.legendFormat ?? '').replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) => labels[name] ?? '').trim() ||
  JSON.stringify(labels);

// ---------------------------------------------------------------------------------------------------
// Panels

interface Box {
  width: number;
  height: number;
}

interface Line {
  name: string;
  color: string;
  points: [number, number][];
  dashed: boolean;
  width: number;
  right: boolean;
}

/** The properties an override gives a series (Grafana's byName and byRegexp matchers). */
function overridesFor(panel: DashboardPanel, name: string): Map<string, unknown> {
  const properties = new Map<string, unknown>();
  for (const override of panel.fieldConfig?.overrides ?? []) {
    const { id, options } = override.matcher;
    const matches =
      (id === 'byName' && options === name) || (id === 'byRegexp' && new RegExp(`^${String(options)}$`).test(name));
    if (matches) for (const property of override.properties) properties.set(property.id, property.value);
  }
  return properties;
}

function timeseries(panel: DashboardPanel, results: ReadonlyMap<string, Series[]>, input: RenderInput, box: Box) {
  const defaults = panel.fieldConfig?.defaults ?? {};
  const lines: Line[] = [];
  for (const target of panel.targets ?? []) {
    for (const series of results.get(target.refId) ?? []) {
      const name = legendOf(target, series.labels);
      const overrides = overridesFor(panel, name);
      const fixed = overrides.get('color') as { fixedColor?: string } | undefined;
      lines.push({
        name,
        color: fixed?.fixedColor ? colorOf(fixed.fixedColor) : PALETTE[lines.length % PALETTE.length]!,
        points: series.points,
        dashed: (overrides.get('custom.lineStyle') as { fill?: string } | undefined)?.fill === 'dash',
        width: (overrides.get('custom.lineWidth') as number | undefined) ?? defaults.custom?.lineWidth ?? 1,
        right: overrides.get('custom.axisPlacement') === 'right',
      });
    }
  }
  if (lines.length === 0) return noData(box);
  lines.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

  // The legend under the plot, Grafana's "list" mode: as many rows as fit in a third of the panel.
  const legendRowHeight = 17;
  const charWidth = 6.4;
  const legendRows: Line[][] = [[]];
  let rowWidth = 0;
  for (const line of lines) {
    const itemWidth = 22 + line.name.length * charWidth + 14;
    if (rowWidth + itemWidth > box.width - 16 && legendRows[legendRows.length - 1]!.length > 0) {
      legendRows.push([]);
      rowWidth = 0;
    }
    legendRows[legendRows.length - 1]!.push(line);
    rowWidth += itemWidth;
  }
  const maxLegendRows = Math.max(1, Math.floor((box.height * 0.34) / legendRowHeight));
  const shownRows = legendRows.slice(0, maxLegendRows);
  const legendHeight = shownRows.length * legendRowHeight + 6;

  const rightUnit = lines.some((line) => line.right)
    ? (overridesFor(panel, lines.find((line) => line.right)!.name).get('unit') as string | undefined)
    : undefined;
  const plot = {
    left: 64,
    right: box.width - (rightUnit === undefined ? 12 : 64),
    top: 8,
    bottom: box.height - legendHeight - 20,
  };
  const x = (t: number) => plot.left + ((t - input.from) / (input.to - input.from)) * (plot.right - plot.left);
  const scaleFor = (right: boolean) => {
    const values = lines.filter((line) => line.right === right).flatMap((line) => line.points.map(([, v]) => v));
    const finite = values.filter(Number.isFinite);
    const min = defaults.min ?? Math.min(0, ...finite);
    let max = defaults.max ?? Math.max(...finite, min);
    if (max <= min) max = min + 1;
    const axis = ticks(
      min,
      max,
      Math.max(2, Math.floor((plot.bottom - plot.top) / 45)),
      right ? rightUnit : defaults.unit,
    ).filter((value) => defaults.decimals !== 0 || Number.isInteger(value)); // no 0.5 written as "1"
    const top = Math.max(max, axis[axis.length - 1]!);
    return { axis, y: (v: number) => plot.bottom - ((v - min) / (top - min)) * (plot.bottom - plot.top) };
  };
  const left = scaleFor(false);
  const right = rightUnit === undefined ? undefined : scaleFor(true);

  const parts: string[] = [];
  for (const value of left.axis) {
    const y = left.y(value);
    parts.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${y}" y2="${y}" stroke="${THEME.grid}"/>`);
    parts.push(
      `<text x="${plot.left - 6}" y="${y + 4}" text-anchor="end" class="axis">${escapeHtml(formatValue(value, defaults.unit, defaults.decimals))}</text>`,
    );
  }
  if (right)
    for (const value of right.axis)
      parts.push(
        `<text x="${plot.right + 6}" y="${right.y(value) + 4}" class="axis">${escapeHtml(formatValue(value, rightUnit))}</text>`,
      );
  const times = timeTicks(input.from, input.to, Math.max(2, Math.floor((plot.right - plot.left) / 90)));
  for (const t of times.filter((tick) => x(tick) - plot.left > 24 && plot.right - x(tick) > 24)) {
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${plot.top}" y2="${plot.bottom}" stroke="${THEME.grid}"/>`);
    parts.push(`<text x="${x(t)}" y="${plot.bottom + 14}" text-anchor="middle" class="axis">${clock(t)}</text>`);
  }
  // A threshold drawn as a dashed line (thresholdsStyle "dashed"), at each step above the base.
  if (defaults.custom?.thresholdsStyle?.mode === 'dashed')
    for (const step of (defaults.thresholds?.steps ?? []).slice(1)) {
      const y = left.y(step.value ?? 0);
      if (y >= plot.top)
        parts.push(
          `<line x1="${plot.left}" x2="${plot.right}" y1="${y}" y2="${y}" stroke="${colorOf(step.color)}" stroke-dasharray="6 4"/>`,
        );
    }
  const fillOpacity = (defaults.custom?.fillOpacity ?? 0) / 100;
  for (const line of lines) {
    const scale = line.right && right ? right : left;
    // A gap in the data (no sample at a step) breaks the line, as Grafana's spanNulls=false does.
    const segments: string[][] = [[]];
    let previous: number | undefined;
    for (const [t, v] of line.points) {
      if (!Number.isFinite(v)) continue;
      if (previous !== undefined && t - previous > 2.5 * stepOf(line.points)) segments.push([]);
      segments[segments.length - 1]!.push(`${x(t).toFixed(1)},${scale.y(v).toFixed(1)}`);
      previous = t;
    }
    for (const segment of segments.filter((points) => points.length > 0)) {
      if (fillOpacity > 0 && !line.dashed && segment.length > 1) {
        const first = segment[0]!.split(',')[0];
        const last = segment[segment.length - 1]!.split(',')[0];
        parts.push(
          `<polygon points="${first},${plot.bottom} ${segment.join(' ')} ${last},${plot.bottom}" fill="${line.color}" fill-opacity="${fillOpacity}"/>`,
        );
      }
      parts.push(
        `<polyline points="${segment.join(' ')}" fill="none" stroke="${line.color}" stroke-width="${line.width}"${line.dashed ? ' stroke-dasharray="8 6"' : ''}/>`,
      );
    }
  }
  let legendY = plot.bottom + 32;
  for (const [index, row] of shownRows.entries()) {
    let legendX = 8;
    const cut = index === shownRows.length - 1 && legendRows.length > shownRows.length;
    for (const line of row) {
      parts.push(
        `<rect x="${legendX}" y="${legendY - 5}" width="14" height="4" rx="1" fill="${line.color}"/>`,
        `<text x="${legendX + 20}" y="${legendY}" class="legend">${escapeHtml(line.name)}</text>`,
      );
      legendX += 22 + line.name.length * charWidth + 14;
    }
    if (cut)
      parts.push(
        `<text x="${box.width - 8}" y="${legendY}" text-anchor="end" class="legend">+${lines.length - shownRows.flat().length} more</text>`,
      );
    legendY += legendRowHeight;
  }
  return parts.join('');
}

function stepOf(points: [number, number][]): number {
  return points.length > 1 ? points[1]![0] - points[0]![0] : 1;
}

/** Heatmap of Prometheus buckets (`format: heatmap`): cumulative `le` series made per-bucket, as Grafana does. */
function heatmap(panel: DashboardPanel, results: ReadonlyMap<string, Series[]>, input: RenderInput, box: Box) {
  const target = panel.targets![0]!;
  const buckets = (results.get(target.refId) ?? [])
    .map((series) => ({
      le: series.labels.le === '+Inf' ? Infinity : Number(series.labels.le),
      values: new Map(series.points),
    }))
    .sort((a, b) => a.le - b.le);
  if (buckets.length === 0) return noData(box);
  const times = [...new Set(buckets.flatMap((bucket) => [...bucket.values.keys()]))].sort((a, b) => a - b);
  const counts = buckets.map((bucket, i) =>
    times.map((t) => Math.max(0, (bucket.values.get(t) ?? 0) - (i > 0 ? (buckets[i - 1]!.values.get(t) ?? 0) : 0))),
  );
  // Rows only from the lowest to the highest bucket that counted anything, as Grafana trims empty ones.
  const used = counts.map((row) => row.some((count) => count > 0));
  const first = Math.max(0, used.indexOf(true) - 1);
  const last = Math.min(buckets.length - 1, used.lastIndexOf(true) + 1);
  const rows = buckets.slice(first, last + 1);
  const rowCounts = counts.slice(first, last + 1);
  const max = Math.max(...rowCounts.flat(), 1);

  const plot = { left: 64, right: box.width - 12, top: 8, bottom: box.height - 44 };
  const step = times.length > 1 ? times[1]! - times[0]! : 1;
  const cellWidth = ((plot.right - plot.left) * step) / (input.to - input.from);
  const rowHeight = (plot.bottom - plot.top) / rows.length;
  const x = (t: number) => plot.left + ((t - input.from) / (input.to - input.from)) * (plot.right - plot.left);
  const parts: string[] = [];
  const exponent = panel.options?.color?.exponent ?? 0.5;
  for (const [r, row] of rowCounts.entries()) {
    const y = plot.bottom - (r + 1) * rowHeight;
    for (const [c, count] of row.entries()) {
      if (count <= 0) continue;
      const level = (count / max) ** exponent;
      parts.push(
        `<rect x="${(x(times[c]!) - cellWidth).toFixed(1)}" y="${(y + 0.5).toFixed(1)}" width="${Math.max(1, cellWidth - 1).toFixed(1)}" height="${Math.max(1, rowHeight - 1).toFixed(1)}" fill="${orange(level)}"/>`,
      );
    }
  }
  const unit = panel.options?.yAxis?.unit;
  const labelEvery = Math.ceil(rows.length / Math.max(1, Math.floor((plot.bottom - plot.top) / 16)));
  for (const [r, row] of rows.entries()) {
    if (r % labelEvery !== 0) continue;
    parts.push(
      `<text x="${plot.left - 6}" y="${plot.bottom - r * rowHeight - rowHeight / 2 + 4}" text-anchor="end" class="axis">${Number.isFinite(row.le) ? escapeHtml(formatValue(row.le, unit)) : '+Inf'}</text>`,
    );
  }
  for (const t of timeTicks(input.from, input.to, Math.floor((plot.right - plot.left) / 90)).filter(
    (tick) => x(tick) - plot.left > 24 && plot.right - x(tick) > 24,
  ))
    parts.push(`<text x="${x(t)}" y="${plot.bottom + 14}" text-anchor="middle" class="axis">${clock(t)}</text>`);
  // The colour scale, as Grafana's heatmap legend shows it.
  const scaleWidth = 160;
  for (let i = 0; i < 32; i++)
    parts.push(
      `<rect x="${plot.left + 40 + (i * scaleWidth) / 32}" y="${box.height - 20}" width="${scaleWidth / 32 + 0.5}" height="8" fill="${orange((i / 31) ** exponent)}"/>`,
    );
  parts.push(
    `<text x="${plot.left + 34}" y="${box.height - 12}" text-anchor="end" class="legend">0</text>`,
    `<text x="${plot.left + 46 + scaleWidth}" y="${box.height - 12}" class="legend">${Math.round(max)} requests</text>`,
  );
  return parts.join('');
}

/** Grafana's dark "Oranges" scheme, from the panel's background to a pale orange. */
function orange(level: number): string {
  const from = [0x4a, 0x22, 0x08];
  const to = [0xfd, 0xd0, 0xa2];
  const mid = [0xf1, 0x69, 0x13];
  const [a, b, t] = level < 0.6 ? [from, mid, level / 0.6] : [mid, to, (level - 0.6) / 0.4];
  return `rgb(${a.map((channel, i) => Math.round(channel + (b[i]! - channel) * t)).join(',')})`;
}

/** The last value of each series, coloured by the panel's value mappings or thresholds. */
function stat(panel: DashboardPanel, results: ReadonlyMap<string, Series[]>, box: Box) {
  const target = panel.targets![0]!;
  const defaults = panel.fieldConfig?.defaults ?? {};
  const values = (results.get(target.refId) ?? [])
    .map((series) => ({
      name: legendOf(target, series.labels),
      points: series.points,
      value: [...series.points].reverse().find(([, v]) => Number.isFinite(v))?.[1],
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (values.length === 0) return noData(box);
  const background = panel.options?.colorMode === 'background';
  const withName = panel.options?.textMode === 'value_and_name' || values.length > 1;
  const width = box.width / values.length;
  const parts: string[] = [];
  for (const [i, { name, value, points }] of values.entries()) {
    const { text, color } = display(value, defaults);
    const cx = i * width + width / 2;
    if (background)
      parts.push(
        `<rect x="${i * width + 4}" y="0" width="${width - 8}" height="${box.height - 6}" rx="3" fill="${color}"/>`,
      );
    else if (panel.options?.graphMode === 'area' && points.length > 1)
      parts.push(sparkline(points, color, i * width, width, box));
    const fontSize = Math.min(40, (box.height - (withName ? 26 : 8)) * 0.6, (width / Math.max(3, text.length)) * 1.6);
    const textColor = background ? '#ffffff' : color;
    if (withName)
      parts.push(
        `<text x="${cx}" y="${box.height / 2 - fontSize / 2 - 4}" text-anchor="middle" class="statname" style="fill:${textColor}">${escapeHtml(name)}</text>`,
      );
    parts.push(
      `<text x="${cx}" y="${box.height / 2 + fontSize / 3 + (withName ? 6 : 0)}" text-anchor="middle" font-size="${fontSize}" font-weight="500" style="fill:${textColor}">${escapeHtml(text)}</text>`,
    );
  }
  return parts.join('');
}

function sparkline(points: [number, number][], color: string, left: number, width: number, box: Box): string {
  const finite = points.filter(([, v]) => Number.isFinite(v));
  const max = Math.max(...finite.map(([, v]) => v), 1e-12);
  const [t0, t1] = [finite[0]![0], finite[finite.length - 1]![0]];
  const x = (t: number) => left + 4 + ((t - t0) / (t1 - t0 || 1)) * (width - 8);
  const y = (v: number) => box.height - 6 - (v / max) * box.height * 0.4;
  const line = finite.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return `<polygon points="${x(t0)},${box.height - 6} ${line} ${x(t1)},${box.height - 6}" fill="${color}" fill-opacity="0.18"/><polyline points="${line}" fill="none" stroke="${color}" stroke-opacity="0.6"/>`;
}

function display(value: number | undefined, defaults: FieldDefaults): { text: string; color: string } {
  for (const mapping of defaults.mappings ?? []) {
    const result =
      mapping.type === 'value' && value !== undefined
        ? mapping.options[String(value)]
        : mapping.type === 'special' && (value === undefined || Number.isNaN(value))
          ? mapping.options.result
          : undefined;
    if (result?.text !== undefined)
      return { text: result.text, color: colorOf(result.color ?? thresholdColor(value ?? 0, defaults)) };
  }
  if (value === undefined) return { text: 'No data', color: THEME.muted };
  return {
    text: formatValue(value, defaults.unit, defaults.decimals),
    color: colorOf(thresholdColor(value, defaults)),
  };
}

function thresholdColor(value: number, defaults: FieldDefaults): string | undefined {
  let color: string | undefined;
  for (const step of defaults.thresholds?.steps ?? [])
    if (step.value === null || value >= step.value) color = step.color;
  return color;
}

/** An instant table query after Grafana's "organize" transformation: columns hidden, ordered, renamed. */
function table(panel: DashboardPanel, results: ReadonlyMap<string, Series[]>, box: Box) {
  const target = panel.targets![0]!;
  const series = results.get(target.refId) ?? [];
  if (series.length === 0) return noData(box);
  const organize: OrganizeOptions =
    panel.transformations?.find((transformation) => transformation.id === 'organize')?.options ?? {};
  const rows = series.map((one): Record<string, string> => ({
    ...one.labels,
    Value: String(one.points[one.points.length - 1]?.[1] ?? ''),
  }));
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))]
    .filter((column) => !organize.excludeByName?.[column] && column !== '__name__')
    .sort((a, b) => (organize.indexByName?.[a] ?? 99) - (organize.indexByName?.[b] ?? 99));
  const width = (box.width - 16) / columns.length;
  const parts = columns.map(
    (column, i) =>
      `<text x="${8 + i * width}" y="18" class="th">${escapeHtml(organize.renameByName?.[column] ?? column)}</text>`,
  );
  parts.push(`<line x1="8" x2="${box.width - 8}" y1="26" y2="26" stroke="${THEME.border}"/>`);
  for (const [r, row] of rows.entries())
    for (const [i, column] of columns.entries())
      parts.push(`<text x="${8 + i * width}" y="${46 + r * 22}" class="td">${escapeHtml(row[column] ?? '')}</text>`);
  return parts.join('');
}

const noData = (box: Box) =>
  `<text x="${box.width / 2}" y="${box.height / 2}" text-anchor="middle" class="nodata">No data</text>`;

// ---------------------------------------------------------------------------------------------------
// The page

export function renderDashboardHtml(input: RenderInput): { html: string; height: number } {
  const columnWidth = (input.width - 2 * MARGIN) / COLUMNS;
  const top = HEADER_HEIGHT;
  const bodies: string[] = [];
  let bottom = 0;
  for (const panel of input.dashboard.panels) {
    const { x, y, w, h } = panel.gridPos;
    const left = MARGIN + x * columnWidth + MARGIN / 2;
    const width = w * columnWidth - MARGIN;
    const height = h * CELL_HEIGHT + (h - 1) * MARGIN;
    const panelTop = top + y * (CELL_HEIGHT + MARGIN);
    bottom = Math.max(bottom, panelTop + height);
    if (panel.type === 'row') {
      const hidden = panel.collapsed ? ` <span class="count">(${panel.panels?.length ?? 0} panels)</span>` : '';
      bodies.push(
        `<div class="row" style="left:${left}px;top:${panelTop}px;width:${width}px;height:${height}px">${panel.collapsed ? '&#9656;' : '&#9662;'} ${escapeHtml(panel.title)}${hidden}</div>`,
      );
      continue;
    }
    const box = { width, height: height - PANEL_TITLE_HEIGHT };
    const results = input.results.get(panel.id) ?? new Map<string, Series[]>();
    let svg: string;
    switch (panel.type) {
      case 'timeseries':
        svg = timeseries(panel, results, input, box);
        break;
      case 'heatmap':
        svg = heatmap(panel, results, input, box);
        break;
      case 'stat':
        svg = stat(panel, results, box);
        break;
      case 'table':
        svg = table(panel, results, box);
        break;
      default:
        throw new Error(`${panel.title}: no drawing for panel type ${panel.type}`);
    }
    bodies.push(
      `<div class="panel" style="left:${left}px;top:${panelTop}px;width:${width}px;height:${height}px">` +
        `<div class="title">${escapeHtml(panel.title)}</div>` +
        `<svg width="${box.width}" height="${box.height}" viewBox="0 0 ${box.width} ${box.height}">${svg}</svg></div>`,
    );
  }
  const height = bottom + MARGIN;
  const variables = Object.entries(input.variables)
    .map(([name, value]) => `<span class="var"><b>${escapeHtml(name)}</b>${escapeHtml(value)}</span>`)
    .join('');
  const range = `${new Date(input.from * 1000).toISOString().slice(0, 19).replace('T', ' ')} to ${clock(input.to)} UTC`;
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(input.dashboard.title)}</title><style>
* { box-sizing: border-box; }
body { margin: 0; background: ${THEME.page}; color: ${THEME.text}; font-family: 'DejaVu Sans', sans-serif; font-size: 12px;
  width: ${input.width}px; height: ${height}px; position: relative; overflow: hidden; }
.header { position: absolute; left: ${MARGIN}px; right: ${MARGIN}px; top: 8px; height: ${HEADER_HEIGHT - 16}px; display: flex;
  align-items: center; gap: 10px; }
.header h1 { font-size: 17px; font-weight: 500; margin: 0 18px 0 4px; }
.var { border: 1px solid ${THEME.border}; border-radius: 2px; background: ${THEME.panel}; display: inline-flex; }
.var b { font-weight: 500; padding: 6px 8px; border-right: 1px solid ${THEME.border}; color: #6e9fff; }
.var, .range { padding-right: 8px; } .var b + * { padding: 6px 8px; }
.var { line-height: 1; align-items: center; gap: 8px; }
.range { margin-left: auto; border: 1px solid ${THEME.border}; border-radius: 2px; background: ${THEME.panel}; padding: 6px 10px; }
.panel { position: absolute; background: ${THEME.panel}; border: 1px solid ${THEME.border}; border-radius: 2px; overflow: hidden; }
.panel svg { display: block; }
.title { height: ${PANEL_TITLE_HEIGHT}px; line-height: ${PANEL_TITLE_HEIGHT}px; padding: 0 8px; font-weight: 500; font-size: 13px;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.row { position: absolute; font-size: 15px; font-weight: 500; line-height: ${CELL_HEIGHT}px; padding-left: 2px; }
.row .count { color: ${THEME.muted}; font-size: 12px; font-weight: 400; }
svg text { fill: ${THEME.muted}; }
svg text.axis { font-size: 10.5px; } svg text.legend { font-size: 11px; fill: ${THEME.text}; }
svg text.statname { font-size: 12px; } svg text.th { font-size: 12px; font-weight: 500; fill: #6e9fff; }
svg text.td { font-size: 12px; fill: ${THEME.text}; } svg text.nodata { font-size: 14px; }
</style></head><body>
<div class="header"><h1>${escapeHtml(input.dashboard.title)}</h1>${variables}<span class="range">${escapeHtml(range)}</span></div>
${bodies.join('\n')}
</body></html>
`;
  return { html, height };
}
