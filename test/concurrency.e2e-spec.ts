import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startApp } from './support/in-process-app.js';
import { makeTempDir } from './support/temp-dir.js';

const CLIENTS = 64;
const CREATES_PER_CLIENT = 500;

async function listAll(url: string, dispatcher: Agent): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const response = await request(`${url}/items?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, { dispatcher });
    const page = (await response.body.json()) as { items: Array<{ id: string }>; next_cursor: string | null };
    ids.push(...page.items.map((i) => i.id));
    cursor = page.next_cursor;
  } while (cursor !== null);
  return ids;
}

describe('Concurrent creates', () => {
  const temp = makeTempDir();
  const dispatcher = new Agent({ connections: CLIENTS });
  after(async () => {
    await dispatcher.close();
    temp.remove();
  });

  it(`when ${CLIENTS} clients create ${CREATES_PER_CLIENT} items each, then every 201 is listed once, before and after a restart`, async () => {
    let running = await startApp({ DB_PATH: temp.dbPath });
    const acknowledged: string[] = [];
    let failures = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        for (let i = 0; i < CREATES_PER_CLIENT; i++) {
          const response = await request(`${running.url}/items`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: `client ${client} item ${i}` }),
            dispatcher,
          });
          const body = (await response.body.json()) as { id: string };
          if (response.statusCode === 201) acknowledged.push(body.id);
          else failures++;
        }
      }),
    );
    assert.equal(failures, 0);
    assert.equal(acknowledged.length, CLIENTS * CREATES_PER_CLIENT);

    const listed = await listAll(running.url, dispatcher);
    assert.equal(new Set(listed).size, listed.length, 'no duplicate ids');
    assert.equal(listed.length, acknowledged.length);
    assert.deepEqual(new Set(listed), new Set(acknowledged));

    await running.close();
    running = await startApp({ DB_PATH: temp.dbPath });
    try {
      const afterRestart = await listAll(running.url, dispatcher);
      assert.equal(afterRestart.length, acknowledged.length);
      assert.deepEqual(afterRestart, listed, 'same items in the same order after a restart');
    } finally {
      await running.close();
    }
  });
});
