/**
 * The security headers every API response carries, with their exact values (docs/contract.md §3,
 * docs/adr/0003-security-headers.md). Written out here, not imported from
 * src/plugins/http/security-headers.ts, so that a change there drifting from the contract is a
 * red test rather than a change the tests follow.
 */
export const SECURITY_HEADERS = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-xss-protection': '0',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
} as const;
