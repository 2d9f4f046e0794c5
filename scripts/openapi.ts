/**
 * Generates the OpenAPI document from the code, as the service serves it at /openapi.json.
 *   node build/scripts/openapi.js --write   writes openapi/openapi.json (npm run openapi)
 * test/openapi.e2e-spec.ts fails when the committed document differs from what this generates.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createApp } from '../src/app.factory.js';
import { buildOpenApiDocument } from '../src/openapi/openapi.document.js';

export const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
export const OPENAPI_PATH = path.join(PROJECT_ROOT, 'openapi/openapi.json');

/** The document as the code describes it, serialised as it is committed. */
export async function generateOpenApiJson(): Promise<string> {
  const { version } = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
  // The document does not depend on the environment; the app only needs a store to start.
  const dir = mkdtempSync(path.join(tmpdir(), 'items-openapi-'));
  try {
    const { app } = await createApp({ env: { LOG_LEVEL: 'silent', DB_PATH: path.join(dir, 'items.json') }, version });
    try {
      return `${JSON.stringify(buildOpenApiDocument(app, version), null, 2)}\n`;
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(mode: string | undefined): Promise<number> {
  if (mode === '--write') {
    const generated = await generateOpenApiJson();
    writeFileSync(OPENAPI_PATH, generated);
    process.stdout.write(`wrote ${path.relative(process.cwd(), OPENAPI_PATH)}\n`);
    return 0;
  }
  process.stderr.write('usage: node build/scripts/openapi.js --write\n');
  return 2;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = await main(process.argv[2]);
