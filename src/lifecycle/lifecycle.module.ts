import { Global, Module } from '@nestjs/common';
import { Lifecycle } from './lifecycle.js';

/** The process's phase and fatal errors, for every module: the store reports to it, probes read it. */
@Global()
@Module({ providers: [Lifecycle], exports: [Lifecycle] })
export class LifecycleModule {}
