import assert from '../../test/support/assert.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from '@jest/globals';
import { ConfigError } from './app-config.js';
import { loadDatabaseConfig } from './database-config.js';

const URL = 'postgres://items:s3cret-password@db.example:5432/items';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadDatabaseConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

describe('loadDatabaseConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'database-config-spec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('when only DATABASE_URL is set, then the other settings have the service’s defaults', () => {
    assert.deepEqual(loadDatabaseConfig({ DATABASE_URL: URL }), {
      url: URL,
      poolMax: 10,
      connectTimeoutMs: 2_000,
      statementTimeoutMs: 5_000,
    });
  });

  it('when the service’s own settings are missing or wrong (prod without API_KEYS, a bad PORT), then the database settings load all the same', () => {
    const config = loadDatabaseConfig({
      DATABASE_URL: URL,
      APP_ENV: 'prod',
      PORT: 'not-a-port',
      API_KEYS_FILE: path.join(dir, 'absent'),
      STORE_DRIVER: 'json-file',
    });
    assert.equal(config.url, URL);
  });

  it('when DATABASE_URL is missing and a timeout is wrong, then both are listed, each naming its variable', () => {
    assert.deepEqual(problemsOf({ DATABASE_CONNECT_TIMEOUT: 'soon' }), [
      'DATABASE_URL (or DATABASE_URL_FILE) must be set',
      'DATABASE_CONNECT_TIMEOUT must be a duration such as 10s, 1m30s, 500ms or plain seconds',
    ]);
  });

  it('when DATABASE_URL is not a postgres URL, then the message names it without quoting it', () => {
    const problems = problemsOf({ DATABASE_URL: 'mysql://root:s3cret-password@db/items' });
    assert.deepEqual(problems, ['DATABASE_URL must be a postgres:// URL']);
    assert.doesNotMatch(problems.join('\n'), /s3cret/);
  });

  it('when DATABASE_URL_FILE names a file, then the URL is read from it', () => {
    const file = path.join(dir, 'database-url');
    writeFileSync(file, `${URL}\n`);
    assert.equal(loadDatabaseConfig({ DATABASE_URL_FILE: file, DATABASE_POOL_MAX: '3' }).url, URL);
    assert.deepEqual(problemsOf({ DATABASE_URL_FILE: path.join(dir, 'absent') }), [
      `DATABASE_URL_FILE cannot be read from ${path.join(dir, 'absent')} (ENOENT)`,
      'DATABASE_URL (or DATABASE_URL_FILE) must be set',
    ]);
  });
});
