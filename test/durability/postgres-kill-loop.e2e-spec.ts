import assert from '../support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import pg from 'pg';
import { Agent, request } from 'undici';
import { itemEtag } from '../../src/items/item-etag.js';
import type { ItemsTable } from '../../src/items/postgres/items-database.js';
import { toItem } from '../../src/items/postgres/postgres-items.repository.js';
import { diagnostic } from '../support/diagnostic.js';
import type { StoredItem } from '../support/items.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { Random, seedFromEnv } from '../support/random.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { reconcileWrites, type WriteAttempt } from './support/reconcile.js';

/** CI runs 50 (about a minute); PG_CRASH_KILLS=500 runs more. */
const KILLS = Number(process.env.PG_CRASH_KILLS ?? 50);
/** Above the pool's 10 connections, so that writes also wait for one (acknowledged early, they would be lost there). */
const CLIENTS = 16;
/** Processes started ahead, each to take the place of one killed. */
const STANDBY = 3;
/**
 * The kill lands this long after the process acknowledged its first write: a fresh process takes a
 * while to answer at all, and a kill before that would prove nothing.
 */
const KILL_AFTER_MS: [number, number] = [20, 800];

type Op = 'create' | 'update';

interface Report {
  seed: number;
  kills: number;
  acknowledged: Record<Op, number>;
  /** Writes whose answer never came, because the process died; each must be in whole or not at all. */
  inFlight: number;
  inFlightApplied: number;
  items: number;
  /** How long the loop waited for a process to take over: most of the run, on a busy machine. */
  waitedForStartsMs: number;
  violations: string[];
}

/** Every row of the items table, as the API shows it. */
async function readDatabase(url: string): Promise<Map<string, StoredItem>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<ItemsTable>('select id, name, created_at, updated_at, version from items');
    return new Map(rows.map((row) => [row.id, toItem(row)]));
  } finally {
    await client.end();
  }
}

describe('Durability: kill -9 of a service on PostgreSQL under load', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    await database.migrate();
  });
  afterAll(async () => database?.drop());

  it(`when the service is killed -9 ${KILLS} times under ${CLIENTS} clients creating and conditionally updating items, then every acknowledged write is in the database`, async () => {
    const seed = seedFromEnv();
    const random = new Random(seed);
    const env = { STORE_DRIVER: 'postgres', DATABASE_URL: database.url };
    const report: Report = {
      seed,
      kills: 0,
      acknowledged: { create: 0, update: 0 },
      inFlight: 0,
      inFlightApplied: 0,
      items: 0,
      waitedForStartsMs: 0,
      violations: [],
    };
    /** What the database must hold: each id's last acknowledged state. Each client owns its ids. */
    const expected = new Map<string, StoredItem>();
    let nextId = 0;
    let nextName = 0;

    // A new process replaces each killed one, as many replicas on one database allow: it starts while
    // the load runs on an earlier one, since a start (seconds on a busy machine) would otherwise be most
    // of the run.
    const standby: Array<Promise<ServerProcess>> = [];
    const startStandby = () => {
      const starting = startServer(env, 60_000);
      starting.catch(() => undefined); // awaited when its turn comes
      standby.push(starting);
    };
    for (let n = 0; n < Math.min(STANDBY, KILLS); n++) startStandby();
    try {
      for (let round = 1; round <= KILLS && report.violations.length <= 20; round++) {
        const waitingSince = performance.now();
        const server = await standby.shift()!;
        report.waitedForStartsMs += Math.round(performance.now() - waitingSince);
        if (round + standby.length <= KILLS) startStandby();
        const dispatcher = new Agent({ connections: CLIENTS });
        const inFlight = new Map<string, WriteAttempt>();
        let killed = false;
        const url = server.url;
        let firstAcknowledged!: () => void;
        const acknowledging = new Promise<void>((resolve) => (firstAcknowledged = resolve));

        const client = async (owner: number) => {
          const prefix = `c${owner}-`;
          const owned = [...expected.keys()].filter((id) => id.startsWith(prefix));
          while (!killed) {
            const create = owned.length === 0 || random.next() < (owned.length < 20 ? 0.5 : 0.1);
            const id = create ? `${prefix}${nextId++}` : random.pick(owned);
            const attempt: WriteAttempt = {
              op: create ? 'create' : 'update',
              id,
              name: `n${nextName++}`,
              before: expected.get(id),
            };
            inFlight.set(id, attempt);
            let status: number;
            let body: string;
            try {
              const response = await request(create ? `${url}/items` : `${url}/items/${id}`, {
                method: create ? 'POST' : 'PATCH',
                headers: {
                  'content-type': 'application/json',
                  ...(attempt.before ? { 'if-match': itemEtag(attempt.before) } : {}),
                },
                body: JSON.stringify(create ? { id, name: attempt.name } : { name: attempt.name }),
                dispatcher,
              });
              status = response.statusCode;
              body = await response.body.text();
            } catch {
              return; // The process died: the write's outcome is unknown, and checked in the database.
            }
            inFlight.delete(id);
            if (status !== 200 && status !== 201) {
              report.violations.push(`round ${round}: ${attempt.op} ${id} answered ${status} ${body}`);
              return;
            }
            report.acknowledged[create ? 'create' : 'update']++;
            firstAcknowledged();
            if (create) owned.push(id);
            expected.set(id, JSON.parse(body) as StoredItem);
          }
        };

        const load = Promise.all(Array.from({ length: CLIENTS }, (_, owner) => client(owner)));
        await Promise.race([acknowledging, load]);
        await new Promise((resolve) => setTimeout(resolve, random.int(...KILL_AFTER_MS)));
        await server.stop('SIGKILL');
        killed = true;
        await load;
        await dispatcher.destroy();
        report.kills++;

        const actual = await readDatabase(database.url);
        for (const violation of reconcileWrites(expected, inFlight, actual, report))
          report.violations.push(`round ${round}: ${violation}`);
      }
    } finally {
      for (const left of await Promise.allSettled(standby))
        if (left.status === 'fulfilled') await left.value.stop('SIGTERM');
    }
    report.items = expected.size;
    diagnostic(JSON.stringify({ ...report, violations: report.violations.length }));

    assert.deepEqual(report.violations, [], `seed ${seed} (CRASH_SEED=${seed} repeats the run's choices)`);
    assert.equal(report.kills, KILLS);
    // The run proved something only if kills hit writes in flight, and both kinds of write were acknowledged.
    assert.ok(report.inFlight > 0, 'no kill landed while writes were in flight');
    assert.ok(report.acknowledged.create > 0 && report.acknowledged.update > 0, JSON.stringify(report.acknowledged));
  });
});
