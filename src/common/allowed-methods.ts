import type { FastifyInstance } from 'fastify';
import Router from 'find-my-way';

/**
 * The methods each path of the app answers, for the `Allow` header of a 405 (RFC 9110 §15.5.6): a
 * find-my-way router of its own (the one Fastify routes with), fed every route Fastify registers,
 * HEAD routes included, so that a path matches here exactly as it would there. Fastify's own router
 * is not public, and tells only whether one method matches.
 */
export class AllowedMethods {
  private readonly router: Router.Instance<Router.HTTPVersion.V1>;
  private readonly methods = new Set<Router.HTTPMethod>();
  /** Methods of a route for every path: @fastify/cors' `OPTIONS *`, with CORS_ORIGINS set. */
  private readonly everywhere = new Set<Router.HTTPMethod>();

  /** Call before any route is registered (`app.init()`): the onRoute hook sees only routes added after it. */
  constructor(fastify: FastifyInstance) {
    const { caseSensitive, ignoreTrailingSlash, ignoreDuplicateSlashes } = fastify.initialConfig;
    this.router = Router({
      caseSensitive,
      ignoreTrailingSlash,
      ignoreDuplicateSlashes,
      // Any length: a parameter too long for a route's method (414) is still on a path with these methods.
      maxParamLength: Number.MAX_SAFE_INTEGER,
    });
    fastify.addHook('onRoute', (route) => {
      const methods = [route.method].flat() as Router.HTTPMethod[];
      // Not in the router, where it would make every path a known one: added to the known ones' Allow.
      if (route.url === '*' || route.url === '/*') {
        for (const method of methods) this.everywhere.add(method);
        return;
      }
      for (const method of methods) {
        if (this.router.hasRoute(method, route.url)) continue;
        this.router.on(method, route.url, noop);
        this.methods.add(method);
      }
    });
  }

  /** The methods that path answers, sorted; undefined when it answers none (an unknown path, a 404). */
  for(url: string): string[] | undefined {
    const allowed = [...this.methods].filter((method) => answers(this.router.find(method, url)));
    if (allowed.length === 0) return undefined;
    return [...new Set([...allowed, ...this.everywhere])].sort();
  }
}

/**
 * Nest's Fastify adapter sends a match with an empty parameter (`/items/` for `/items/:id`) to the 404
 * handler: for Nest, that path does not exist.
 */
function answers(match: Router.FindResult<Router.HTTPVersion.V1> | null): boolean {
  return match !== null && Object.entries(match.params).every(([name, value]) => value !== '' || name === '*');
}

function noop(): void {}
