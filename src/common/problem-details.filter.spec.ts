import { BadRequestException, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ItemNotFoundError, StoreUnavailableError } from '../items/items.errors.js';
import { RequestValidationError } from './domain-error.js';
import { problemFor } from './problem-details.filter.js';

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
