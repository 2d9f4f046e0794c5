import assert from '../../test/support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { HealthIndicatorService } from '@nestjs/terminus';
import { EventLoopHealth } from './event-loop.health.js';

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('EventLoopHealth', () => {
  const health = new EventLoopHealth(new HealthIndicatorService());
  beforeAll(() => health.onApplicationBootstrap());
  afterAll(() => health.onApplicationShutdown());

  it('when the event loop turns promptly, then event_loop is up with the delays measured', async () => {
    health.check(); // starts a new window
    await delay(100);
    const result = health.check(200);
    assert.equal(result.event_loop.status, 'up');
    assert.ok(result.event_loop.max_delay_ms < 200);
  });

  it('when the event loop was blocked longer than the limit since the last check, then event_loop is down and says for how long', async () => {
    health.check();
    blockFor(300);
    await delay(60); // the next sample records the stall
    const result = health.check(200);
    assert.equal(result.event_loop.status, 'down');
    assert.match(String(result.event_loop.message), /the event loop stalled for \d+ ms/);
    assert.ok(Number(result.event_loop.max_delay_ms) >= 250);
  });

  it('when a stall is over and reported, then the next check starts afresh', async () => {
    await delay(60);
    assert.equal(health.check(200).event_loop.status, 'up');
  });

  it('when a stall happens, then the probe and the metric each see it once, over periods of their own', async () => {
    health.check();
    health.observe();
    blockFor(300);
    await delay(60);
    assert.equal(health.observe(200).event_loop.status, 'down', 'the metric sees it');
    assert.equal(health.observe(200).event_loop.status, 'up', 'once: the next scrape starts afresh');
    assert.equal(health.check(200).event_loop.status, 'down', 'the scrapes hid nothing from the probe');
    assert.equal(health.check(200).event_loop.status, 'up');
  });
});
