import type { ProjectRole } from '../db/types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** No authentication: health, docs, JWKS, dev-login. Declared on the route, checked in one place. */
    public?: boolean;
    /** Role needed on the route's `{project_id}` (viewer < editor < owner). */
    projectRole?: ProjectRole;
    /** The event-stream route accepts the token in an `access_token` query (browser EventSource). */
    allowQueryToken?: boolean;
    /** A worker route (docs/contract.md §8): worker credentials only; every other token → 403. */
    worker?: boolean;
    /**
     * An operation token may call this route for its own `:operation_id` only; there a lease that
     * is no longer current is a 409 (fencing) and the creator's role does not matter (§8).
     */
    ownOperation?: boolean;
    /** false: never rate limited (health, documentation). */
    rateLimit?: boolean;
  }
}
