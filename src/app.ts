import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { createLogger } from './lib/logger.js';
import exportWorker from './plugins/app/export-worker.js';
import retentionSweep from './plugins/app/retention-sweep.js';
import services from './plugins/app/services.js';
import auth from './plugins/http/auth.js';
import { correlationId, correlationIdFor } from './plugins/http/correlation-id.js';
import cors from './plugins/http/cors.js';
import docs from './plugins/http/docs.js';
import errorHandler, { frameworkErrorOptions } from './plugins/http/error-handler.js';
import { closeConnectionsOnShutdown } from './plugins/http/graceful-close.js';
import idParams from './plugins/http/id-params.js';
import { idempotencySteps } from './plugins/http/idempotency.js';
import projectAccess from './plugins/http/project-access.js';
import rateLimit from './plugins/http/rate-limit.js';
import { requestLogger } from './plugins/http/request-log.js';
import { securityHeaders } from './plugins/http/security-headers.js';
import { createValidatorCompiler } from './plugins/http/validation.js';
import health from './plugins/infra/health.js';
import postgres from './plugins/infra/postgres.js';
import projectFeed from './plugins/infra/project-feed.js';
import qdrant from './plugins/infra/qdrant.js';
import redis from './plugins/infra/redis.js';
import telemetry from './plugins/infra/telemetry.js';
import auditRoutes from './routes/api/v1/audit/index.js';
import authRoutes, { jwksRoutes } from './routes/api/v1/auth/index.js';
import documentRoutes from './routes/api/v1/documents/index.js';
import exportRoutes from './routes/api/v1/exports/index.js';
import healthRoutes from './routes/api/v1/health/index.js';
import messageRoutes from './routes/api/v1/messages/index.js';
import operationRoutes from './routes/api/v1/operations/index.js';
import projectEventRoutes from './routes/api/v1/project-events/index.js';
import projectRoutes from './routes/api/v1/projects/index.js';
import workerRoutes from './routes/api/v1/worker/index.js';
import sseHub from './streaming/sse-hub.js';
import streamAdmission from './streaming/stream-admission.js';
import './types/route-config.js';
import { APP_VERSION } from './version.js';

export interface AppOverrides {
  /** A logger of the caller's (tests capture lines); default: JSON to stdout at LOG_LEVEL. */
  readonly logger?: Logger;
  readonly startupBackoffMs?: number;
}

export type App = FastifyInstance;

/**
 * Builds the app without listening (server.ts listens): infrastructure, the services built
 * once, the request chain, the routes. See docs/adr/0014-composition-root-and-request-chain.md.
 */
