import assert from '../support/assert.js';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from '@jest/globals';
import { assertProblem } from '../support/http.js';
import { answerOf, postWithKey } from '../support/idempotency.js';
import { readAllItems } from '../support/items.js';
import { type ServerProcess, startServer } from '../support/server-process.js';
import { makeTempDir } from '../support/temp-dir.js';

const post = (url: string, body: unknown, key: string) => postWithKey(url, body, key);
const answer = answerOf;

/** The key as the store holds it, for a caller without an API key (see scopedIdempotencyKey). */
function storedKey(key: string): string {
  return createHash('sha256').update(`anonymous\n${key}`).digest('hex');
}

describe('Durability: an Idempotency-Key survives kill -9 (the built server, real files)', () => {
  let temp: ReturnType<typeof makeTempDir>;
  let server: ServerProcess | undefined;
  beforeEach(() => {
    temp = makeTempDir('items-idem-');
  });
  afterEach(async () => {
    await server?.stop('SIGKILL');
    temp.remove();
  });

  it('when a POST with a key was acknowledged and the server is killed -9, then after a restart the retry is replayed and there is one item', async () => {
    server = await startServer({ DB_PATH: temp.dbPath });
    const first = await post(server.url, { name: 'before the crash' }, 'crash-1');
    assert.equal(first.status, 201);
    await server.stop('SIGKILL');

    server = await startServer({ DB_PATH: temp.dbPath });
    const retry = await post(server.url, { name: 'before the crash' }, 'crash-1');
    assert.deepEqual(answer(retry), answer(first));
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assertProblem(await post(server.url, { name: 'another body' }, 'crash-1'), 422);
    assert.deepEqual([...(await readAllItems(server.url)).values()], [first.body]);
  });

  it('when the journal holding the key was compacted into the snapshot before the kill -9, then the retry is still replayed', async () => {
    const env = { DB_PATH: temp.dbPath, DB_COMPACT_THRESHOLD: '1kb' };
    server = await startServer(env);
    const first = await post(server.url, { id: 'kept', name: 'compacted away' }, 'compact-1');
    assert.equal(first.status, 201);
    // More keyed writes, until a compaction has folded the first one's journal line into the snapshot.
    const deadline = Date.now() + 30_000;
    for (let n = 0; !/"msg":"store compacted"/.test(server.stdout()) || existsSync(`${temp.dbPath}.journal.old`); n++) {
      assert.ok(Date.now() < deadline, 'no compaction finished');
      assert.equal((await post(server.url, { name: `filler ${n}` }, `filler-${n}`)).status, 201);
    }
    const snapshot = JSON.parse(readFileSync(temp.dbPath, 'utf8')) as {
      format: string;
      idempotency_keys: Array<{ key: string; item: unknown }>;
    };
    assert.equal(snapshot.format, 'items-service.snapshot/2');
    const record = snapshot.idempotency_keys.find((r) => r.key === storedKey('compact-1'));
    assert.deepEqual(record?.item, first.body, 'the snapshot holds the record with the item as created');
    assert.ok(!readFileSync(temp.dbPath, 'utf8').includes('compact-1'), 'the raw key is not stored');
    assert.ok(!readFileSync(`${temp.dbPath}.journal`, 'utf8').includes('"kept"'), 'only the snapshot has it now');
    const items = (await readAllItems(server.url)).size;
    await server.stop('SIGKILL');

    server = await startServer(env);
    const retry = await post(server.url, { id: 'kept', name: 'compacted away' }, 'compact-1');
    assert.deepEqual(answer(retry), answer(first));
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assertProblem(await post(server.url, { name: 'another body' }, 'compact-1'), 422);
    assert.equal((await readAllItems(server.url)).size, items);
  });
});
