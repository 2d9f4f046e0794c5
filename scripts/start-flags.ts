import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Node's flags from `npm run start:prod` (`node <flags> dist/main.js`): the benchmark and the tests that
 * run the built server start it the way production does, and so fail if a Node upgrade drops a flag.
 */
export function startProdNodeFlags(root: string): string[] {
  const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const match = /^node((?: --[\w-]+(?:=\S+)?)*) dist\/main\.js$/.exec(scripts['start:prod'] ?? '');
  if (!match) throw new Error(`package.json start:prod is not "node [flags] dist/main.js": ${scripts['start:prod']}`);
  return match[1]!.trim().split(' ').filter(Boolean);
}
