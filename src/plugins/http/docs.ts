import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { ErrorResponse } from './error-body.js';
import { DOCS_PREFIX, isPublicRoute } from './route-policy.js';

export interface DocsOptions {
  readonly version: string;
}

/** Tag descriptions: the sections of the documentation page, in this order. */
const TAGS = [
  { name: 'health', description: 'Liveness, readiness and per-component health. Public and never rate limited.' },
  {
    name: 'auth',
    description:
      'The current user, the public signing keys (JWKS) and, outside production only, a development login. ' +
      'Every other route needs `Authorization: Bearer <token>` (RS256; `iss`, `aud` and `exp` checked).',
  },
  {
    name: 'projects',
    description:
      'Projects and their members. Roles per project: owner > editor > viewer. A caller who is not a member gets 403 ' +
      'whether or not the project exists.',
  },
  {
    name: 'documents',
    description: 'Linearly versioned Markdown documents of a project: about, specs, architecture and plan.',
  },
  {
    name: 'operations',
    description:
      'Long-running jobs of a project (agent runs, exports): workers publish progress events, clients follow them ' +
      'as Server-Sent Events and resume with `Last-Event-ID`.',
  },
  {
    name: 'workers',
    description:
      'Agent workers (worker credential only): lease operations with a long poll, heartbeat the lease; the lease brings an ' +
      'operation token for the ordinary project routes. See the README, "Write a worker".',
  },
  {
    name: 'messages',
    description:
      'The conversation with the agents: user messages (each may start an `agent.reply` operation) and assistant replies ' +
      'written by operation tokens, streamed in deltas with `seq`. Follow it live on the project stream ' +
      '(`GET /projects/{project_id}/events`) and resume after a reload with nothing missing or doubled.',
  },
  {
    name: 'audit',
    description:
      'Who changed what: one entry per successful write, in the same transaction (append-only; retention ' +
      '`AUDIT_RETENTION_DAYS`). Owners only.',
  },
  {
    name: 'exports',
    description:
      "The package the user came for: a ZIP of the latest documents and a manifest, built by the service's own worker as an " +
      '`export` operation, downloaded with a signed link that works without a token (docs/contract.md §11).',
  },
];

/**
 * OpenAPI 3.1 generated from the route schemas (REQ-001): `GET /openapi.json` and the
 * interactive page at `/docs`. Nothing here is hand-written OpenAPI.
 */
interface ObjectSchema {
  readonly required?: readonly string[];
  readonly properties?: Readonly<Record<string, { readonly default?: unknown }>>;
}

/**
 * A query parameter with a default is filled in by validation, so the TypeBox schema lists it
 * as required; a client may leave it out, and the document (and the typed client) must say so.
 */
function optionalDefaults(querystring: unknown): { querystring?: ObjectSchema } {
  const qs = querystring as ObjectSchema | undefined;
  if (!qs?.required || !qs.properties) return {};
  const properties = qs.properties;
  return { querystring: { ...qs, required: qs.required.filter((name) => properties[name]?.default === undefined) } };
}

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
      tags: TAGS,
    },
    // The document's `security` comes from the same rule the authentication step obeys
    // (route-policy.ts), so it cannot claim a route is public when it is not, or the reverse.
    transform: ({ schema, url, route }) => {
      if (schema === undefined) return { schema, url };
      const isPublic = isPublicRoute(route);
      if (!isPublic && Array.isArray(schema.security) && schema.security.length === 0) {
        throw new Error(`${route.method} ${url}: the schema says public (security: []) but the route requires a token`);
      }
      return { schema: { ...schema, ...(isPublic ? { security: [] } : {}), ...optionalDefaults(schema.querystring) }, url };
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: false,
    uiConfig: { deepLinking: true },
  });
  app.get('/openapi.json', { config: { public: true, rateLimit: false }, schema: { hide: true } }, async () => app.swagger());
};

export default fp(docs, { name: 'docs', fastify: '5.x' });
