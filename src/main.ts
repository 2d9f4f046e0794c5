import { Logger } from 'nestjs-pino';
import { readFileSync } from 'node:fs';
import { createApp } from './app.factory.js';
import { ConfigError } from './config/app-config.js';
import { Lifecycle } from './health/lifecycle.js';

const EXIT_CONFIG = 78; // EX_CONFIG from sysexits.h: the configuration is wrong.
const EXIT_IO_ERROR = 74; // EX_IOERR: the store hit an I/O error it could not undo.

async function main(): Promise<void> {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const { app, config } = await createApp({ env: process.env, version });
  // process.exit(0) after the hooks, not a re-raised signal: a drained shutdown is a success.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  const logger = app.get(Logger);
  app.get(Lifecycle).onFatal((err) => {
    // Stop rather than limp on: the supervisor restarts the process, and start-up recovers a
    // consistent store from disk (the path every crash test exercises).
    logger.fatal({
      msg: 'fatal error; exiting so that a restart recovers',
      err: err.message,
      exit_code: EXIT_IO_ERROR,
    });
    process.exitCode = EXIT_IO_ERROR;
    setTimeout(() => process.exit(EXIT_IO_ERROR), config.shutdown.timeoutMs).unref();
    void app.close().finally(() => process.exit(EXIT_IO_ERROR));
  });
  await app.listen({ host: config.http.host, port: config.http.port });
  const address = app.getHttpServer().address();
  logger.log({
    msg: 'listening',
    address: typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address),
    pid: process.pid,
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
