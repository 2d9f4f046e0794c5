import assert from '../../test/support/assert.js';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Controller, Delete, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { startTestingApp } from '../../test/support/nest-testing.js';
import type { FastifyInstance } from 'fastify';
import type { ProblemDetails } from '../common/problem-details.filter.js';
import { loadConfig } from '../config/app-config.js';
import { configModule } from '../config/config.module.js';
import { ApiKeyGuard } from './api-key.guard.js';

const KEY = 'first-key-0123456789abcdef';
const OTHER_KEY = 'second-key-0123456789abcdef';
const WRONG_KEY = 'wrong-key-0123456789abcdef';

@Controller('guarded')
@UseGuards(ApiKeyGuard)
class GuardedController {
  @Get()
  read(): { ok: true } {
    return { ok: true };
  }

  @Post()
  write(): { ok: true } {
    return { ok: true };
  }

  @Delete()
  @HttpCode(204)
  remove(): void {}
}

/** The guard on a test controller, with the configuration an environment literal gives. */
async function startApp(env: Record<string, string>): Promise<NestFastifyApplication> {
  const config = loadConfig(env);
  const moduleRef = await Test.createTestingModule({
    imports: [await configModule(config)],
    controllers: [GuardedController],
    providers: [ApiKeyGuard],
  }).compile();
  return (await startTestingApp(moduleRef, { config })).app;
}

describe('ApiKeyGuard', () => {
  describe('when API_KEYS is set', () => {
    let app: NestFastifyApplication;
    let http: FastifyInstance;
    beforeAll(async () => {
      app = await startApp({ API_KEYS: `${KEY},${OTHER_KEY}` });
      http = app.getHttpAdapter().getInstance();
    });
    afterAll(async () => {
      await app.close();
    });

    for (const [what, headers] of [
      ['no Authorization header', {}],
      ['a key that is not configured', { authorization: `Bearer ${WRONG_KEY}` }],
      ['a configured key without the Bearer scheme', { authorization: KEY }],
      ['a configured key under another scheme', { authorization: `Basic ${KEY}` }],
      ['a configured key with more after it', { authorization: `Bearer ${KEY}x` }],
      ['a configured key followed by another word', { authorization: `Bearer ${KEY} ${OTHER_KEY}` }],
      ['a prefix of a configured key', { authorization: `Bearer ${KEY.slice(0, -1)}` }],
      ['a configured key in another header', { 'x-api-key': KEY }],
    ] as const) {
      it(`when a write carries ${what}, then 401 problem+json asking for a Bearer key`, async () => {
        const response = await http.inject({ method: 'POST', url: '/guarded', headers, payload: {} });

        assert.equal(response.statusCode, 401);
        assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
        assert.equal(response.headers['www-authenticate'], 'Bearer realm="items-service"');
        const problem = response.json<ProblemDetails>();
        assert.equal(problem.code, 'UNAUTHENTICATED');
        assert.equal(problem.status, 401);
        // Whatever was presented is never echoed back.
        assert.doesNotMatch(response.body, /key-0123456789/);
      });
    }

    it('when a write carries either configured key as a Bearer token, then it is let through', async () => {
      const first = await http.inject({
        method: 'POST',
        url: '/guarded',
        headers: { authorization: `Bearer ${KEY}` },
        payload: {},
      });
      const second = await http.inject({
        method: 'DELETE',
        url: '/guarded',
        headers: { authorization: `bearer  ${OTHER_KEY} ` },
      });

      assert.equal(first.statusCode, 201);
      assert.deepEqual(first.json(), { ok: true });
      assert.equal(second.statusCode, 204);
    });

    it('when a read carries no key, then it is let through, as AUTH_READS is off', async () => {
      const response = await http.inject({ method: 'GET', url: '/guarded' });

      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { ok: true });
    });
  });

  describe('when API_KEYS is set and AUTH_READS=true', () => {
    let app: NestFastifyApplication;
    let http: FastifyInstance;
    beforeAll(async () => {
      app = await startApp({ API_KEYS: KEY, AUTH_READS: 'true' });
      http = app.getHttpAdapter().getInstance();
    });
    afterAll(async () => {
      await app.close();
    });

    it('when a read carries no key or a wrong one, then 401; with the key, then 200', async () => {
      const without = await http.inject({ method: 'GET', url: '/guarded' });
      const wrong = await http.inject({
        method: 'GET',
        url: '/guarded',
        headers: { authorization: `Bearer ${WRONG_KEY}` },
      });
      const right = await http.inject({ method: 'GET', url: '/guarded', headers: { authorization: `Bearer ${KEY}` } });

      assert.equal(without.statusCode, 401);
      assert.equal(without.json<ProblemDetails>().code, 'UNAUTHENTICATED');
      assert.equal(wrong.statusCode, 401);
      assert.equal(right.statusCode, 200);
    });
  });

  describe('when API_KEYS is not set', () => {
    let app: NestFastifyApplication;
    let http: FastifyInstance;
    beforeAll(async () => {
      app = await startApp({});
      http = app.getHttpAdapter().getInstance();
    });
    afterAll(async () => {
      await app.close();
    });

    it('when a write carries no key, or any key at all, then it is let through', async () => {
      const without = await http.inject({ method: 'POST', url: '/guarded', payload: {} });
      const anyKey = await http.inject({
        method: 'POST',
        url: '/guarded',
        headers: { authorization: 'Bearer x' },
        payload: {},
      });

      assert.equal(without.statusCode, 201);
      assert.equal(anyKey.statusCode, 201);
    });
  });
});
