/**
 * The kill -9 loop on its own, for as many kills as asked:
 *   npm run test:crash -- --kills 200 [--seed 1234] [--clients 64]
 * Prints one line per kill and the report; exits 1 on any violation.
 */
import { parseArgs } from 'node:util';
import { makeTempDir } from '../support/temp-dir.js';
import { runKillLoop } from './support/kill-loop.js';
import { seedFromEnv } from '../support/random.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '200' },
    seed: { type: 'string' },
    clients: { type: 'string', default: '64' },
    keep: { type: 'boolean', default: false },
  },
});
const kills = Number(values.kills);
const clients = Number(values.clients);
if (!Number.isSafeInteger(kills) || kills < 1 || !Number.isSafeInteger(clients) || clients < 1) {
  process.stderr.write('usage: npm run test:crash -- --kills <n> [--seed <n>] [--clients <n>] [--keep]\n');
  process.exit(2);
}
const seed = values.seed === undefined ? seedFromEnv() : Number(values.seed);
const temp = makeTempDir('items-crash-');
process.stdout.write(`kill -9 loop: ${kills} kills, ${clients} clients, seed ${seed}, data in ${temp.dir}\n`);
const report = await runKillLoop({
  dbPath: temp.dbPath,
  kills,
  clients,
  seed,
  progress: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
if (values.keep || report.violations.length > 0) process.stdout.write(`data kept in ${temp.dir}\n`);
else temp.remove();
process.exitCode = report.violations.length === 0 && report.kills === kills ? 0 : 1;
