import type { FastifyContextConfig, FastifyRequest } from 'fastify';

/** Where the documentation page and its assets live (public, never limited, its own CSP). */
export const DOCS_PREFIX = '/docs';

export interface RouteFacts {
  readonly url?: string | undefined;
  readonly method?: string | readonly string[] | undefined;
  readonly config?: FastifyContextConfig | undefined;
}

export function isDocsUrl(url: string | undefined): boolean {
  return url !== undefined && (url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`));
}

/**
 * The one rule for "public" (no token needed): the route says so (`config.public`), it is the
 * documentation page, or it is the CORS preflight route (browsers send preflights without
 * credentials). The authentication step and the OpenAPI document's `security` both ask this.
 */
export function isPublicRoute(route: RouteFacts): boolean {
  return route.config?.public === true || isDocsUrl(route.url) || route.method === 'OPTIONS';
}

/** Never rate limited: health and documentation (`config.rateLimit: false`, the docs pages). */
export function isUnlimitedRoute(route: RouteFacts): boolean {
  return route.config?.rateLimit === false || isDocsUrl(route.url);
}

/** A request that needs a token: a known route that is not public (an unknown route stays a 404). */
export function needsToken(request: FastifyRequest): boolean {
  return !request.is404 && !isPublicRoute(request.routeOptions);
}
