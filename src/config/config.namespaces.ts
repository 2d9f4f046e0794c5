import { registerAs } from '@nestjs/config';
import type { AppConfig } from './app-config.js';

/*
 * The configuration as @nestjs/config namespaces, one per concern. Inject one where it is needed:
 *
 *   constructor(@Inject(storeConfig.KEY) private readonly store: ConfigType<typeof storeConfig>) {}
 *
 * Their values are the ones loadConfig validated at start-up: loadConfiguration() and configModule()
 * (config.module.ts) load them under these tokens. The factories here only give each namespace its
 * token and type; they refuse to run, so that nothing reads the environment a second time, unvalidated
 * (ConfigModule.forFeature(storeConfig) would).
 */
export const appConfig = registerAs('app', (): AppConfig['app'] => loadedElsewhere('app'));
export const httpConfig = registerAs('http', (): AppConfig['http'] => loadedElsewhere('http'));
export const rateLimitConfig = registerAs('rateLimit', (): AppConfig['rateLimit'] => loadedElsewhere('rateLimit'));
export const docsConfig = registerAs('docs', (): AppConfig['docs'] => loadedElsewhere('docs'));
export const logConfig = registerAs('log', (): AppConfig['log'] => loadedElsewhere('log'));
export const metricsConfig = registerAs('metrics', (): AppConfig['metrics'] => loadedElsewhere('metrics'));
export const tracingConfig = registerAs('tracing', (): AppConfig['tracing'] => loadedElsewhere('tracing'));
export const storeConfig = registerAs('store', (): AppConfig['store'] => loadedElsewhere('store'));
export const shutdownConfig = registerAs('shutdown', (): AppConfig['shutdown'] => loadedElsewhere('shutdown'));
export const authConfig = registerAs('auth', (): AppConfig['auth'] => loadedElsewhere('auth'));

function loadedElsewhere(namespace: string): never {
  throw new Error(`config namespace "${namespace}" is loaded by loadConfiguration() or configModule(), not on its own`);
}

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
