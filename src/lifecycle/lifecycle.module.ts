import { type DynamicModule, Global, Module } from '@nestjs/common';
import { InFlightRequests } from './in-flight-requests.js';
import { Lifecycle } from './lifecycle.js';

/**
 * The process's phase, exit code and fatal errors, and the server's in-flight requests, for every
 * module: the store reports to it, probes and metrics read it. Its tracker of requests is made before
 * the app (createApp() registers it on the server Fastify creates), so it comes in as a value.
 */
@Global()
@Module({})
export class LifecycleModule {
  static forRoot(inFlight = new InFlightRequests()): DynamicModule {
    return {
      module: LifecycleModule,
      providers: [Lifecycle, { provide: InFlightRequests, useValue: inFlight }],
      exports: [Lifecycle, InFlightRequests],
    };
  }
}
