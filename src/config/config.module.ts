import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { AppConfig } from './app-config.js';

/** Injection token of the validated `AppConfig`. */
export const APP_CONFIG = 'ITEMS:APP_CONFIG';

/**
 * Provides the configuration validated by `loadConfig` before Nest starts. Validation happens first,
 * outside Nest, so that a bad environment stops start-up with one message and no half-built app.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: APP_CONFIG, useValue: config }], exports: [APP_CONFIG] };
  }
}
