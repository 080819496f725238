import type { FastifyBaseLogger } from 'fastify';

/**
 * A warning written at most once per interval per message key, so a dependency that is down
 * produces one line a minute instead of one per request (REL-001).
 */
export function throttledWarning(logger: FastifyBaseLogger, intervalMs = 60_000) {
  const last = new Map<string, number>();
  return (key: string, fields: Record<string, unknown>, msg: string): void => {
    const now = Date.now();
    if (now - (last.get(key) ?? Number.NEGATIVE_INFINITY) < intervalMs) return;
    last.set(key, now);
    logger.warn(fields, msg);
  };
}
