import type { onRequestHookHandler } from 'fastify';
import { isDocsUrl } from './route-policy.js';

/**
 * SEC-001 headers on every response, errors, 404s and preflights included: the contract's
 * set (docs/contract.md §3) with `@fastify/helmet`'s values, computed once here. Helmet composes them
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

/** A header set as two arrays, read by index: `reply.headers(object)` lists the object's keys on every call. */
interface HeaderBlock {
  readonly names: readonly string[];
  readonly values: readonly string[];
}

function blockOf(headers: Readonly<Record<string, string>>): HeaderBlock {
  return { names: Object.keys(headers), values: Object.values(headers) };
}

const API_BLOCK = blockOf(API_HEADERS);
const DOCS_BLOCK = blockOf(DOCS_HEADERS);

/** SEC-001 headers on every response (onRequest, so errors, 404s and preflights carry them too). */
export function securityHeaders(): onRequestHookHandler {
  return function securityHeaders(request, reply, next) {
    const { names, values } = isDocsUrl(request.url) ? DOCS_BLOCK : API_BLOCK;
    for (let i = 0; i < names.length; i++) reply.header(names[i] as string, values[i]);
    next();
  };
}
