import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthIndicatorService } from '@nestjs/terminus';
import { EventLoopHealth } from './event-loop.health.js';

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('EventLoopHealth', () => {
  const health = new EventLoopHealth(new HealthIndicatorService());

  it('when the event loop turns promptly, then event_loop is up with the delay measured', async () => {
    const result = await health.check(1_000);
    assert.equal(result.event_loop.status, 'up');
    assert.equal(typeof result.event_loop.delay_ms, 'number');
  });

  it('when the event loop is blocked longer than the limit, then event_loop is down and says for how long', async () => {
    const pending = health.check(20).then((result) => result);
    blockFor(30); // past the limit (20 ms), short of the timeout (40 ms)
    const result = await pending;
    assert.equal(result.event_loop.status, 'down');
    assert.match(String(result.event_loop.message), /a turn of the event loop took \d+ ms/);
  });
});
