import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { startServer } from '../../support/server-process.js';
import { Random } from '../../support/random.js';
import { readAllItems, type StoredItem } from '../../support/items.js';
import { reconcileWrites, type WriteAttempt } from './reconcile.js';

export interface KillLoopOptions {
  dbPath: string;
  kills: number;
  seed: number;
  clients?: number;
  /** The kill lands this long after the load starts, uniformly in [min, max]. */
  killAfterMs?: [number, number];
  /** Small, so that kills also land inside compactions. */
  compactThreshold?: string;
  progress?: (line: string) => void;
}

export interface KillLoopReport {
  seed: number;
  kills: number;
  acknowledged: { create: number; update: number; delete: number };
  /** Writes in flight when the process died; each must be either fully applied or absent. */
  inFlight: number;
  inFlightApplied: number;
  /** Kills that landed during a compaction (a temp snapshot or an old journal was left behind). */
  killsDuringCompaction: number;
  compactions: number;
  items: number;
  failedRestarts: number;
  tempFilesAfterStart: number;
  violations: string[];
}

/**
 * Kill -9 under load, over and over: 64 clients write (create, rename, delete) while the server is
 * SIGKILLed at a random moment; it is restarted and what it holds is compared with what it
 * acknowledged. Each client owns its ids, so the last acknowledged write of each id is known exactly,
 * and a write whose answer never came must be either fully there or not at all.
 */
export async function runKillLoop(options: KillLoopOptions): Promise<KillLoopReport> {
  const clients = options.clients ?? 64;
  const [minDelay, maxDelay] = options.killAfterMs ?? [20, 400];
  const random = new Random(options.seed);
  const env = { DB_PATH: options.dbPath, DB_COMPACT_THRESHOLD: options.compactThreshold ?? '32kb' };
  const report: KillLoopReport = {
    seed: options.seed,
    kills: 0,
    acknowledged: { create: 0, update: 0, delete: 0 },
    inFlight: 0,
    inFlightApplied: 0,
    killsDuringCompaction: 0,
    compactions: 0,
    items: 0,
    failedRestarts: 0,
    tempFilesAfterStart: 0,
    violations: [],
  };
  /** What the store must hold: every acknowledged write applied, in order. */
  const expected = new Map<string, StoredItem>();
  let nextName = 0;
  let nextId = 0;

  let server = await startServer(env);
  try {
    await killRounds();
  } finally {
    await server.stop('SIGTERM');
  }
  report.items = expected.size;
  return report;

  async function killRounds(): Promise<void> {
    for (let round = 1; round <= options.kills; round++) {
      const dispatcher = new Agent({ connections: clients });
      const inFlight = new Map<string, WriteAttempt>();
      let killed = false;

      const client = async (owner: number) => {
        const prefix = `c${owner}-`;
        const owned = [...expected.keys()].filter((id) => id.startsWith(prefix));
        while (!killed) {
          const attempt = chooseWrite(random, owned, () => `${prefix}${nextId++}`, `n${nextName++}`, expected);
          inFlight.set(attempt.id, attempt);
          let status: number;
          let body: unknown;
          try {
            const response = await send(server.url, attempt, dispatcher);
            status = response.status;
            body = response.body;
          } catch {
            return; // The process died: the write's outcome is unknown, and checked after the restart.
          }
          inFlight.delete(attempt.id);
          if (status >= 200 && status < 300) {
            report.acknowledged[attempt.op]++;
            if (attempt.op === 'delete') {
              expected.delete(attempt.id);
              owned.splice(owned.indexOf(attempt.id), 1);
            } else {
              if (attempt.op === 'create') owned.push(attempt.id);
              expected.set(attempt.id, body as StoredItem);
            }
          } else {
            report.violations.push(`round ${round}: ${attempt.op} ${attempt.id} answered ${status} under normal load`);
            return;
          }
        }
      };

      const load = Promise.all(Array.from({ length: clients }, (_, owner) => client(owner)));
      await new Promise((resolve) => setTimeout(resolve, random.int(minDelay, maxDelay)));
      const crashed = server;
      await crashed.stop('SIGKILL');
      killed = true;
      await load;
      await dispatcher.destroy();
      report.kills++;
      report.compactions += countMatches(crashed.stdout(), /"msg":"store compacted"/g);
      const leftOver = leftOverFiles(options.dbPath);
      if (leftOver.length > 0) report.killsDuringCompaction++;

      try {
        server = await startServer(env);
      } catch (err) {
        report.failedRestarts++;
        report.violations.push(`round ${round}: the restart failed: ${String(err)}`);
        break;
      }
      const tempFiles = leftOverFiles(options.dbPath).filter((name) => name.includes('.tmp-'));
      if (tempFiles.length > 0) {
        report.tempFilesAfterStart += tempFiles.length;
        report.violations.push(`round ${round}: temp files left after the start: ${tempFiles.join(', ')}`);
      }

      const actual = await readAllItems(server.url);
      for (const violation of reconcileWrites(expected, inFlight, actual, report))
        report.violations.push(`round ${round}: ${violation}`);
      options.progress?.(
        `kill ${round}/${options.kills}: ${actual.size} items, ${inFlight.size} writes in flight, ` +
          `${leftOver.length > 0 ? 'during a compaction, ' : ''}${report.violations.length} violations`,
      );
      if (report.violations.length > 20) break;
    }
  }
}

function chooseWrite(
  random: Random,
  owned: string[],
  newId: () => string,
  name: string,
  expected: ReadonlyMap<string, StoredItem>,
): WriteAttempt {
  // Keeps each client at a few dozen items, so that creates, updates and deletes all keep happening.
  const roll = random.next();
  const createChance = owned.length < 10 ? 0.7 : owned.length > 40 ? 0.1 : 0.35;
  if (owned.length === 0 || roll < createChance) return { op: 'create', id: newId(), name, before: undefined };
  const id = random.pick(owned);
  const op: WriteAttempt['op'] = roll < createChance + (1 - createChance) * 0.6 ? 'update' : 'delete';
  return { op, id, name, before: expected.get(id) };
}

async function send(url: string, attempt: WriteAttempt, dispatcher: Agent): Promise<{ status: number; body: unknown }> {
  const json = { 'content-type': 'application/json' };
  const response =
    attempt.op === 'create'
      ? await request(`${url}/items`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ id: attempt.id, name: attempt.name }),
          dispatcher,
        })
      : attempt.op === 'update'
        ? await request(`${url}/items/${attempt.id}`, {
            method: 'PATCH',
            headers: json,
            body: JSON.stringify({ name: attempt.name }),
            dispatcher,
          })
        : await request(`${url}/items/${attempt.id}`, { method: 'DELETE', dispatcher });
  const text = await response.body.text();
  return { status: response.statusCode, body: text === '' ? undefined : JSON.parse(text) };
}

/** Files a crash inside a compaction leaves: a temp snapshot, or the journal set aside. */
function leftOverFiles(dbPath: string): string[] {
  const dir = path.dirname(dbPath);
  const base = path.basename(dbPath);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => name.startsWith(`${base}.tmp-`) || name === `${base}.journal.old`);
}

function countMatches(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}
