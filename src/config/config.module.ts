import type { DynamicModule } from '@nestjs/common';
import { ConfigModule, type ConfigModuleOptions, registerAs } from '@nestjs/config';
import { type AppConfig, loadConfig } from './app-config.js';
import { NAMESPACES, type Namespace } from './config.namespaces.js';

type Env = Record<string, string | undefined>;

export interface Configuration {
  /** The validated settings, for what runs before Nest (tracing, the HTTP adapter's options). */
  config: AppConfig;
  /** @nestjs/config's ConfigModule (global), serving the same settings as namespaces and ConfigService. */
  module: DynamicModule;
}

/**
 * Reads and validates the configuration through @nestjs/config: the process environment and, when
 * present, a `.env` file in the working directory (the environment wins), or only `env` when a test
 * gives one. Throws ConfigError (every problem, each naming its variable; main.ts exits 78) before any
 * module is built.
 *
 * `validate` rather than `validationSchema`: the joi schema (env.schema.ts) runs inside loadConfig with
 * `abortEarly: false`, after `NAME_FILE` secrets are read and before the cross-variable rules, and its
 * messages are rewritten so that none can quote a secret; @nestjs/config's schema path would throw joi's
 * raw message, value included.
 */
export async function loadConfiguration(options: { env?: Env; version?: string } = {}): Promise<Configuration> {
  let config: AppConfig | undefined;
  const module = await ConfigModule.forRoot({
    ...sharedOptions(() => config!),
    ignoreEnvFile: options.env !== undefined,
    validatePredefined: options.env === undefined,
    validate: (raw) => {
      config = loadConfig(options.env ?? (raw as Env), options.version);
      // What ConfigModule returns here it copies into process.env (never over a variable already set).
      // Only the OTEL_* variables of a .env file: the OpenTelemetry SDK reads those from process.env
      // itself. Everything else is served typed, from the namespaces.
      return options.env === undefined ? otelVariables(raw as Env) : {};
    },
  });
  return { config: config!, module };
}

/** ConfigModule serving a configuration already validated (unit specs build one with loadConfig). */
export function configModule(config: AppConfig): Promise<DynamicModule> {
  return ConfigModule.forRoot({ ...sharedOptions(() => config), ignoreEnvFile: true, validatePredefined: false });
}

function sharedOptions(validated: () => AppConfig): ConfigModuleOptions {
  return {
    isGlobal: true,
    // ConfigService answers from the validated namespaces (`get('store.path')`), never from raw strings.
    skipProcessEnv: true,
    // The exported namespaces' tokens (registerAs keys them by name), with this app's values.
    load: (Object.keys(NAMESPACES) as Namespace[]).map((key) => registerAs(key, () => validated()[key])),
  };
}

function otelVariables(env: Env): Env {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('OTEL_')));
}
