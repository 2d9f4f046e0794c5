import {
  BadRequestException,
  Controller,
  ForbiddenException,
  Get,
  type LoggerService,
  NotFoundException,
  PayloadTooLargeException,
} from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { startTestingApp } from '../../test/support/nest-testing.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import assert from '../../test/support/assert.js';
import { afterAll, beforeAll, beforeEach, describe, it } from '@jest/globals';
import {
  ItemAlreadyExistsError,
  ItemNotFoundError,
  ItemVersionMismatchError,
  StoreUnavailableError,
} from '../items/items.errors.js';
import { RequestValidationError } from './domain-error.js';
import { type ProblemDetails, problemFor } from './problem-details.filter.js';

const request = { id: 'req-1', url: '/items/abc?limit=5' } as FastifyRequest;

describe('problemFor', () => {
  it('when a domain error is thrown, then its kind sets the status and its code is kept', () => {
    const problem = problemFor(new ItemNotFoundError('abc'), request);
    assert.deepEqual(problem, {
      type: 'urn:items-service:problem:item-not-found',
      title: 'Not Found',
      status: 404,
      detail: 'Item "abc" does not exist.',
      instance: '/items/abc',
      code: 'ITEM_NOT_FOUND',
      request_id: 'req-1',
    });
    assert.equal(problemFor(new StoreUnavailableError(), request).status, 503);
  });

  it('when validation fails, then the field errors are listed', () => {
    const problem = problemFor(new RequestValidationError('bad', [{ field: 'name', message: 'too long' }]), request);
    assert.equal(problem.status, 400);
    assert.deepEqual(problem.errors, [{ field: 'name', message: 'too long' }]);
  });

  it('when an unexpected error is thrown, then a generic 500 reveals nothing of it', () => {
    const problem = problemFor(new Error('password=hunter2 at /secret/path'), request);
    assert.equal(problem.status, 500);
    assert.equal(problem.code, 'INTERNAL_ERROR');
    assert.ok(!JSON.stringify(problem).includes('hunter2'));
    assert.ok(!JSON.stringify(problem).includes('/secret/path'));
  });

  it("when Nest's or Fastify's own client errors arrive, then their status is kept with fixed wording", () => {
    assert.equal(problemFor(new NotFoundException(), request).code, 'ROUTE_NOT_FOUND');
    assert.equal(problemFor(new PayloadTooLargeException(), request).code, 'BODY_TOO_LARGE');
    assert.equal(problemFor(new BadRequestException('echo of <input>'), request).detail, 'Bad Request');
    const fastifyError = Object.assign(new Error("'/x%' is not a valid url component"), {
      statusCode: 400,
      code: 'FST_ERR_BAD_URL',
    });
    const problem = problemFor(fastifyError, request);
    assert.equal(problem.status, 400);
    assert.equal(problem.detail, 'The URL is not valid.');
  });

  it('when the path is very long, then instance is cut short', () => {
    const long = { id: 'r', url: `/${'x'.repeat(5000)}` } as FastifyRequest;
    assert.ok(problemFor(new NotFoundException(), long).instance!.length < 200);
  });
});

const SECRET = 'password=hunter2 at /secret/path';

/** Throws what the handlers and the store throw, one route each. */
@Controller('fail')
class FailingController {
  @Get('not-found')
  notFound(): never {
    throw new ItemNotFoundError('abc');
  }

  @Get('conflict')
  conflict(): never {
    throw new ItemAlreadyExistsError('abc');
  }

  @Get('stale')
  stale(): never {
    throw new ItemVersionMismatchError('abc');
  }

  @Get('unavailable')
  unavailable(): Promise<never> {
    return Promise.reject(new StoreUnavailableError());
  }

  @Get('invalid')
  invalid(): never {
    throw new RequestValidationError('The request is invalid (name: too long).', [
      { field: 'name', message: 'too long' },
    ]);
  }

  @Get('forbidden')
  forbidden(): never {
    throw new ForbiddenException(`not for you: ${SECRET}`);
  }

  @Get('unexpected')
  unexpected(): Promise<never> {
    return Promise.reject(new Error(SECRET));
  }
}

