import assert from '../../test/support/assert.js';
import { afterEach, describe, it } from '@jest/globals';
import { Controller, Get, UseGuards } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { normalizeIp, SkipThrottle, Throttle, ThrottlerStorage } from '@nestjs/throttler';
import { startTestingApp } from '../../test/support/nest-testing.js';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { ProblemDetails } from '../common/problem-details.filter.js';
import { loadConfig } from '../config/app-config.js';
import { clientOf, RateLimitGuard } from './rate-limit.guard.js';
import { RateLimitModule } from './rate-limit.module.js';
import { RateLimitStoreUnavailableError } from './redis-throttler.storage.js';

const MAX = 3;
const WINDOW_SECONDS = 60;
const CLIENT = '192.0.2.1';
const OTHER_CLIENT = '192.0.2.2';

@Controller('limited')
@UseGuards(RateLimitGuard)
class LimitedController {
  @Get('a')
  a(): { route: string } {
    return { route: 'a' };
  }

  @Get('b')
  b(): { route: string } {
    return { route: 'b' };
  }
}

/** One handler function under two controllers: the second skips the limiter, the first does not. */
abstract class InheritedRoutes {
  @Get('route')
  route(): { route: string } {
    return { route: 'inherited' };
  }
}

@Controller('counted')
@UseGuards(RateLimitGuard)
class CountedController extends InheritedRoutes {}

@Controller('skipped')
@SkipThrottle()
@UseGuards(RateLimitGuard)
class SkippedController extends InheritedRoutes {}

/** Routes with throttler metadata of their own, which the guard's short path must leave to the parent. */
@Controller('decorated')
@UseGuards(RateLimitGuard)
class DecoratedController {
  @Get('strict')
  @Throttle({ default: { limit: 1, ttl: 60_000 } })
  strict(): { route: string } {
    return { route: 'strict' };
  }

  @Get('free')
  @SkipThrottle()
  free(): { route: string } {
    return { route: 'free' };
  }
}

