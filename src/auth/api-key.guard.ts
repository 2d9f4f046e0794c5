import type { ConfigType } from '@nestjs/config';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { authConfig } from '../config/config.namespaces.js';
import { DomainError } from '../common/domain-error.js';

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  readonly kind = 'unauthenticated';
  constructor() {
    super('A valid API key is required: send Authorization: Bearer <key>.');
  }
}

export class AdminDisabledError extends DomainError {
  readonly code = 'ADMIN_DISABLED';
  readonly kind = 'forbidden';
  constructor() {
    super('The admin endpoints are off: they need ADMIN_API_KEYS (or ADMIN_API_KEYS_FILE) to be set.');
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The name under which the OpenAPI document describes ApiKeyGuard's bearer keys. */
export const API_KEY_SCHEME = 'apiKey';

/** The caller of each request the ApiKeyGuard let through with a key: see callerOf. */
const CALLERS = new WeakMap<FastifyRequest, string>();

/**
 * Who made the request, for what is kept per caller (idempotency keys): `key:` and the SHA-256 of the
 * API key it presented (never the key itself), or `anonymous` when no key was checked (API_KEYS unset,
 * every caller is the same one).
 */
export function callerOf(request: FastifyRequest): string {
  return CALLERS.get(request) ?? 'anonymous';
}

/**
 * Bearer API keys from `API_KEYS`. Writes need a key when keys are configured; reads too when
 * `AUTH_READS=true`. Keys are compared as SHA-256 digests with timingSafeEqual, against every key,
 * so neither a key's length nor which key matched shows in the timing.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly digests: readonly Buffer[];
  private readonly protectReads: boolean;

  constructor(@Inject(authConfig.KEY) auth: ConfigType<typeof authConfig>) {
    this.digests = auth.apiKeys.map(digest);
    this.protectReads = auth.protectReads;
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.digests.length === 0) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (!this.protectReads && READ_METHODS.has(request.method)) return true;
    const caller = matchesAny(this.digests, request.headers.authorization);
    if (caller === undefined) throw new UnauthenticatedError();
    CALLERS.set(request, `key:${caller.toString('hex')}`);
    return true;
  }
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * The admin endpoints: an admin key (`ADMIN_API_KEYS`, not the API's: a client of the API must not be
 * able to silence the logs) always, reads included; refused outright (403) when none is configured,
 * so that they are never open by accident.
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly digests: readonly Buffer[];

  constructor(@Inject(authConfig.KEY) auth: ConfigType<typeof authConfig>) {
    this.digests = auth.adminKeys.map(digest);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.digests.length === 0) throw new AdminDisabledError();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (matchesAny(this.digests, request.headers.authorization) === undefined) throw new UnauthenticatedError();
    return true;
  }
}

/**
 * Compares the presented key's SHA-256 with every key's in constant time; returns that digest when
 * one matched.
 */
function matchesAny(digests: readonly Buffer[], authorization: string | undefined): Buffer | undefined {
  const presented = bearerToken(authorization);
  if (presented === undefined) return undefined;
  const presentedDigest = digest(presented);
  let matched = false;
  for (const key of digests) matched = timingSafeEqual(key, presentedDigest) || matched;
  return matched ? presentedDigest : undefined;
}
