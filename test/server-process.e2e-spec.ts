import assert from './support/assert.js';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from '@jest/globals';
import { jsonRequest } from './support/http.js';
import { collectOutput, PROJECT_ROOT, runServerToExit, startServer, whenListening } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

describe('The built server as a child process', () => {
  it('when the tests run, then they and the server run on Node 24, not the machine Node', async () => {
    assert.equal(process.versions.node.split('.')[0], '24', `tests run on ${process.version}`);
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath });
    try {
      assert.match(server.stdout(), /"msg":"listening".*"node_version":"v24\./);
    } finally {
      await server.stop();
      temp.remove();
    }
  });

  it('when an item is created as the README shows, then it survives a restart', async () => {
    const temp = makeTempDir();
    let server = await startServer({ DB_PATH: temp.dbPath });
    try {
      const created = await jsonRequest(`${server.url}/items`, 'POST', { name: 'demo' });
      assert.equal(created.status, 201);
      assert.equal(await server.stop('SIGTERM'), 0);
      server = await startServer({ DB_PATH: temp.dbPath });
      const fetched = await jsonRequest(`${server.url}/items/${created.body.id}`, 'GET');
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.body, created.body);
    } finally {
      await server.stop();
      temp.remove();
    }
  });

  it('when acknowledged writes are followed by kill -9, then they are all there after a restart', async () => {
    const temp = makeTempDir();
    let server = await startServer({ DB_PATH: temp.dbPath });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 50; i++)
        ids.push((await jsonRequest(`${server.url}/items`, 'POST', { name: `k${i}` })).body.id);
      await server.stop('SIGKILL');
      server = await startServer({ DB_PATH: temp.dbPath });
      const listed = await jsonRequest(`${server.url}/items?limit=1000`, 'GET');
      assert.deepEqual(
        listed.body.items.map((i: { id: string }) => i.id),
        ids,
      );
    } finally {
      await server.stop();
      temp.remove();
    }
  });

  it('when the configuration is invalid, then start-up stops with a non-zero exit and one message naming each variable', async () => {
    const result = await runServerToExit({ PORT: 'eighty', SHUTDOWN_TIMEOUT: 'later', APP_ENV: 'prod' });
    assert.equal(result.code, 78);
    assert.match(result.stderr, /Invalid configuration/);
    for (const variable of ['PORT', 'SHUTDOWN_TIMEOUT', 'DB_PATH', 'API_KEYS'])
      assert.match(result.stderr, new RegExp(`- ${variable}\\b`));
  });

  it('when a second process opens the same DB_PATH, then it is refused with a message naming the holder', async () => {
    const temp = makeTempDir();
    const first = await startServer({ DB_PATH: temp.dbPath });
    try {
      const second = await runServerToExit({ DB_PATH: temp.dbPath });
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`in use by process ${first.child.pid}`));
      assert.match(second.stderr, /items\.json\.lock/);
      assert.equal((await jsonRequest(`${first.url}/items`, 'POST', { name: 'still mine' })).status, 201);
    } finally {
      await first.stop();
      temp.remove();
    }
  });

  it('when the snapshot is corrupt, then start-up is refused naming the file and line, and the file is unchanged', async () => {
    const temp = makeTempDir();
    const server = await startServer({ DB_PATH: temp.dbPath });
    for (let i = 0; i < 3; i++) await jsonRequest(`${server.url}/items`, 'POST', { name: `c${i}` });
    await server.stop();
    const corrupt = `{"format":"items-service.snapshot/1","seq":0,"items":[\n{"id":"a","name":"x","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:00.000Z","version":1},\n{"id":"b", GARBAGE\n]}\n`;
    writeFileSync(temp.dbPath, corrupt);
    const journalBefore = readFileSync(`${temp.dbPath}.journal`);
    try {
      const result = await runServerToExit({ DB_PATH: temp.dbPath });
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`${temp.dbPath.replaceAll('.', '\\.')} line 3: is not valid JSON`));
      assert.equal(readFileSync(temp.dbPath, 'utf8'), corrupt);
      assert.deepEqual(readFileSync(`${temp.dbPath}.journal`), journalBefore);
    } finally {
      temp.remove();
    }
  });

  it('when the journal ends in a torn line and temp files are left over, then start-up drops and removes them and serves the rest', async () => {
    const temp = makeTempDir();
    let server = await startServer({ DB_PATH: temp.dbPath });
    const kept = (await jsonRequest(`${server.url}/items`, 'POST', { name: 'kept' })).body;
    await server.stop('SIGKILL');
    writeFileSync(`${temp.dbPath}.journal`, '{"seq":2,"op":"put","item":{"id":"torn"', { flag: 'a' });
    writeFileSync(path.join(temp.dir, 'items.json.tmp-999-x'), '{"format"');
    server = await startServer({ DB_PATH: temp.dbPath });
    try {
      const listed = await jsonRequest(`${server.url}/items`, 'GET');
      assert.deepEqual(listed.body.items, [kept]);
      assert.deepEqual(
        readdirSync(temp.dir).filter((name) => name.includes('.tmp-')),
        [],
      );
      const next = await jsonRequest(`${server.url}/items`, 'POST', { name: 'after the tear' });
      assert.equal(next.status, 201);
      await server.stop();
      server = await startServer({ DB_PATH: temp.dbPath });
      assert.equal((await jsonRequest(`${server.url}/items`, 'GET')).body.items.length, 2);
    } finally {
      await server.stop();
      temp.remove();
    }
  });

  it('when `npm start` (as the README says) gets SIGTERM, then the service stops with it, freeing its port and the store lock', async () => {
    const temp = makeTempDir();
    // npm as a user runs it: from the checkout, with the user's environment, building first.
    const npm = collectOutput(
      spawn('npm', ['start'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, DB_PATH: temp.dbPath, HOST: '127.0.0.1', PORT: '0', SHUTDOWN_DRAIN_DELAY: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const server = await whenListening(npm, 120_000);
    try {
      assert.notEqual(server.pid, npm.child.pid, 'npm runs the service; it is not the service');
      assert.ok(existsSync(`${temp.dbPath}.lock`));

      npm.child.kill('SIGTERM');
      assert.equal(await server.exited, 0, server.stdout() + server.stderr());

      assert.throws(() => process.kill(server.pid, 0), { code: 'ESRCH' }, 'the service process is gone');
      assert.equal(existsSync(`${temp.dbPath}.lock`), false, 'the store lock is released');
      const port = Number(new URL(server.url).port);
      await new Promise<void>((resolve, reject) => {
        const probe = net.createServer().once('error', reject);
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
      });
    } finally {
      npm.child.kill('SIGKILL');
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
      temp.remove();
    }
  });

  it('when a .env file sits in the working directory, then it is read, the environment wins over it, and its errors name the variable', async () => {
    const temp = makeTempDir();
    writeFileSync(
      path.join(temp.dir, '.env'),
      ['# a comment', 'DB_PATH=./from-dotenv/items.json', 'HOST=0.0.0.0', 'SHUTDOWN_TIMEOUT=7s', ''].join('\n'),
    );
    const server = await startServer({}, 15_000, { cwd: temp.dir });
    try {
      assert.match(
        server.stdout(),
        /"msg":"listening","address":"127\.0\.0\.1:/,
        'HOST from the environment beats .env',
      );
      assert.equal((await jsonRequest(`${server.url}/items`, 'POST', { name: 'x' })).status, 201);
      assert.ok(existsSync(path.join(temp.dir, 'from-dotenv/items.json.journal')), 'DB_PATH came from .env');
    } finally {
      await server.stop();
    }
    writeFileSync(path.join(temp.dir, '.env'), 'SHUTDOWN_TIMEOUT=later\nDB_PATH=./from-dotenv/items.json\n');
    const refused = await runServerToExit({}, 10_000, { cwd: temp.dir });
    temp.remove();
    assert.equal(refused.code, 78);
    assert.match(refused.stderr, /- SHUTDOWN_TIMEOUT must be a duration/);
  });
});
