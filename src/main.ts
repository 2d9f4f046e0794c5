import { readFileSync } from 'node:fs';
import { ConfigError } from './config/app-config.js';
import { loadConfiguration } from './config/config.module.js';
import { EXIT_CODES } from './lifecycle/exit-codes.js';
import { startTracing } from './observability/tracing.js';

async function main(): Promise<void> {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  // The environment and `.env`, validated by @nestjs/config's ConfigModule before any other module loads.
  const configuration = await loadConfiguration({ version });
  const { config } = configuration;
  const tracing = await startTracing(config);
  // The app's modules load only now, after the tracer provider is registered (only @nestjs/config and
  // @nestjs/common were needed before: no instrumentation patches them).
  const [{ Logger }, { createApp, startListening }, { Lifecycle }, { handleShutdownSignals, SHUTDOWN_SIGNALS }] =
    await Promise.all([
      import('nestjs-pino'),
      import('./app.factory.js'),
      import('./lifecycle/lifecycle.js'),
      import('./lifecycle/shutdown-signals.js'),
    ]);
  const { app } = await createApp({ configuration, tracing });
  const logger = app.get(Logger);
  tracing.logTo({ warn: (line) => logger.warn(line), error: (line) => logger.error(line) });
  const lifecycle = app.get(Lifecycle);

  // SIGTERM or SIGINT runs Nest's shutdown: each module's step in its own hook (docs/ARCHITECTURE.md,
  // "Shutdown"). handleShutdownSignals() adds only what Nest's handler lacks (a second signal, the exit
  // code, a deadline); it must come after, so that Nest's listener starts the shutdown it joins.
  app.enableShutdownHooks([...SHUTDOWN_SIGNALS]);
  const { stop } = handleShutdownSignals({
    app,
    lifecycle,
    logger,
    drainBudgetMs: config.shutdown.drainDelayMs + config.shutdown.timeoutMs,
  });
  lifecycle.onFatal((err) => {
    // Stop rather than limp on: the supervisor restarts the process, and start-up recovers a
    // consistent store from disk (the path every crash test exercises).
    logger.fatal({ msg: 'fatal error; exiting so that a restart recovers', err: err.message });
    stop();
  });

  if (config.auth.apiKeys.length === 0) {
    // Loud on every start, so that an open API is never a surprise in the logs of a real environment.
    logger.warn({
      msg: 'authentication is off: anyone who can reach this port can write',
      reason: config.auth.disabled ? 'AUTH_DISABLED=true' : `API_KEYS is not set (APP_ENV=${config.app.env})`,
    });
  }
  const address = await startListening(app, config.http.host, config.http.port);
  logger.log({
    msg: 'listening',
    address,
    pid: process.pid,
    app_env: config.app.env,
    node_version: process.version,
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(EXIT_CODES.config);
  }
  process.stderr.write(`items-service failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  // Exit, not just an exit code: what started before the failure (the metrics port, a pool's
  // connections) would otherwise keep a process that will never serve alive.
  process.exit(EXIT_CODES.failed);
});