describe('RateLimitGuard, through RateLimitModule', () => {
  let app: NestFastifyApplication | undefined;
  let http: FastifyInstance;

  async function startApp(env: Record<string, string>, storage?: ThrottlerStorage): Promise<void> {
    const config = loadConfig(env);
    const builder = Test.createTestingModule({
      imports: [RateLimitModule.forRoot(config)],
      controllers: [LimitedController, DecoratedController, CountedController, SkippedController],
    });
    if (storage) builder.overrideProvider(ThrottlerStorage).useValue(storage);
    const moduleRef = await builder.compile();
    ({ app, http } = await startTestingApp(moduleRef, { config }));
  }

  // A fresh app per test: the budgets live in the app's memory.
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const get = (route: 'a' | 'b', remoteAddress = CLIENT): Promise<LightMyRequestResponse> =>
    http.inject({ method: 'GET', url: `/limited/${route}`, remoteAddress });

  it('when a client stays within RATE_LIMIT_MAX, then each answer says how much of the budget is left', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });

    const responses: LightMyRequestResponse[] = [];
    for (let i = 0; i < MAX; i++) responses.push(await get('a'));

    assert.deepEqual(
      responses.map((response) => response.statusCode),
      [200, 200, 200],
    );
    assert.deepEqual(
      responses.map((response) => [response.headers['ratelimit-limit'], response.headers['ratelimit-remaining']]),
      [
        ['3', '2'],
        ['3', '1'],
        ['3', '0'],
      ],
    );
    const reset = Number(responses[0]!.headers['ratelimit-reset']);
    assert.ok(reset > 0 && reset <= WINDOW_SECONDS, `RateLimit-Reset ${reset}`);
    assert.equal(responses[0]!.headers['retry-after'], undefined);
  });

  it('when a client exceeds RATE_LIMIT_MAX, then 429 problem+json with Retry-After and the RateLimit headers', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });
    for (let i = 0; i < MAX; i++) assert.equal((await get('a')).statusCode, 200);

    const response = await get('a');

    assert.equal(response.statusCode, 429);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    const retryAfter = Number(response.headers['retry-after']);
    assert.ok(
      Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= WINDOW_SECONDS,
      `Retry-After ${retryAfter}`,
    );
    assert.equal(response.headers['ratelimit-limit'], '3');
    assert.equal(response.headers['ratelimit-remaining'], '0');
    assert.equal(response.headers['ratelimit-reset'], String(retryAfter));
    const problem = response.json<ProblemDetails>();
    assert.equal(problem.status, 429);
    assert.equal(problem.code, 'RATE_LIMITED');
    assert.equal(problem.detail, `Too many requests from this client; retry in ${retryAfter} s (see Retry-After).`);
  });

  it('when a client has spent its budget on one route, then it is refused on every other route too', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });

    const statuses: number[] = [];
    for (const route of ['a', 'b', 'a', 'b'] as const) statuses.push((await get(route)).statusCode);

    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  it('when one client is refused, then another client still has its whole budget', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });
    for (let i = 0; i <= MAX; i++) await get('a', CLIENT);
    assert.equal((await get('a', CLIENT)).statusCode, 429);

    const other = await get('a', OTHER_CLIENT);

    assert.equal(other.statusCode, 200);
    assert.equal(other.headers['ratelimit-remaining'], String(MAX - 1));
  });

  it('when IPv6 clients share a /64, then they share one budget, and another /64 has its own', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });

    const statuses: number[] = [];
    for (const address of ['2001:db8::1', '2001:db8::2', '2001:DB8:0:0:ffff::3', '2001:db8::4'])
      statuses.push((await get('a', address)).statusCode);
    const otherSubnet = await get('a', '2001:db8:0:1::1');

    assert.deepEqual(statuses, [200, 200, 200, 429]);
    assert.equal(otherSubnet.statusCode, 200);
    assert.equal(otherSubnet.headers['ratelimit-remaining'], String(MAX - 1));
  });

  it('when an IPv4 client also comes as its IPv4-mapped IPv6 address, then both share one budget', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });

    const statuses: number[] = [];
    for (const address of [CLIENT, `::ffff:${CLIENT}`, CLIENT, `::ffff:${CLIENT}`])
      statuses.push((await get('a', address)).statusCode);

    assert.deepEqual(statuses, [200, 200, 200, 429]);
  });

  it('when RATE_LIMIT_MAX is 0, then no request is counted or refused', async () => {
    await startApp({ RATE_LIMIT_MAX: '0' });

    const responses: LightMyRequestResponse[] = [];
    for (let i = 0; i <= MAX; i++) responses.push(await get('a'));

    assert.deepEqual(
      responses.map((response) => response.statusCode),
      [200, 200, 200, 200],
    );
    assert.equal(responses.at(-1)!.headers['ratelimit-limit'], undefined);
  });

  it('when the budget store does not answer, then the request is served, with no RateLimit header (the budget is unknown)', async () => {
    await startApp(
      { RATE_LIMIT_MAX: String(MAX) },
      {
        increment: () => Promise.reject(new RateLimitStoreUnavailableError(new Error('Command timed out'))),
      },
    );

    const responses: LightMyRequestResponse[] = [];
    for (let i = 0; i <= MAX; i++) responses.push(await get('a'));

    assert.deepEqual(
      responses.map((response) => [response.statusCode, response.headers['ratelimit-limit']]),
      [
        [200, undefined],
        [200, undefined],
        [200, undefined],
        [200, undefined],
      ],
    );
  });

  it('when the budget store fails in another way (a bug), then the error is not swallowed', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX) }, { increment: () => Promise.reject(new TypeError('a bug')) });

    const response = await get('a');

    assert.equal(response.statusCode, 500);
  });

  it('when a route sets its own limit or skips the limiter (@Throttle, @SkipThrottle), then that route follows it', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });
    const inject = (url: string) => http.inject({ method: 'GET', url, remoteAddress: CLIENT });

    const strict = [await inject('/decorated/strict'), await inject('/decorated/strict')];
    const free: LightMyRequestResponse[] = [];
    for (let i = 0; i <= MAX; i++) free.push(await inject('/decorated/free'));

    assert.deepEqual(
      strict.map((response) => [response.statusCode, response.headers['ratelimit-limit']]),
      [
        [200, '1'],
        [429, '1'],
      ],
    );
    assert.deepEqual(
      free.map((response) => [response.statusCode, response.headers['ratelimit-limit']]),
      Array.from({ length: MAX + 1 }, () => [200, undefined]),
    );
  });

  it('when one inherited handler serves a counted controller and one with @SkipThrottle, then each follows its own', async () => {
    await startApp({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW: `${WINDOW_SECONDS}s` });
    const inject = (url: string) => http.inject({ method: 'GET', url, remoteAddress: CLIENT });

    // The counted one first: the guard has then seen the shared handler once.
    const counted = await inject('/counted/route');
    const skipped: LightMyRequestResponse[] = [];
    for (let i = 0; i <= MAX; i++) skipped.push(await inject('/skipped/route'));

    assert.equal(counted.headers['ratelimit-limit'], String(MAX));
    assert.deepEqual(
      skipped.map((response) => [response.statusCode, response.headers['ratelimit-limit']]),
      Array.from({ length: MAX + 1 }, () => [200, undefined]),
    );
  });
});

describe('clientOf', () => {
  it('when given any address, or none, then it is the key normalizeIp gives', () => {
    const addresses = [
      '192.0.2.1',
      '',
      undefined,
      'not an address',
      '192.0.2.1%eth0',
      '::ffff:192.0.2.1',
      '::1',
      'fe80::1%eth0',
      '2001:DB8::5',
      '2001:db8:0:0:1:2:3:4',
    ];

    const keys = addresses.map((address) => clientOf(address, 64));

    assert.deepEqual(
      keys,
      addresses.map((address) => normalizeIp(address as string, 64)),
    );
    // What the comparison rests on: normalizeIp does change some of them.
    assert.equal(keys[5], '192.0.2.1');
    assert.notEqual(keys[8], '2001:DB8::5');
  });
});
