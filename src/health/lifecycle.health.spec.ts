import assert from '../../test/support/assert.js';
import { describe, it } from '@jest/globals';
import { HealthIndicatorService } from '@nestjs/terminus';
import { HealthCheckFailedError } from './health.errors.js';
import { Lifecycle } from '../lifecycle/lifecycle.js';
import { LifecycleHealth } from './lifecycle.health.js';

describe('LifecycleHealth', () => {
  it('when the phases go by, then startup passes from serving on and shutdown fails from draining on', () => {
    const lifecycle = new Lifecycle();
    const health = new LifecycleHealth(new HealthIndicatorService(), lifecycle);
    const statuses = () => [health.startup().startup.status, health.shutdown().shutdown.status];

    assert.deepEqual(statuses(), ['down', 'up']);
    lifecycle.markServing();
    assert.deepEqual(statuses(), ['up', 'up']);
    lifecycle.beginDraining();
    assert.deepEqual(statuses(), ['up', 'down']);
    lifecycle.beginStopping();
    assert.deepEqual(statuses(), ['up', 'down']);
  });

  it('when a shutdown begins before start-up has finished, then serving does not undo it', () => {
    const lifecycle = new Lifecycle();
    lifecycle.beginDraining();
    lifecycle.markServing();
    assert.equal(lifecycle.isShuttingDown, true);
  });
});

describe('HealthCheckFailedError', () => {
  it('when checks fail, then the message names each with its reason and the checks are kept', () => {
    const error = new HealthCheckFailedError('readiness', {
      status: 'error',
      info: { shutdown: { status: 'up' } },
      error: { store: { status: 'down', message: 'the data disk is full' } },
      details: { shutdown: { status: 'up' }, store: { status: 'down', message: 'the data disk is full' } },
    });
    assert.equal(error.message, 'Failing readiness checks: store (the data disk is full).');
    assert.equal(error.code, 'NOT_READY');
    assert.equal(error.kind, 'unavailable');
    assert.deepEqual(Object.keys(error.checks ?? {}), ['shutdown', 'store']);
  });
});
