import { UnsupportedMediaTypeException } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MalformedBodyError } from './malformed-body.error.js';

/** Our bodies are flat objects; anything deeper is not ours and costs recursion downstream. */
const MAX_DEPTH = 32;
const JSON_CONTENT_TYPES = ['application/json', 'application/merge-patch+json'];

/**
 * Replaces Fastify's body parsers with one strict JSON parser: the only media types accepted are
 * JSON ones (anything else is a 415), bytes must be valid UTF-8, `__proto__` and `constructor` keys
 * are refused, and the body must be a JSON object of bounded depth. Every refusal is a 400, never
 * a 500.
 */
export function registerJsonBodyParser(fastify: FastifyInstance, bodyLimit: number): void {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(JSON_CONTENT_TYPES, { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(new MalformedBodyError('The request body is not valid UTF-8.'), undefined);
    }
    if (text.trim() === '') return done(new MalformedBodyError('The request body is empty.'), undefined);
    let value: unknown;
    try {
      // RFC 8259 lets a parser ignore a leading byte order mark; JSON.parse would reject it.
      value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch {
      return done(new MalformedBodyError('The request body is not valid JSON.'), undefined);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return done(new MalformedBodyError('The request body must be a JSON object.'), undefined);
    const problem = shapeProblem(value);
    if (problem !== undefined) return done(new MalformedBodyError(`The request body ${problem}.`), undefined);
    done(null, value);
  });
  // A write with no body at all never reaches a parser: it is still not JSON. On the write routes only,
  // so that reads do not pay for the hook. (A path that matches no route is a 404 whatever its body.)
  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((method) => WRITE_METHODS.has(method))) return;
    const hooks = route.preValidation === undefined ? [] : [route.preValidation].flat();
    route.preValidation = [...hooks, requireBody];
  });
}

function requireBody(request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void {
  if (request.body === undefined && WRITE_METHODS.has(request.method)) done(new UnsupportedMediaTypeException());
  else done();
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Depth and forbidden keys in one pass. JSON.parse makes `__proto__` an own property (no pollution
 * yet), so refusing it here, before class-transformer copies the object, is enough. Iterative, so
 * that a hostile body cannot overflow the stack here.
 */
function shapeProblem(root: object): string | undefined {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > MAX_DEPTH) return `is nested deeper than ${MAX_DEPTH} levels`;
    for (const [key, child] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key)) return 'has a forbidden key';
      stack.push([child, depth + 1]);
    }
  }
  return undefined;
}
