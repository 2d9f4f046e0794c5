import assert from '../support/assert.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { diagnostic } from '../support/diagnostic.js';
import { Agent, request } from 'undici';
import { startServer } from '../support/server-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { type AcknowledgedWrite, checkOrder, parseTrace } from './support/strace-trace.js';
import { straceVersion, traceTo } from './support/strace.js';

const WRITES = 1000;
const CLIENTS = 16;

describe('Durability: the order of writes, fsyncs and renames, read from strace', () => {
  it(`when ${WRITES} writes run under strace, then every acknowledgement follows the fsync of its bytes and every snapshot rename sits between fsyncs`, async () => {
    diagnostic(straceVersion());
    const temp = makeTempDir('items-order-');
    const traceFile = path.join(temp.dir, 'strace.txt');
    const dbPath = path.join(temp.dir, 'data', 'items.json');
    // A small threshold, so that the journal is folded into a snapshot several times during the run.
    const server = await startServer({ DB_PATH: dbPath, DB_COMPACT_THRESHOLD: '4kb' }, 60_000, {
      wrapper: traceTo(traceFile),
    });
    const dispatcher = new Agent({ connections: CLIENTS });
    const writes: AcknowledgedWrite[] = [];
    try {
      let next = 0;
      const live: string[] = [];
      const statuses: number[] = [];
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (next < WRITES) {
            const n = next++;
            const requestId = `op-${n}`;
            const json = { 'content-type': 'application/json', 'x-request-id': requestId };
            // Mostly creates, then renames and deletes of items created earlier.
            const kind =
              n % 5 === 3 && live.length > 0 ? 'update' : n % 5 === 4 && live.length > 0 ? 'delete' : 'create';
            let response;
            if (kind === 'create') {
              const id = `i${n}`;
              response = await request(`${server.url}/items`, {
                method: 'POST',
                headers: json,
                body: JSON.stringify({ id, name: requestId }),
                dispatcher,
              });
              live.push(id);
              writes.push({ requestId, journalMarker: `\\"name\\":\\"${requestId}\\"` });
            } else if (kind === 'update') {
              const id = live[n % live.length]!;
              response = await request(`${server.url}/items/${id}`, {
                method: 'PATCH',
                headers: json,
                body: JSON.stringify({ name: requestId }),
                dispatcher,
              });
              writes.push({ requestId, journalMarker: `\\"name\\":\\"${requestId}\\"` });
            } else {
              const id = live.splice(n % live.length, 1)[0]!;
              response = await request(`${server.url}/items/${id}`, {
                method: 'DELETE',
                headers: { 'x-request-id': requestId },
                dispatcher,
              });
              writes.push({ requestId, journalMarker: `\\"op\\":\\"delete\\",\\"id\\":\\"${id}\\"` });
            }
            await response.body.dump();
            statuses.push(response.statusCode);
          }
        }),
      );
      assert.deepEqual(
        statuses.filter((status) => status >= 300),
        [],
        'every write succeeded',
      );
    } finally {
      await dispatcher.close();
      assert.equal(await server.stop('SIGTERM'), 0);
    }
    try {
      const calls = parseTrace(readFileSync(traceFile, 'utf8'));
      const report = checkOrder(calls, dbPath, writes);
      diagnostic(JSON.stringify({ ...report, violations: report.violations.length, syscalls: calls.length }));
      assert.deepEqual(report.violations, []);
      assert.equal(report.acknowledgements, WRITES, 'every write was acknowledged and checked');
      assert.ok(report.snapshotRenames >= 3, `only ${report.snapshotRenames} snapshot renames: compaction untested`);
      assert.ok(report.journalRotations >= 2, `only ${report.journalRotations} journal rotations`);
    } finally {
      temp.remove();
    }
  });
});
