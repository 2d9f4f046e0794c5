/** The JSON log lines of a server's stdout, parsed; lines that are not JSON are skipped. */
export function logLines(stdout: string): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, any>);
    } catch {
      // A line cut short by a process killed mid-write.
    }
  }
  return lines;
}
