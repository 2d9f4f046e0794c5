import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { AllowedMethods } from './common/allowed-methods.js';
import { registerHttpSecurity, SECURITY_HEADERS } from './common/http-security.js';
import { registerJsonBodyParser } from './common/json-body.parser.js';
import {
  ProblemDetailsFilter,
  problemFor,
  sendClientErrorProblem,
  sendProblem,
} from './common/problem-details.filter.js';
import { createValidationPipe } from './common/validation.pipe.js';
import type { AppConfig } from './config/app-config.js';
import { type Configuration, loadConfiguration } from './config/config.module.js';
import { InFlightRequests } from './lifecycle/in-flight-requests.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { FrameworkQuietLogger } from './observability/framework-logger.js';
import { HttpTelemetry } from './observability/http-telemetry.js';
import { requestIdFor } from './observability/request-id.js';
import type { Tracing } from './observability/tracing.js';
import { serveOpenApi } from './openapi/openapi.document.js';

export interface CreateAppOptions {
  /** The environment to configure from, a literal in tests; else `process.env` and `.env`. */
  env?: Record<string, string | undefined>;
  version?: string;
  /** Already loaded (main.ts loads it first, to start tracing before Nest loads); else from `env`. */
  configuration?: Configuration;
  /** The tracer main.ts started; the shutdown flushes it. None in tests that do not trace. */
  tracing?: Tracing;
}

export interface CreatedApp {
  app: NestFastifyApplication;
  config: AppConfig;
  inFlight: InFlightRequests;
}

/**
 * Builds and initialises the application: the one place it is wired, used by main.ts and by the
 * tests alike. Throws ConfigError for a bad environment and the store's errors for bad files.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<CreatedApp> {
  const configuration =
    options.configuration ?? (await loadConfiguration({ env: options.env, version: options.version }));
  const { config } = configuration;
  // Created with the app, after the adapter that needs it for frameworkErrors.
  const late: { telemetry?: HttpTelemetry } = {};
  const { http } = config;
  const adapter = new FastifyAdapter({
    bodyLimit: http.bodyLimitBytes,
    genReqId: requestIdFor,
    requestIdHeader: false,
    logger: false,
    // request.ip (the rate limit's client) is the socket's peer unless TRUST_PROXY names the proxies
    // whose X-Forwarded-For to believe: otherwise any client could claim any address.
    trustProxy: trustProxyOption(http.trustProxy),
    // No Nest middleware here: @fastify/middie would run on every request for none (2.4% of a GET's
    // CPU, bench/README.md). A module that adds middleware must remove this line, or it fails at start.
    skipMiddie: true,
    // Fastify sets these two on the server after creating it, with its own defaults (72 s and none).
    keepAliveTimeout: http.keepAliveTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    // Given to http.createServer(), which checks headersTimeout <= requestTimeout against its own.
    http: {
      headersTimeout: http.headersTimeoutMs,
      requestTimeout: http.requestTimeoutMs,
      maxHeaderSize: http.maxHeaderBytes,
      // Node enforces the two timeouts only when it checks, every 30 s by default: a slow client
      // would get up to 30 s more than configured.
      connectionsCheckingInterval: Math.min(1_000, http.headersTimeoutMs),
    },
    clientErrorHandler: (error: Error, socket: Socket) => {
      const answered = sendClientErrorProblem(error, socket);
      if (answered) late.telemetry?.recordRejected(answered.status, answered.request_id);
    },
    // Errors Fastify raises before routing (a bad URL, an over-long segment) bypass Nest's filters,
    // and the onRequest hooks.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      late.telemetry?.start(request, reply);
      void reply.headers(SECURITY_HEADERS);
      sendProblem(reply, problemFor(error, request));
    },
  });
  const fastify = adapter.getInstance();
  const inFlight = new InFlightRequests();
  inFlight.register(fastify.server);

  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(configuration, inFlight, options.tracing),
    adapter,
    {
      bufferLogs: true,
      bodyParser: false,
      abortOnError: false,
    },
  );
  app.useLogger(new FrameworkQuietLogger(app.get(Logger)));
  configureApp(app, config);
  serveOpenApi(app, config);
  // Before init(), which registers the routes: the hooks apply to every one of them.
  const telemetry = app.get(HttpTelemetry);
  telemetry.register(fastify);
  late.telemetry = telemetry;
  await app.init();
  return { app, config, inFlight };
}

/**
 * What every request meets whichever module answers it: the strict JSON body parser, security headers
 * and CORS, the problem+json filter and the validation pipe. createApp() calls it, and so do the specs
 * that build a smaller module with @nestjs/testing, so that they see the HTTP behaviour production has.
 * Before init(), which registers the routes; the app must be created with `bodyParser: false`, since the
 * JSON parser here replaces Nest's.
 */
export function configureApp(app: NestFastifyApplication, config: AppConfig): void {
  const fastify = app.getHttpAdapter().getInstance();
  // First: it must see every route, @fastify/cors' included.
  const allowedMethods = new AllowedMethods(fastify);
  registerJsonBodyParser(fastify, config.http.bodyLimitBytes);
  registerHttpSecurity(app, config);
  app.useGlobalFilters(new ProblemDetailsFilter(allowedMethods));
  app.useGlobalPipes(createValidationPipe());
}

/** Fastify's own option; a hop count as the function it makes of one (Nest's typing omits numbers). */
function trustProxyOption(trust: AppConfig['http']['trustProxy']): boolean | string[] | TrustProxyFunction {
  if (trust === false) return false;
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return [...trust];
}

type TrustProxyFunction = (address: string, hop: number) => boolean;

/** Listens, then tells the probes that start-up is over; returns the address as `host:port`. */
export async function startListening(app: NestFastifyApplication, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  app.get(Lifecycle).markServing();
  const address = app.getHttpServer().address();
  return typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
}
