import { readFileSync } from 'node:fs';
import { ConfigError } from './config/app-config.js';
import { loadConfiguration } from './config/config.module.js';
import { EXIT_CODES, exitCodeForSignal } from './lifecycle/exit-codes.js';
import { startTracing } from './observability/tracing.js';
import type { ShutdownReason } from './lifecycle/graceful-shutdown.js';

const SHUTDOWN_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
/** Time the store and the logs get to close once the requests are done, before the process gives up. */
const CLOSE_BUDGET_MS = 5_000;
/** The same signal again within this time is a duplicate delivery, not a second signal. */
const DUPLICATE_SIGNAL_MS = 500;

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
  const [{ Logger }, { createApp, startListening }, { GracefulShutdown }, { Lifecycle }, { flushLogs }] =
    await Promise.all([
      import('nestjs-pino'),
      import('./app.factory.js'),
      import('./lifecycle/graceful-shutdown.js'),
      import('./lifecycle/lifecycle.js'),
      import('./observability/logging.module.js'),
    ]);
  const { app, inFlight } = await createApp({ configuration });
  const logger = app.get(Logger);
  tracing.logTo({ warn: (line) => logger.warn(line), error: (line) => logger.error(line) });
  const lifecycle = app.get(Lifecycle);
  const shutdown = new GracefulShutdown({
    app,
    lifecycle,
    inFlight,
    logger,
    drainDelayMs: config.shutdown.drainDelayMs,
    timeoutMs: config.shutdown.timeoutMs,
    closeTracing: () => tracing.shutdown(),
    flushLogs,
  });

  const stop = (reason: ShutdownReason) => {
    if (shutdown.started) return void shutdown.run(reason); // joins it, raising the exit code if need be
    // Not unref'd: if a step never settled, an empty event loop would end the process with 0.
    setTimeout(() => {
      const code = shutdown.exitCode === EXIT_CODES.ok ? EXIT_CODES.shutdownTimeout : shutdown.exitCode;
      logger.error({ msg: 'shutdown did not finish in time; exiting', exit_code: code });
      process.exit(code);
    }, shutdown.budgetMs + CLOSE_BUDGET_MS);
    shutdown.run(reason).then(
      (code) => process.exit(code),
      () => process.exit(EXIT_CODES.failed),
    );
  };

  // Nest's enableShutdownHooks() is not used: its handler ignores a second signal and exits 0 (or
  // re-raises the signal), and it closes the HTTP server only after the providers' shutdown hooks.
  // The sequence still ends in app.close(), which runs the same Nest hooks.
  let firstSignal: { signal: NodeJS.Signals; at: number } | undefined;
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      if (!firstSignal) {
        firstSignal = { signal, at: performance.now() };
        return stop({ signal });
      }
      // Ctrl-C under `npm start` delivers SIGINT twice at once: from the terminal to the process
      // group, and from npm, which forwards it. That is one request to stop, not two.
      if (signal === firstSignal.signal && performance.now() - firstSignal.at < DUPLICATE_SIGNAL_MS) return;
      // An operator (or a supervisor that ran out of patience) insists: exit now. Every acknowledged
      // write is already on disk, so this is no worse than kill -9.
      const code = exitCodeForSignal(signal);
      logger.warn({ msg: 'second signal during shutdown; exiting now', signal, exit_code: code });
      process.exit(code);
    });
  }
  lifecycle.onFatal((err) => {
    // Stop rather than limp on: the supervisor restarts the process, and start-up recovers a
    // consistent store from disk (the path every crash test exercises).
    logger.fatal({ msg: 'fatal error; exiting so that a restart recovers', err: err.message });
    stop({ fatal: err });
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
    process.exitCode = EXIT_CODES.config;
    return;
  }
  process.stderr.write(`items-service failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = EXIT_CODES.failed;
});
