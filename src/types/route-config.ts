import type { ProjectRole } from '../db/types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** No authentication: health, docs, JWKS, dev-login. Declared on the route, checked in one place. */
    public?: boolean;
    /** Role needed on the route's `{project_id}` (viewer < editor < owner). */
    projectRole?: ProjectRole;
    /** The event-stream route accepts the token in an `access_token` query (browser EventSource). */
    allowQueryToken?: boolean;
    /** false: never rate limited (health, documentation). */
    rateLimit?: boolean;
  }
}
