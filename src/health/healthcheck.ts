/**
 * The container's health check: `node dist/health/healthcheck.js [url]` exits 0 when the readiness probe
 * answers 200, 1 otherwise. The runtime image is distroless (no shell, curl or wget), so the check is
 * Node itself; it reads the same PORT the server does, and talks to loopback inside the container.
 */
const TIMEOUT_MS = 3_000;

const url = process.argv[2] ?? `http://127.0.0.1:${process.env.PORT || '8080'}/readyz`;

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  process.stdout.write(`${url}: ${response.status}\n`);
  process.exitCode = response.status === 200 ? 0 : 1;
} catch (err) {
  process.stdout.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
