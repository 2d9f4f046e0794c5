import { Module } from '@nestjs/common';
import { HttpDrain } from './http-drain.js';

/**
 * The shutdown's HTTP drain. Not global, and imported by the root module itself: Nest runs
 * `beforeApplicationShutdown` module by module, from the root outwards (by import depth), global
 * modules last. So the drain runs before Terminus's hook (TerminusModule sits one level deeper, under
 * HealthModule), which fails every probe, liveness included: during the drain liveness must pass.
 * The keep-alive test in test/shutdown.e2e-spec.ts polls /healthz through the drain.
 */
@Module({ providers: [HttpDrain] })
export class ShutdownModule {}