export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const app = Fastify({
    loggerInstance: logger,
    // request.log is the app logger itself: the correlation id comes from the request
    // context (AsyncLocalStorage mixin), so no child logger is built per request.
    childLoggerFactory: (parent) => parent,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: correlationIdFor,
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    forceCloseConnections: 'idle',
    // Router and parser errors in the contract's body; our own 503 while closing.
    ...frameworkErrorOptions,
    // A first start runs initdb in the postgres plugin: 1–2 s on a quiet machine, past Fastify's
    // default 10 s on a loaded one (bench/RESULTS.md, startup). Start-up stays bounded by the
    // plugins' own timeouts and retries.
    pluginTimeout: 120_000,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  // The API speaks JSON only: any other body type is a 400 (docs/contract.md §4), not a string to validate.
  app.removeContentTypeParser('text/plain');

  // Infrastructure, each plugin owning one dependency and its health check.
  await app.register(health, { config });
  await app.register(qdrant, { config });
  await app.register(redis, { config });
  await app.register(sseHub, { config });
  await app.register(streamAdmission, { config });
  await app.register(postgres, {
    config,
    ...(overrides.startupBackoffMs !== undefined ? { startupBackoffMs: overrides.startupBackoffMs } : {}),
  });
  await app.register(projectFeed);
  await app.register(telemetry);

  // The composition root: every repository and service, built once (src/services/index.ts).
  await app.register(services, { config });
  // Audit entries and idempotency keys past their retention, hourly (docs/adr/0021).
  await app.register(retentionSweep, { config });
  // The service's own export worker and the export TTL sweep, on every instance (docs/adr/0023).
  await app.register(exportWorker, { config });

  // What the chain's stateful steps need (their stores, request decorators).
  await app.register(rateLimit, { config });
  await app.register(auth);
  await app.register(projectAccess);
  // Lowers the id path parameters of each route (a route-level onRequest hook, after the global
  // ones below and before the guard): docs/adr/0015.
  await app.register(idParams);

  // The last step, installed before any route: Fastify binds a route to the error handler in
  // force when the route is added (CORS adds one for preflights).
  await app.register(errorHandler);

  // The request chain, in the order it runs: Fastify runs the hooks of one kind in the order
  // they are added, for every route and for unknown ones (404). Which routes are public or
  // never limited is decided in one place (src/plugins/http/route-policy.ts); a step whose
  // limits are all 0 is not installed. The order is pinned by
  // test/integration/http/request-chain-order.test.ts.
  const { byIp, byUserAndProject } = app.rateLimits;
  const shutdown = closeConnectionsOnShutdown(app.server);
  const logRequest = requestLogger(app.log, { logHealthProbes: config.logHealthProbes });
  const idempotency = idempotencySteps(app.services.idempotencyKeys);
  app.addHook('onRequest', correlationId()); //                      1. X-Correlation-ID; request context for every log line
  app.addHook('onRequest', securityHeaders()); //                    2. §3 security headers (errors and 404s too)
  app.addHook('onRequest', shutdown.refuseWhenClosing); //           2b. once shutting down → 503 (§4 body)
  await app.register(cors, { origins: config.corsOrigins, hook: 'onRequest' }); // 3. CORS; a foreign preflight → 403
  if (byIp) app.addHook('onRequest', byIp); //                       4. IP limit → 429, before any token check or query
  app.addHook('onRequest', app.authenticate); //                     5. bearer token → request.caller/user, else 401; wrong kind of token for the route → 403
  app.addHook('preValidation', app.requireProjectAccess); //         6. membership → request.project, else 403
  if (byUserAndProject) app.addHook('preValidation', byUserAndProject); // 7. user and project limits → 429
  app.addHook('preValidation', idempotency.claimIdempotencyKey); //  8. POST Idempotency-Key: first runs; replay, 409, 422, 400
  //                                                                 body validation (422), then the handler
  app.addHook('onSend', shutdown.closeConnectionWhenClosing); //     9. Connection: close once shutting down
  app.addHook('onSend', idempotency.recordIdempotentResponse); //   10. keep a 2xx for replays, else give the key back
  if (logRequest) app.addHook('onResponse', logRequest); //         11. request-completed log line, duration metric
  app.addHook('preClose', shutdown.markClosing);
  //                                                                 an error at any step: errorHandler (§4 body)

  // Routes. The documentation collects every route added after it.
  await app.register(docs, { version: APP_VERSION });
  await app.register(jwksRoutes);
  await app.register(healthRoutes, { prefix: '/api/v1', version: APP_VERSION });
  await app.register(authRoutes, {
    prefix: '/api/v1',
    devLogin: config.nodeEnv === 'production' ? 'off' : config.devLoginAnyHost ? 'any-host' : 'loopback',
  });
  await app.register(projectRoutes, { prefix: '/api/v1' });
  await app.register(documentRoutes, { prefix: '/api/v1' });
  await app.register(operationRoutes, { prefix: '/api/v1' });
  await app.register(exportRoutes, { prefix: '/api/v1' });
  await app.register(workerRoutes, { prefix: '/api/v1', defaultLeaseSeconds: config.workerLeaseSeconds });
  await app.register(auditRoutes, { prefix: '/api/v1' });
  await app.register(projectEventRoutes, { prefix: '/api/v1' });
  await app.register(messageRoutes, { prefix: '/api/v1' });

  return app as unknown as App;
}
