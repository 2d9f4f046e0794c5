/**
 * A line of context in the test output, such as a seed that repeats a random run or what a fault run
 * counted. Written straight to stdout, without the call site that console.log makes Jest add to every line.
 */
export function diagnostic(message: string): void {
  process.stdout.write(`  # ${message}\n`);
}
