import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ErrorResponse } from '../../lib/error-body.js';
import { DOCS_PREFIX } from './security-headers.js';

export interface DocsOptions {
  readonly version: string;
}

/**
 * OpenAPI 3.1 generated from the route schemas (REQ-001): `GET /openapi.json` and the
 * interactive page at `/docs`. Nothing here is hand-written OpenAPI.
 */
const docs: FastifyPluginAsync<DocsOptions> = async (app, opts) => {
  app.addSchema(ErrorResponse);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'JEEX API',
        version: opts.version,
        description:
          'Identity, projects, versioned documents and long-running operations of JEEX Idea. ' +
          'Every error has the body `ErrorResponse`; every response carries `X-Correlation-ID`. ' +
          'Unknown body properties are rejected with 422 (not silently dropped).',
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
      security: [{ bearerAuth: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  // The documentation page and its assets are public; marked here so the auth step has one rule.
  app.addHook('onRoute', (route) => {
    if (route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`)) {
      route.config = { ...(route.config ?? {}), public: true, rateLimit: false };
    }
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: false,
    uiConfig: { deepLinking: true },
  });
  app.get('/openapi.json', { config: { public: true, rateLimit: false }, schema: { hide: true } }, async () => app.swagger());
};

export default fp(docs, { name: 'docs', fastify: '5.x' });
