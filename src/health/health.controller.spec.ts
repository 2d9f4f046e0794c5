import assert from '../../test/support/assert.js';
import { afterEach, beforeEach, describe, it, jest } from '@jest/globals';
import { type LoggerService, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { startTestingApp } from '../../test/support/nest-testing.js';
import type { FastifyInstance } from 'fastify';
import type { ProblemDetails } from '../common/problem-details.filter.js';
import type { Item } from '../items/item.js';
import { ITEMS_REPOSITORY, type ItemsRepository } from '../items/items.repository.js';
import { HealthModule } from './health.module.js';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import { LifecycleModule } from '../lifecycle/lifecycle.module.js';

/** The store as the probes see it: only whether it can take writes; the probes must not read or write items. */
class StoreStub implements ItemsRepository {
  failure?: Error;
  checks = 0;

  checkWritable(): Promise<void> {
    this.checks++;
    return this.failure ? Promise.reject(this.failure) : Promise.resolve();
  }
  findById(): Promise<Item | undefined> {
    return Promise.reject(new Error('not for the probes'));
  }
  list(): Promise<{ items: Item[]; hasMore: boolean }> {
    return Promise.reject(new Error('not for the probes'));
  }
  insert(): Promise<void> {
    return Promise.reject(new Error('not for the probes'));
  }
  replace(): Promise<void> {
    return Promise.reject(new Error('not for the probes'));
  }
  remove(): Promise<void> {
    return Promise.reject(new Error('not for the probes'));
  }
  findIdempotencyRecord(): Promise<undefined> {
    return Promise.reject(new Error('not for the probes'));
  }
}

/** Stands in for ItemsModule.forRoot(), whose only export the probes use is the repository. */
@Module({})
class StoreStubModule {}

/** Keeps what the controller logs, and writes nothing. */
class RecordingLogger implements LoggerService {
  readonly lines: { level: string; message: unknown }[] = [];
  log(message: unknown): void {
    this.lines.push({ level: 'log', message });
  }
  warn(message: unknown): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: unknown): void {
    this.lines.push({ level: 'error', message });
  }
}

describe('HealthController, through HealthModule with the store stubbed', () => {
  let store: StoreStub;
  let logger: RecordingLogger;
  let lifecycle: Lifecycle;
  let app: NestFastifyApplication;
  let http: FastifyInstance;

  beforeEach(async () => {
    store = new StoreStub();
    logger = new RecordingLogger();
    const storeStub = {
      module: StoreStubModule,
      providers: [{ provide: ITEMS_REPOSITORY, useValue: store }],
      exports: [ITEMS_REPOSITORY],
    };
    const moduleRef = await Test.createTestingModule({
      imports: [LifecycleModule.forRoot(), HealthModule.forRoot(storeStub)],
    })
      .setLogger(logger)
      .compile();
    ({ app, http } = await startTestingApp(moduleRef, { logger }));
    lifecycle = app.get(Lifecycle);
  });

  afterEach(async () => {
    jest.useRealTimers();
    await app.close();
  });

  const probe = (path: 'healthz' | 'readyz' | 'startupz') => http.inject({ method: 'GET', url: `/${path}` });

  it('when the process runs, then liveness is 200 on the event loop alone, even with the store failing', async () => {
    store.failure = new Error('the data disk is full');

    const response = await probe('healthz');

    assert.equal(response.statusCode, 200);
    const result = response.json<{ status: string; details: Record<string, { status: string }> }>();
    assert.equal(result.status, 'ok');
    assert.deepEqual(Object.keys(result.details), ['event_loop']);
    assert.equal(result.details.event_loop!.status, 'up');
    // A restart would not fix the store, so liveness never asks it.
    assert.equal(store.checks, 0);
  });

  it('when the store is not writable, then readiness is 503 problem+json naming the store and why', async () => {
    lifecycle.markServing();
    store.failure = new Error('the data disk is full');

    const response = await probe('readyz');

    assert.equal(response.statusCode, 503);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    assert.equal(response.headers['retry-after'], '1');
    const problem = response.json<ProblemDetails>();
    assert.equal(problem.code, 'NOT_READY');
    assert.equal(problem.detail, 'Failing readiness checks: store (the data disk is full).');
    assert.equal((problem.checks?.store as { status: string }).status, 'down');
    assert.equal((problem.checks?.shutdown as { status: string }).status, 'up');
    assert.equal(store.checks, 1);
  });

  it('when the store is still loading, then startup is 503 NOT_STARTED; once serving, 200', async () => {
    const loading = await probe('startupz');
    lifecycle.markServing();
    const started = await probe('startupz');

    assert.equal(loading.statusCode, 503);
    assert.match(String(loading.headers['content-type']), /^application\/problem\+json/);
    const problem = loading.json<ProblemDetails>();
    assert.equal(problem.code, 'NOT_STARTED');
    assert.equal(problem.detail, 'Failing startup checks: startup (the store is still loading).');
    assert.equal(started.statusCode, 200);
  });

  it('when a shutdown has begun, then readiness turns 503 naming it, while liveness and startup still pass', async () => {
    lifecycle.markServing();
    const before = await probe('readyz');

    lifecycle.beginDraining();
    const draining = await probe('readyz');

    assert.equal(before.statusCode, 200);
    assert.equal(draining.statusCode, 503);
    const problem = draining.json<ProblemDetails>();
    assert.equal(problem.code, 'NOT_READY');
    assert.equal(problem.detail, 'Failing readiness checks: shutdown (the service is shutting down).');
    assert.equal((await probe('healthz')).statusCode, 200);
    assert.equal((await probe('startupz')).statusCode, 200);
  });

  it('when the store recovers, then readiness passes again once its cached result expires, and each change is logged once', async () => {
    // Only the clock is faked: the store's result is cached by wall-clock time.
    jest.useFakeTimers({
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    lifecycle.markServing();
    store.failure = new Error('the data disk is full');
    const failing = [await probe('readyz'), await probe('readyz')];

    store.failure = undefined;
    const cached = await probe('readyz');
    jest.setSystemTime(Date.now() + 1_001);
    const recovered = await probe('readyz');

    assert.deepEqual(
      failing.map((response) => response.statusCode),
      [503, 503],
    );
    assert.equal(cached.statusCode, 503);
    assert.equal(recovered.statusCode, 200);
    assert.equal(store.checks, 2);
    const probeLines = logger.lines.filter(({ message }) => (message as { probe?: string }).probe === 'readiness');
    assert.deepEqual(probeLines, [
      {
        level: 'warn',
        message: {
          msg: 'readiness probe fails',
          probe: 'readiness',
          detail: 'Failing readiness checks: store (the data disk is full).',
        },
      },
      { level: 'log', message: { msg: 'readiness probe passes again', probe: 'readiness' } },
    ]);
  });
});