/** Keeps what Nest's loggers are asked to write at error level, and writes nothing. */
class RecordingLogger implements LoggerService {
  readonly errors: unknown[][] = [];
  log(): void {}
  warn(): void {}
  error(...args: unknown[]): void {
    this.errors.push(args);
  }
}

describe('ProblemDetailsFilter, registered on a Nest application as createApp() does', () => {
  const logger = new RecordingLogger();
  let app: NestFastifyApplication;
  let http: FastifyInstance;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ controllers: [FailingController] })
      .setLogger(logger)
      .compile();
    ({ app, http } = await startTestingApp(moduleRef, { logger }));
  });

  afterAll(async () => {
    await app.close();
  });

  beforeEach(() => {
    logger.errors.length = 0;
  });

  for (const { path, status, code } of [
    { path: 'not-found', status: 404, code: 'ITEM_NOT_FOUND' },
    { path: 'conflict', status: 409, code: 'ITEM_ALREADY_EXISTS' },
    { path: 'stale', status: 412, code: 'ITEM_VERSION_MISMATCH' },
    { path: 'unavailable', status: 503, code: 'STORE_UNAVAILABLE' },
    { path: 'invalid', status: 400, code: 'VALIDATION_FAILED' },
  ]) {
    it(`when a handler throws ${code}, then ${status} problem+json with its code, and nothing is logged`, async () => {
      const response = await http.inject({ method: 'GET', url: `/fail/${path}?q=1` });

      assert.equal(response.statusCode, status);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
      const problem = response.json<ProblemDetails>();
      assert.equal(problem.status, status);
      assert.equal(problem.code, code);
      assert.equal(problem.type, `urn:items-service:problem:${code.toLowerCase().replaceAll('_', '-')}`);
      assert.equal(problem.instance, `/fail/${path}`);
      assert.equal(problem.request_id, response.headers['x-request-id']);
      // The client's own mistakes and a store that says it is unavailable are expected, not bugs.
      assert.deepEqual(logger.errors, []);
    });
  }

  it('when the error lists field errors, then the body carries them', async () => {
    const response = await http.inject({ method: 'GET', url: '/fail/invalid' });

    assert.deepEqual(response.json<ProblemDetails>().errors, [{ field: 'name', message: 'too long' }]);
  });

  it('when the store is unavailable, then the 503 says when to retry', async () => {
    const response = await http.inject({ method: 'GET', url: '/fail/unavailable' });

    assert.equal(response.statusCode, 503);
    assert.equal(response.headers['retry-after'], '1');
  });

  it("when a handler throws Nest's HttpException, then its status is kept with the generic CLIENT_ERROR code, and its message is not echoed", async () => {
    const response = await http.inject({ method: 'GET', url: '/fail/forbidden' });

    assert.equal(response.statusCode, 403);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    const problem = response.json<ProblemDetails>();
    assert.equal(problem.code, 'CLIENT_ERROR');
    assert.equal(problem.detail, 'Forbidden');
    assert.doesNotMatch(response.body, /hunter2/);
  });

  it('when no route matches, then 404 ROUTE_NOT_FOUND as problem+json', async () => {
    const response = await http.inject({ method: 'GET', url: '/nowhere' });

    assert.equal(response.statusCode, 404);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    assert.equal(response.json<ProblemDetails>().code, 'ROUTE_NOT_FOUND');
  });

  it('when a handler fails unexpectedly, then a generic 500 reveals nothing, and the error is logged with the request id', async () => {
    const response = await http.inject({ method: 'GET', url: '/fail/unexpected' });

    assert.equal(response.statusCode, 500);
    assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    const problem = response.json<ProblemDetails>();
    assert.equal(problem.code, 'INTERNAL_ERROR');
    assert.equal(problem.detail, 'An unexpected error occurred; quote the request id.');
    assert.doesNotMatch(response.body, /hunter2|secret/);
    assert.equal(logger.errors.length, 1);
    const [entry] = logger.errors[0]! as [{ msg: string; err: Error; request_id: string }];
    assert.equal(entry.msg, 'unhandled error');
    assert.equal(entry.err.message, SECRET);
    assert.equal(entry.request_id, problem.request_id);
  });
});
