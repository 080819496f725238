import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import Fastify from 'fastify';
import { corsOptions } from '../../src/plugins/http/cors.js';
import { API_HEADERS } from '../../src/plugins/http/security-headers.js';
import { announceReady } from '../lib/serve.js';

/**
 * One-off comparison for the security-header decision: a minimal Fastify (no logger, no
 * error handler, no AsyncLocalStorage) with a correlation-id hook and @fastify/cors, and the
 * SEC-001 headers either from @fastify/helmet (SECURITY_HEADERS=helmet, the default) or set
 * from the app's precomputed object in one hook (SECURITY_HEADERS=precomputed). Everything
 * else is identical, so the difference between the two modes is the cost of helmet alone.
 * Both modes send the same header set as the app (helmet is configured to match it).
 */
const mode = process.env.SECURITY_HEADERS ?? 'helmet';
if (mode !== 'helmet' && mode !== 'precomputed') throw new Error(`SECURITY_HEADERS: helmet or precomputed (got ${mode})`);

const app = Fastify({ logger: false, genReqId: () => randomUUID(), requestIdHeader: false });

app.addHook('onRequest', (request, reply, next) => {
  reply.header('x-correlation-id', request.id);
  // Helmet has no Permissions-Policy; added here so both modes answer the same headers.
  if (mode === 'helmet') reply.header('permissions-policy', API_HEADERS['permissions-policy']);
  next();
});

if (mode === 'helmet') {
  // Loaded only in this mode, so the precomputed server carries nothing of helmet.
  const { default: helmet } = await import('@fastify/helmet');
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    crossOriginEmbedderPolicy: false,
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  });
} else {
  app.addHook('onRequest', (_request, reply, next) => {
    reply.headers(API_HEADERS);
    next();
  });
}

// The app's CORS policy and its default allowed origin.
await app.register(cors, corsOptions(new Set(['http://localhost:5200'])));

// A response schema, as the app's route has: the reply goes through the same compiled serializer.
const live = { response: { 200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } } };
app.get('/api/v1/health/live', { schema: live }, async () => ({ status: 'ok' }));

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
announceReady(address.port, () => app.close());
