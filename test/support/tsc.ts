import { execFile } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from './server-process.js';

const TSC = path.join(PROJECT_ROOT, 'node_modules/typescript/lib/tsc.js');
const DIAGNOSTIC = /^(.+)\((\d+),(\d+)\): error (TS\d+): (.*)$/;

/** One error of tsc's. */
export interface TscDiagnostic {
  /** The file, absolute. */
  file: string;
  /** 1-based. */
  line: number;
  /** `TS2353: …`, with the detail lines (which property, which type) that tsc indents under it. */
  message: string;
}

/**
 * Compiles the project of `tsconfig` (which should not emit) and returns its errors, for the tests that
 * type-check data against a library's types. tsc exits 2 when it found errors, which is not a failure
 * of the run; a line of output that is neither a diagnostic nor a detail throws.
 */
export async function typecheck(tsconfig: string): Promise<TscDiagnostic[]> {
  const dir = path.dirname(tsconfig);
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [TSC, '--project', tsconfig, '--pretty', 'false'],
      // In the files' directory, so that the diagnostics name them relative to it.
      { cwd: dir, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && err.code !== 2) reject(new Error(`tsc failed (${String(err.code)}): ${stderr}${stdout}`));
        else resolve(stdout);
      },
    );
  });
  const diagnostics: TscDiagnostic[] = [];
  for (const line of output.split('\n')) {
    const match = DIAGNOSTIC.exec(line);
    const current = diagnostics.at(-1);
    if (match) {
      diagnostics.push({
        file: path.resolve(dir, match[1]!),
        line: Number(match[2]),
        message: `${match[4]}: ${match[5]}`,
      });
    } else if (current && line.startsWith(' ')) {
      current.message += `\n${line}`;
    } else if (line.trim() !== '') {
      throw new Error(`unexpected tsc output:\n${output}`);
    }
  }
  return diagnostics;
}
