import type { FastifyContextConfig, FastifyRequest } from 'fastify';

/** Where the documentation page and its assets live (public, never limited, its own CSP). */
export const DOCS_PREFIX = '/docs';

export interface RouteFacts {
  readonly url?: string | undefined;
  readonly method?: string | readonly string[] | undefined;
  readonly config?: FastifyContextConfig | undefined;
}

/**
 * Routes whose credential is a signature in the URL, not a token: a browser follows the link in a
 * plain tab (docs/contract.md §11). The handler verifies the signature before it reads anything.
 */
export const SIGNED_LINK_ROUTES: ReadonlySet<string> = new Set(['/api/v1/exports/:export_id/download']);

export function isDocsUrl(url: string | undefined): boolean {
  return url !== undefined && (url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`));
}

/**
 * The one rule for "public" (no token needed): the route says so (`config.public`), it is the
 * documentation page, a signed-link route (SIGNED_LINK_ROUTES), or the CORS preflight route
 * (browsers send preflights without credentials). The authentication step and the OpenAPI
 * document's `security` both ask this.
 */
export function isPublicRoute(route: RouteFacts): boolean {
  return (
    route.config?.public === true ||
    isDocsUrl(route.url) ||
    (route.url !== undefined && SIGNED_LINK_ROUTES.has(route.url)) ||
    route.method === 'OPTIONS'
  );
}

/** Never rate limited: health and documentation (`config.rateLimit: false`, the docs pages). */
export function isUnlimitedRoute(route: RouteFacts): boolean {
  return route.config?.rateLimit === false || isDocsUrl(route.url);
}

/** A request that needs a token: a known route that is not public (an unknown route stays a 404). */
export function needsToken(request: FastifyRequest): boolean {
  return !request.is404 && !isPublicRoute(request.routeOptions);
}
