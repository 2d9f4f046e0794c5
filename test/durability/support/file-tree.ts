import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Every entry under a directory with its type, mode and content hash, to prove that start-up changed
 * nothing: not a byte, not a permission, no file added or removed.
 */
export function fileTree(root: string): Record<string, string> {
  const tree: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const stat = lstatSync(full);
      const mode = (stat.mode & 0o7777).toString(8);
      const key = path.relative(root, full);
      if (stat.isDirectory()) {
        tree[key] = `dir ${mode}`;
        if (stat.mode & 0o100) walk(full);
      } else {
        const content = stat.mode & 0o400 ? hash(full) : 'unreadable';
        tree[key] = `file ${mode} ${stat.size} ${content}`;
      }
    }
  };
  walk(root);
  return tree;
}

function hash(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return 'unreadable';
  }
}
