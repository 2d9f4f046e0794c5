import { registerAs } from '@nestjs/config';
import { type AppConfig, loadConfig } from './app-config.js';

/*
 * The configuration as @nestjs/config namespaces, one per concern. Inject one where it is needed:
 *
 *   constructor(@Inject(storeConfig.KEY) private readonly store: ConfigType<typeof storeConfig>) {}
 *
 * In the app their values are the ones loadConfig validated at start-up (configModule() loads them);
 * the factories below are what ConfigModule.forFeature(storeConfig) would use on its own, reading and
 * validating the process environment like any registerAs factory.
 */
export const appConfig = registerAs('app', (): AppConfig['app'] => loadConfig().app);
export const httpConfig = registerAs('http', (): AppConfig['http'] => loadConfig().http);
export const rateLimitConfig = registerAs('rateLimit', (): AppConfig['rateLimit'] => loadConfig().rateLimit);
export const docsConfig = registerAs('docs', (): AppConfig['docs'] => loadConfig().docs);
export const logConfig = registerAs('log', (): AppConfig['log'] => loadConfig().log);
export const metricsConfig = registerAs('metrics', (): AppConfig['metrics'] => loadConfig().metrics);
export const tracingConfig = registerAs('tracing', (): AppConfig['tracing'] => loadConfig().tracing);
export const storeConfig = registerAs('store', (): AppConfig['store'] => loadConfig().store);
export const shutdownConfig = registerAs('shutdown', (): AppConfig['shutdown'] => loadConfig().shutdown);
export const authConfig = registerAs('auth', (): AppConfig['auth'] => loadConfig().auth);

/** Every namespace, by its key in AppConfig (all but `secrets`, which only the log scrubber reads). */
export const NAMESPACES = {
  app: appConfig,
  http: httpConfig,
  rateLimit: rateLimitConfig,
  docs: docsConfig,
  log: logConfig,
  metrics: metricsConfig,
  tracing: tracingConfig,
  store: storeConfig,
  shutdown: shutdownConfig,
  auth: authConfig,
} as const;

export type Namespace = keyof typeof NAMESPACES;
