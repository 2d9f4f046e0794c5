import { Logger } from 'nestjs-pino';
import { readFileSync } from 'node:fs';
import { createApp } from './app.factory.js';
import { ConfigError } from './config/app-config.js';

const EXIT_CONFIG = 78; // EX_CONFIG from sysexits.h: the configuration is wrong.

async function main(): Promise<void> {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const { app, config } = await createApp({ env: process.env, version });
  // process.exit(0) after the hooks, not a re-raised signal: a drained shutdown is a success.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  await app.listen({ host: config.http.host, port: config.http.port });
  const address = app.getHttpServer().address();
  app.get(Logger).log({
    msg: 'listening',
    address: typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address),
    app_env: config.app.env,
    node_version: process.version,
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = EXIT_CONFIG;
    return;
  }
  process.stderr.write(`items-service failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
