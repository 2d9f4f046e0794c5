/**
 * The container's health check: `node dist/health/container-healthcheck.js [url]` exits 0 when the
 * readiness probe answers 200, 1 otherwise. The runtime image is distroless (no shell, curl or wget), so
 * the check is Node itself.
 *
 * Without a URL it asks the server in the same container, at the HOST and PORT the server listens on.
 * It reads those two variables itself rather than through loadConfig(): the check must stay cheap, and
 * has nothing to say about the rest of the configuration, which the server has already validated.
 */
const TIMEOUT_MS = 3_000;
const WILDCARDS = new Set(['', '0.0.0.0', '::']);

function localUrl(): string {
  const host = process.env.HOST ?? '';
  const address = WILDCARDS.has(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${address}:${process.env.PORT || '8080'}/readyz`;
}

const url = process.argv[2] ?? localUrl();

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  process.stdout.write(`${url}: ${response.status}\n`);
  process.exitCode = response.status === 200 ? 0 : 1;
} catch (err) {
  process.stdout.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
