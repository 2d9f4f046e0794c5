import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ItemsModule } from '../items/items.module.js';
import { EventLoopHealth } from './event-loop.health.js';
import { HealthController } from './health.controller.js';
import { LifecycleHealth } from './lifecycle.health.js';
import { StoreHealth } from './store.health.js';

/** /healthz, /readyz and /startupz. */
@Module({
  // Terminus would log an error on every failing probe (each second while draining); the controller
  // logs changes instead.
  imports: [TerminusModule.forRoot({ logger: false }), ItemsModule],
  controllers: [HealthController],
  providers: [EventLoopHealth, StoreHealth, LifecycleHealth],
})
export class HealthModule {}
