import type { LoggerService } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { TestingModule } from '@nestjs/testing';
import type { FastifyInstance } from 'fastify';
import { configureApp } from '../../src/app.factory.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';

/**
 * A Nest application on Fastify from a testing module, configured as createApp() configures
 * production's (configureApp: body parser, security headers, problem filter, validation pipe),
 * initialised and ready for `http.inject(...)`. Close `app` when done.
 */
export async function startTestingApp(
  moduleRef: TestingModule,
  { config = loadConfig({}), logger = false }: { config?: AppConfig; logger?: LoggerService | false } = {},
): Promise<{ app: NestFastifyApplication; http: FastifyInstance }> {
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
    bodyParser: false,
    logger,
  });
  configureApp(app, config);
  await app.init();
  const http = app.getHttpAdapter().getInstance();
  await http.ready();
  return { app, http };
}
