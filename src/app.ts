import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { createLogger } from './lib/logger.js';
import { createValidatorCompiler } from './lib/validation.js';
import auth from './plugins/http/auth.js';
import correlationId, { correlationIdFor } from './plugins/http/correlation-id.js';
import cors from './plugins/http/cors.js';
import docs from './plugins/http/docs.js';
import errorHandler from './plugins/http/error-handler.js';
import gracefulClose from './plugins/http/graceful-close.js';
import projectAccess from './plugins/http/project-access.js';
import rateLimit from './plugins/http/rate-limit.js';
import requestLog from './plugins/http/request-log.js';
import securityHeaders from './plugins/http/security-headers.js';
import health from './plugins/infra/health.js';
import postgres from './plugins/infra/postgres.js';
import qdrant from './plugins/infra/qdrant.js';
import redis from './plugins/infra/redis.js';
import telemetry from './plugins/infra/telemetry.js';
import vectorPurges from './plugins/infra/vector-purges.js';
import authRoutes, { jwksRoutes } from './routes/api/v1/auth/index.js';
import documentRoutes from './routes/api/v1/documents/index.js';
import healthRoutes from './routes/api/v1/health/index.js';
import operationRoutes from './routes/api/v1/operations/index.js';
import projectRoutes from './routes/api/v1/projects/index.js';
import sseHub from './streaming/sse-hub.js';
import './types/route-config.js';
import { APP_VERSION } from './version.js';

export interface AppOverrides {
  /** A logger of the caller's (tests capture lines); default: JSON to stdout at LOG_LEVEL. */
  readonly logger?: Logger;
  readonly startupBackoffMs?: number;
}

export type App = FastifyInstance;

/**
 * Builds the app without listening (STYLE 1). The registration order below *is* the
 * request chain of REQ-003: correlation ID → security headers → CORS → authentication →
 * project access → error handling. Fastify runs hooks in the order they are added.
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
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  // The API speaks JSON only: any other body type is a 400 (CONTRACT §4), not a string to validate.
  app.removeContentTypeParser('text/plain');

  // The error handler is the last step of the chain but is installed first: Fastify binds a
  // route to the error handler in force when the route is added (CORS adds one for preflights).
  await app.register(errorHandler);

  // The request chain, in order.
  await app.register(correlationId);
  await app.register(securityHeaders);
  await app.register(cors, { origins: config.corsOrigins });
  await app.register(requestLog);
  await app.register(gracefulClose);

  // Infrastructure, each plugin owning one dependency and its health check.
  await app.register(health, { config });
  await app.register(qdrant, { config });
  await app.register(redis, { config });
  await app.register(sseHub, { config });
  await app.register(postgres, {
    config,
    ...(overrides.startupBackoffMs !== undefined ? { startupBackoffMs: overrides.startupBackoffMs } : {}),
  });
  await app.register(vectorPurges);

  await app.register(telemetry);

  // The documentation collects every route added after it; its own pages are public.
  await app.register(docs, { version: APP_VERSION });

  // The per-route steps of the chain, in order: authentication → project access → rate
  // limiting. Each attaches its hook to the routes added after it that need it (onRoute),
  // after the global steps above (correlation ID, security headers, CORS).
  await app.register(auth, { config });
  await app.register(projectAccess);
  await app.register(rateLimit, { config });

  // Routes.
  await app.register(jwksRoutes);
  await app.register(healthRoutes, { prefix: '/api/v1', version: APP_VERSION });
  await app.register(authRoutes, { prefix: '/api/v1', devLogin: config.nodeEnv !== 'production' });
  await app.register(projectRoutes, { prefix: '/api/v1' });
  await app.register(documentRoutes, { prefix: '/api/v1' });
  await app.register(operationRoutes, { prefix: '/api/v1' });

  return app as unknown as App;
}
