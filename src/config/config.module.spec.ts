import assert from '../../test/support/assert.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { describe, it } from '@jest/globals';
import { Inject, Injectable } from '@nestjs/common';
import { ConfigService, type ConfigType } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { ConfigError, loadConfig } from './app-config.js';
import { loadConfiguration } from './config.module.js';
import { storeConfig } from './config.namespaces.js';
import { envSchema, SECRET_VARIABLES } from './env.schema.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');

@Injectable()
class NeedsTheStore {
  constructor(
    @Inject(storeConfig.KEY) readonly store: ConfigType<typeof storeConfig>,
    readonly config: ConfigService,
  ) {}
}

describe('Configuration through @nestjs/config', () => {
  it('when an app is configured from an environment, then its namespaces and ConfigService hold the validated values', async () => {
    const { config, module } = await loadConfiguration({
      env: { DB_PATH: '/tmp/x/items.json', SHUTDOWN_TIMEOUT: '5s' },
    });
    const moduleRef = await Test.createTestingModule({ imports: [module], providers: [NeedsTheStore] }).compile();
    const consumer = moduleRef.get(NeedsTheStore);

    assert.equal(consumer.store.path, '/tmp/x/items.json');
    assert.deepEqual(consumer.store, config.store);
    assert.equal(consumer.config.get<number>('shutdown.timeoutMs'), 5_000, 'durations arrive as numbers');
    assert.equal(consumer.config.get('SHUTDOWN_TIMEOUT'), undefined, 'no raw strings from process.env');
    await moduleRef.close();
  });

  it('when the environment is invalid, then ConfigError lists every problem and no module is built', async () => {
    await assert.rejects(
      loadConfiguration({ env: { PORT: 'eighty', SHUTDOWN_TIMEOUT: 'later' } }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.some((problem) => problem.startsWith('PORT')) &&
        err.problems.some((problem) => problem.startsWith('SHUTDOWN_TIMEOUT')),
    );
  });
});

describe('.env.example', () => {
  const text = readFileSync(path.join(ROOT, '.env.example'), 'utf8');

  it('when read, then it names every variable the schema knows, and every secret file variable', () => {
    const named = new Set([...text.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]));
    const expected = [
      ...Object.keys((envSchema.describe() as { keys: Record<string, unknown> }).keys),
      ...SECRET_VARIABLES.map((name) => `${name}_FILE`),
    ];
    assert.deepEqual(
      expected.filter((name) => !named.has(name)),
      [],
    );
  });

  it('when its values are loaded, then they are exactly the defaults', () => {
    assert.deepEqual(loadConfig(parseEnv(text)), loadConfig({}));
  });
});
