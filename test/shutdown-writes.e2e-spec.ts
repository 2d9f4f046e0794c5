import assert from './support/assert.js';
import { describe, it } from '@jest/globals';
import { diagnostic } from './support/diagnostic.js';
import { setTimeout as delay } from 'node:timers/promises';
import { rawRequest } from './support/http.js';
import { createItemRequest, HttpSocket, requestHead } from './support/http-socket.js';
import { Random, seedFromEnv } from './support/random.js';
import { startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';
import { waitFor } from './support/timing.js';

const TRIALS = Number(process.env.SHUTDOWN_TRIALS ?? 200);
/** For the requests that must be cut; the others get the default, far longer than a write takes. */
const SHORT_SHUTDOWN_TIMEOUT = '300ms';
/**
 * Each trial starts and stops a server process, so the run's length follows the machine's load: a few
 * minutes on a quiet 2-core machine, past the suite-wide 10 minutes when it is busy (seen in CI).
 * A bound, not a speed assertion: it only stops a run that hangs.
 */
const RUN_TIMEOUT_MS = 25 * 60_000;

/**
 * How the POST and the signal meet: the request sent just before the signal, just after it, or with
 * its body still arriving when SHUTDOWN_TIMEOUT expires (so that it is cut).
 */
type Timing = 'request first' | 'signal first' | 'body too late';

describe('Writes in flight at SIGTERM (the built server, restarted after each signal)', () => {
  it(
    `when SIGTERM lands during a POST (${TRIALS} trials), then a 201 is always there after the restart, an error never is, and every run logs its final line`,
    async () => {
      const seed = seedFromEnv('SHUTDOWN_SEED');
      diagnostic(`seed ${seed} (SHUTDOWN_SEED=${seed} repeats this run)`);
      const random = new Random(seed);
      const temp = makeTempDir();
      const violations: string[] = [];
      const outcomes = new Map<string, number>();
      let finalLines = 0;
      let previous: { id: string; answer: number | string } | undefined;
      try {
        for (let trial = 0; trial <= TRIALS; trial++) {
          const timing = random.pick<Timing>(['request first', 'signal first', 'body too late']);
          const server = await startServer({
            DB_PATH: temp.dbPath,
            ...(timing === 'body too late' ? { SHUTDOWN_TIMEOUT: SHORT_SHUTDOWN_TIMEOUT } : {}),
          });
          try {
            if (previous) {
              // On a connection of its own, closed after the answer: an idle keep-alive connection would
              // hold the shutdown up for its 1 s grace.
              const request = requestHead('GET', `/items/${previous.id}`, { Connection: 'close' });
              const present = (await rawRequest(server.url, request)).status === 200;
              if (previous.answer === 201 && !present)
                violations.push(`${previous.id}: 201 received but the item is missing after the restart`);
              if (previous.answer !== 201 && present)
                violations.push(`${previous.id}: the item is there but the client got ${previous.answer}`);
            }
            if (trial === TRIALS) break;

            const id = `trial-${trial}`;
            const gapMs = random.int(0, 3);
            const socket = await HttpSocket.connect(server.url);
            const { head, body } = createItemRequest({ id, name: `written during shutdown ${trial}` });
            const answer = socket.response().then(
              (response) => response.status,
              () => 'no response',
            );
            let exited: Promise<number | string>;
            if (timing === 'request first') {
              socket.write(head + body);
              await delay(gapMs);
              exited = server.stop('SIGTERM');
            } else if (timing === 'signal first') {
              exited = server.stop('SIGTERM');
              await delay(gapMs);
              socket.write(head + body);
            } else {
              socket.write(head + body.slice(0, 3));
              await delay(gapMs);
              exited = server.stop('SIGTERM');
              await waitFor(() => /"msg":"shutdown timeout expired/.test(server.stdout()) || !socket.isOpen, 'the cut');
              if (socket.isOpen) socket.write(body.slice(3));
            }
            const code = await exited;
            previous = { id, answer: await answer };
            const key = `${timing}: ${previous.answer}, exit ${String(code)}`;
            outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
            if (/"msg":"shutdown complete"/.test(server.stdout())) finalLines++;
            else violations.push(`${id}: no final log line (exit ${String(code)}):\n${server.stdout().slice(-500)}`);
            socket.destroy();
          } finally {
            await server.stop('SIGKILL');
          }
        }
      } finally {
        temp.remove();
      }
      diagnostic([...outcomes].map(([key, count]) => `${count} × ${key}`).join('; '));
      diagnostic(`final shutdown log line in ${finalLines} of ${TRIALS} SIGTERM runs`);
      assert.deepEqual(violations, []);
      assert.equal(finalLines, TRIALS);
    },
    RUN_TIMEOUT_MS,
  );
});
