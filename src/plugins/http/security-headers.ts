import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';

/**
 * SEC-001 headers on every response, errors, 404s and preflights included: the contract's
 * set (CONTRACT §3) with `@fastify/helmet`'s values, computed once here. Helmet composes them
 * on every response (−20 % throughput on this machine, bench/RESULTS.md `helmet`), and its
 * other headers (COOP, CORP, Origin-Agent-Cluster, X-DNS-Prefetch-Control, …) concern HTML
 * documents, not a JSON API: every header costs bytes and time on each response
 * (bench/RESULTS.md `anatomy`). See docs/adr/0003-security-headers.md.
 */
const COMMON: Readonly<Record<string, string>> = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // 0 disables the legacy XSS auditor, which itself enabled attacks (helmet's value).
  'x-xss-protection': '0',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

/** The API serves JSON only: nothing may be loaded, framed or scripted. */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...COMMON,
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
});

/** The documentation page needs its own scripts, styles and inline bootstrapping; only it gets this. */
export const DOCS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...COMMON,
  'content-security-policy':
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
});

export const DOCS_PREFIX = '/docs';

const securityHeaders: FastifyPluginCallback = (app, _opts, done) => {
  app.addHook('onRequest', (request, reply, next) => {
    const isDocs = request.url === DOCS_PREFIX || request.url.startsWith(`${DOCS_PREFIX}/`);
    reply.headers(isDocs ? DOCS_HEADERS : API_HEADERS);
    next();
  });
  done();
};

export default fp(securityHeaders, { name: 'security-headers', fastify: '5.x', dependencies: ['correlation-id'] });
