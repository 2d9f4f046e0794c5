import assert from './support/assert.js';
import { afterAll, describe, it } from '@jest/globals';
import { Agent, request } from 'undici';
import { startApp } from './support/in-process-app.js';
import { readAllItems } from './support/items.js';
import { makeTempDir } from './support/temp-dir.js';

const CLIENTS = 64;
const CREATES_PER_CLIENT = 500;

/** Every id the service lists, in list order. */
async function listAll(url: string, dispatcher: Agent): Promise<string[]> {
  return [...(await readAllItems(url, dispatcher)).keys()];
}

describe('Concurrent creates', () => {
  const temp = makeTempDir();
  const dispatcher = new Agent({ connections: CLIENTS });
  afterAll(async () => {
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
