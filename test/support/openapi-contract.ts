import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';

// A CommonJS module whose default export TypeScript sees one level down.
const addFormats = formats.default;
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './server-process.js';

export const OPENAPI_DOCUMENT_PATH = path.join(PROJECT_ROOT, 'openapi/openapi.json');

interface MediaType {
  schema?: object;
}
interface Header {
  required?: boolean;
  schema?: { type?: string };
  $ref?: string;
}
interface ResponseSpec {
  headers?: Record<string, Header>;
  content?: Record<string, MediaType>;
}
interface Operation {
  responses: Record<string, ResponseSpec>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { headers?: Record<string, Header> };
}

/** What a test file checked against the document (each file runs in its own process); the fuzz test reports it. */
export const contractStats = { validated: 0, undocumented: 0, violations: [] as string[] };

/**
 * Checks HTTP responses against openapi/openapi.json: the status is documented for the operation, the
 * media type is one documented for that status, the body validates against its schema (ajv, with
 * OpenAPI's `nullable`), required headers are present, and documented headers have their type.
 */
export class OpenApiContract {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly routes: Array<{ pattern: RegExp; template: string; operations: Record<string, Operation> }>;
  private readonly validators = new Map<string, ValidateFunction>();
  private problem?: ValidateFunction;

  constructor(readonly document: OpenApiDocument = JSON.parse(readFileSync(OPENAPI_DOCUMENT_PATH, 'utf8'))) {
    addFormats(this.ajv);
    this.ajv.addSchema(document, 'openapi.json');
    this.routes = Object.entries(document.paths).map(([template, operations]) => ({
      template,
      operations,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  /**
   * The violations of one response; `undefined` when the route is not in the document at all. HEAD is
   * checked as the GET of its path (headers and status; no body). A method the path does not document
   * must be a 405 problem whose Allow lists exactly the documented ones (HEAD with GET; OPTIONS may be
   * there, for CORS preflights).
   */
  check(method: string, url: string, status: number, headers: Headers, body: string): string[] | undefined {
    // WHATWG URL resolves dot segments (`/items/./x` → `/items/x`, `%2e` too); the server's router does
    // not, so for it such a path is none of the documented ones (a 404 ROUTE_NOT_FOUND).
    const rawPath = url.replace(/^[a-z]+:\/\/[^/]*/i, '').split(/[?#]/)[0]!;
    if (/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(rawPath)) return undefined;
    const pathname = new URL(url).pathname;
    const route = this.routes.find((candidate) => candidate.pattern.test(pathname));
    if (!route) return undefined;
    const operation = route.operations[method.toLowerCase()] ?? (method === 'HEAD' ? route.operations.get : undefined);
    if (!operation)
      return this.checkNotAllowed(`${method} ${route.template} -> ${status}`, route, status, headers, body);
    const where = `${method} ${route.template} -> ${status}`;
    const spec = operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`];
    if (!spec) return [`${where}: status not documented`];
    const violations: string[] = [];
    for (const [name, declared] of Object.entries(spec.headers ?? {})) {
      const header = this.resolveHeader(declared);
      const value = headers.get(name);
      if (value === null) {
        if (header.required) violations.push(`${where}: required header ${name} missing`);
      } else if (header.schema?.type === 'integer' && !/^\d+$/.test(value)) {
        violations.push(`${where}: header ${name} is not an integer: ${value}`);
      }
    }
    const mediaTypes = Object.keys(spec.content ?? {});
    if (body === '') {
      if (mediaTypes.length > 0 && method !== 'HEAD')
        violations.push(`${where}: empty body, expected ${mediaTypes.join(', ')}`);
      return violations;
    }
    const mediaType = (headers.get('content-type') ?? '').split(';', 1)[0]!.trim();
    if (!mediaTypes.includes(mediaType)) return [...violations, `${where}: content-type ${mediaType} not documented`];
    const validate = this.validatorFor(route.template, method, String(status), mediaType, spec.content![mediaType]!);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return [...violations, `${where}: body is not JSON`];
    }
    if (validate && !validate(parsed)) violations.push(`${where}: ${this.ajv.errorsText(validate.errors)}`);
    return violations;
  }

  /** A method the path does not document; `undefined` (not checked) when refused before routing. */
  private checkNotAllowed(
    where: string,
    route: { operations: Record<string, Operation> },
    status: number,
    headers: Headers,
    body: string,
  ): string[] | undefined {
    if (status !== 404 && status !== 405) return undefined;
    if (status === 404) return [`${where}: a path the document has answers 404 instead of 405`];
    const documented = Object.keys(route.operations).map((name) => name.toUpperCase());
    if (documented.includes('GET')) documented.push('HEAD');
    const allow = (headers.get('allow') ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '' && name !== 'OPTIONS');
    const violations: string[] = [];
    if (allow.sort().join(', ') !== documented.sort().join(', '))
      violations.push(`${where}: Allow is "${headers.get('allow')}", the document has ${documented.join(', ')}`);
    if (!(headers.get('content-type') ?? '').startsWith('application/problem+json'))
      violations.push(`${where}: not problem+json`);
    else if (body !== '') {
      this.problem ??= this.ajv.compile({ $ref: 'openapi.json#/components/schemas/Problem' });
      if (!this.problem(JSON.parse(body))) violations.push(`${where}: ${this.ajv.errorsText(this.problem.errors)}`);
    }
    return violations;
  }

  private resolveHeader(header: Header): Header {
    if (!header.$ref) return header;
    const name = header.$ref.split('/').pop()!;
    return this.document.components.headers?.[name] ?? {};
  }

  private validatorFor(
    template: string,
    method: string,
    status: string,
    mediaType: string,
    media: MediaType,
  ): ValidateFunction | undefined {
    if (!media.schema) return undefined;
    const key = `${method} ${template} ${status} ${mediaType}`;
    let validate = this.validators.get(key);
    if (!validate) {
      // Compiled by reference into the document, so that its $refs resolve.
      const pointer = ['paths', template, method.toLowerCase(), 'responses', status, 'content', mediaType, 'schema']
        .map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1'))
        .join('/');
      validate = this.ajv.compile({ $ref: `openapi.json#/${pointer}` });
      this.validators.set(key, validate);
    }
    return validate;
  }
}

let shared: OpenApiContract | undefined;

/**
 * Checks a response the suites received against the committed document, and throws on a violation:
 * every response that test/support/http.ts's jsonRequest receives goes through here.
 */
export function assertMatchesContract(method: string, url: string, status: number, headers: Headers, body: string) {
  shared ??= new OpenApiContract();
  const violations = shared.check(method, url, status, headers, body);
  if (violations === undefined) {
    contractStats.undocumented++;
    return;
  }
  contractStats.validated++;
  if (violations.length === 0) return;
  contractStats.violations.push(...violations);
  throw new Error(`response breaks the OpenAPI contract:\n  ${violations.join('\n  ')}`);
}
