import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A fresh directory for one test's data; removed by the returned function. */
export function makeTempDir(prefix = 'items-test-'): { dir: string; dbPath: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, dbPath: path.join(dir, 'items.json'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
