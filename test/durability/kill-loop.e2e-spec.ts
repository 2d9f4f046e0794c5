import assert from '../support/assert.js';
import { describe, it } from '@jest/globals';
import { diagnostic } from '../support/diagnostic.js';
import { makeTempDir } from '../support/temp-dir.js';
import { runKillLoop } from './support/kill-loop.js';
import { seedFromEnv } from '../support/random.js';

/** CI runs 50; `npm run test:crash -- --kills 500` runs as many as asked. */
const KILLS = Number(process.env.CRASH_KILLS ?? 50);

describe('Durability: kill -9 under load', () => {
  it(`when the server is killed -9 ${KILLS} times under 64 writing clients, then no acknowledged write is lost and nothing half-applied appears`, async () => {
    const temp = makeTempDir('items-kill-');
    const seed = seedFromEnv();
    try {
      const report = await runKillLoop({ dbPath: temp.dbPath, kills: KILLS, seed });
      diagnostic(JSON.stringify(report));
      assert.deepEqual(report.violations, [], `seed ${seed} (CRASH_SEED=${seed} repeats the run)`);
      assert.equal(report.kills, KILLS);
      assert.equal(report.failedRestarts, 0);
      assert.equal(report.tempFilesAfterStart, 0);
      // The run proved something only if kills hit writes in flight and compactions ran.
      assert.ok(report.inFlight > 0, 'no kill landed while writes were in flight');
      assert.ok(report.compactions > 0, 'no compaction ran during the load');
      assert.ok(report.acknowledged.create > 0 && report.acknowledged.update > 0 && report.acknowledged.delete > 0);
    } finally {
      temp.remove();
    }
  });
});
