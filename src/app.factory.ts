import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { registerJsonBodyParser } from './common/json-body.parser.js';
import { ProblemDetailsFilter, problemFor, sendProblem } from './common/problem-details.filter.js';
import { createValidationPipe } from './common/validation.pipe.js';
import { type AppConfig, loadConfig } from './config/app-config.js';
import { requestIdFor } from './observability/request-id.js';

export interface CreateAppOptions {
  /** The environment to configure from; `process.env` in production, a literal in tests. */
  env?: Record<string, string | undefined>;
  version?: string;
}

export interface CreatedApp {
  app: NestFastifyApplication;
  config: AppConfig;
}

/**
 * Builds and initialises the application: the one place it is wired, used by main.ts and by the
 * tests alike. Throws ConfigError for a bad environment and the store's errors for bad files.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<CreatedApp> {
  const config = loadConfig(options.env ?? process.env, options.version);
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.bodyLimitBytes,
    genReqId: requestIdFor,
    requestIdHeader: false,
    logger: false,
    // Errors Fastify raises before routing (a bad URL, an over-long segment) bypass Nest's filters.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
      sendProblem(reply, problemFor(error, request)),
  });
  const fastify = adapter.getInstance();
  registerJsonBodyParser(fastify, config.http.bodyLimitBytes);
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });

  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: true,
    bodyParser: false,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.useGlobalPipes(createValidationPipe());
  await app.init();
  return { app, config };
}
