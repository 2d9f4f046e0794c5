import { ConfigModule } from '@nestjs/config';
import Joi from 'joi';
import { ConfigError, type DatabaseConfig, describe as describeProblem, resolveSecretFiles } from './app-config.js';
import { envSchema } from './env.schema.js';

type Env = Record<string, string | undefined>;

/** The service's own rules for these variables (env.schema.ts), so that the tools and it never disagree. */
const databaseSchema = Joi.object({
  // Required here whatever STORE_DRIVER says: a tool that moves or migrates data always needs the database.
  DATABASE_URL: envSchema
    .extract('DATABASE_URL')
    .required()
    .messages({ 'any.required': '{{#label}} (or DATABASE_URL_FILE) must be set' }),
  DATABASE_POOL_MAX: envSchema.extract('DATABASE_POOL_MAX'),
  DATABASE_CONNECT_TIMEOUT: envSchema.extract('DATABASE_CONNECT_TIMEOUT'),
  DATABASE_STATEMENT_TIMEOUT: envSchema.extract('DATABASE_STATEMENT_TIMEOUT'),
}).unknown(true);

/**
 * The database settings alone, for the tools that need nothing else (`migrate`, `import`): a
 * migration Job must not need API keys or an HTTP port to be valid. Only `DATABASE_*` variables are
 * looked at, so a setting meant for the service (an unreadable API_KEYS_FILE, a bad PORT) cannot stop
 * them. Throws a ConfigError listing every problem, each naming its variable and none quoting the URL.
 */
export function loadDatabaseConfig(env: Env): DatabaseConfig {
  const problems: string[] = [];
  const ownVariables = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('DATABASE_')));
  const input = resolveSecretFiles(ownVariables, problems);
  const result = databaseSchema.validate(input, {
    abortEarly: false,
    convert: true,
    errors: { wrap: { label: false } },
  });
  for (const detail of result.error?.details ?? []) problems.push(describeProblem(detail));
  if (problems.length > 0) throw new ConfigError(problems);
  const v = result.value as Record<string, unknown>;
  return {
    url: v.DATABASE_URL as string,
    poolMax: v.DATABASE_POOL_MAX as number,
    connectTimeoutMs: v.DATABASE_CONNECT_TIMEOUT as number,
    statementTimeoutMs: v.DATABASE_STATEMENT_TIMEOUT as number,
  };
}

/**
 * loadDatabaseConfig over what the service reads: the process environment and, when present, `.env`
 * in the working directory (the environment wins), through @nestjs/config as config.module.ts reads it.
 */
export async function loadDatabaseConfiguration(): Promise<DatabaseConfig> {
  let config: DatabaseConfig | undefined;
  await ConfigModule.forRoot({
    validate: (raw) => {
      config = loadDatabaseConfig(raw as Env);
      // Nothing to copy into process.env: the tools read only what this returns.
      return {};
    },
  });
  return config!;
}
