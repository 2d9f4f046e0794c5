/**
 * Where a server's CPU time goes, from a V8 profile (`node --cpu-prof --cpu-prof-dir=D`), for the tables
 * in bench/README.md: `node build/bench/cpu-profile.js <file.cpuprofile> [--top N]`. Times are self
 * time; shares are of the whole profile, idle included, as in the README's tables.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The parts of Chrome DevTools' `Profiler.Profile` this reads. Times are in microseconds. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileFrame {
  name: string;
  /** `node_modules/<package>`, `node:<module>`, a path relative to the repository, or a V8 name such as `(program)`. */
  where: string;
  selfShare: number;
  selfMs: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleShare: number;
  gcShare: number;
  /** The functions with the most self time, each summed over every call path it appears on. */
  frames: ProfileFrame[];
  /** Self time summed by `where`: the ten largest. */
  packages: { where: string; selfShare: number }[];
}

/** Reads a `.cpuprofile` and sums self time by function and by package. */
export function summarizeCpuProfile(file: string, options: { top?: number } = {}): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  if (profile.samples.length !== profile.timeDeltas.length) {
    throw new Error(`${file}: ${profile.samples.length} samples but ${profile.timeDeltas.length} time deltas`);
  }

  // timeDeltas[i] is the time since the sample before; it goes to sample i's node (DevTools gives the
  // interval after instead: the same totals, one sample apart).
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + profile.timeDeltas[i]!));

  // One function shows up as a separate node on every call path that reaches it.
  const byFunction = new Map<string, { name: string; where: string; us: number }>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id);
    if (us === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName}\n${url}\n${lineNumber}`;
    const entry = byFunction.get(key) ?? {
      name: functionName || '(anonymous)',
      where: locationOf(node.callFrame),
      us: 0,
    };
    entry.us += us;
    byFunction.set(key, entry);
  }

  const totalUs = [...selfUs.values()].reduce((sum, us) => sum + us, 0);
  const share = (us: number) => (totalUs > 0 ? us / totalUs : 0);
  const functions = [...byFunction.values()].sort((a, b) => b.us - a.us);
  const byWhere = new Map<string, number>();
  for (const { where, us } of functions) byWhere.set(where, (byWhere.get(where) ?? 0) + us);
  const usOf = (where: string) => byWhere.get(where) ?? 0;

  return {
    totalMs: totalUs / 1000,
    idleShare: share(usOf('(idle)')),
    gcShare: share(usOf('(garbage collector)')),
    frames: functions
      .slice(0, options.top ?? 15)
      .map(({ name, where, us }) => ({ name, where, selfShare: share(us), selfMs: us / 1000 })),
    packages: [...byWhere]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([where, us]) => ({ where, selfShare: share(us) })),
  };
}

/** A markdown table of the top frames, then the packages on one line. */
export function formatCpuProfileSummary(summary: ProfileSummary): string {
  const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
  const lines = [
    `${(summary.totalMs / 1000).toFixed(2)} s profiled: idle ${percent(summary.idleShare)}, GC ${percent(summary.gcShare)}`,
    '',
    '| share | frame | where |',
    '| ----- | ----- | ----- |',
    ...summary.frames.map((f) => `| ${percent(f.selfShare)} | \`${f.name}\` | ${f.where} |`),
    '',
    `By package: ${summary.packages.map((p) => `${p.where} ${percent(p.selfShare)}`).join(', ')}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** A short location: the package for dependencies, the repository-relative path for our code. */
function locationOf({ functionName, url }: { functionName: string; url: string }): string {
  // V8's own entries, `(program)`, `(idle)`, `(garbage collector)`, `(root)`, have no script.
  if (url === '') return /^\(.*\)$/.test(functionName) ? functionName : '(native)';
  if (url.startsWith('node:')) return url;
  if (!url.startsWith('file:') && !path.isAbsolute(url)) return url;
  const file = url.startsWith('file:') ? fileURLToPath(url) : url;
  const parts = file.split(path.sep);
  const modules = parts.lastIndexOf('node_modules');
  if (modules >= 0) {
    const scoped = parts[modules + 1]?.startsWith('@');
    return ['node_modules', ...parts.slice(modules + 1, modules + (scoped ? 3 : 2))].join('/');
  }
  const relative = path.relative(ROOT, file);
  // A profile of another checkout: its absolute path says more than a run of `../`.
  return relative.startsWith('..') ? file : relative;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true });
  const top = values.top === undefined ? undefined : Number(values.top);
  if (positionals.length !== 1 || (top !== undefined && !(Number.isInteger(top) && top > 0))) {
    process.stderr.write('usage: node build/bench/cpu-profile.js <file.cpuprofile> [--top N]\n');
    process.exit(2);
  }
  process.stdout.write(formatCpuProfileSummary(summarizeCpuProfile(positionals[0]!, { top })));
}
