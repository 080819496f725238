import { describe, expect, it } from 'vitest';
import { startApp } from '../../helpers/build-app.js';
import { createTestDatabase } from '../../helpers/database.js';

/** Every `• (<hook>) [...]` list printed for any route, de-duplicated. */
function hookLists(printed: string, hook: string): string[][] {
  const lists = new Set<string>();
  for (const match of printed.matchAll(new RegExp(`• \\(${hook}\\) (\\[.*\\])`, 'g'))) if (match[1]) lists.add(match[1]);
  return [...lists].map((list) => (JSON.parse(list) as string[]).map((name) => name.replace(/\(\)$/, '')));
}

async function printedRoutes(env: Record<string, string>): Promise<string> {
  const db = await createTestDatabase();
  const server = await startApp({ DATABASE_URL: db.url, ...env });
  return server.app.printRoutes({ includeHooks: true, commonPrefix: false });
}

/** The request chain of src/app.ts, in the order it must run (docs/adr/0014). */
const ON_REQUEST = [
  'correlationId',
  'securityHeaders',
  'refuseWhenClosing',
  'refuseForeignPreflight',
  'handleCors',
  'limitByIp',
  'authenticate',
];
const PRE_VALIDATION = ['requireProjectAccess', 'limitByUserAndProject', 'claimIdempotencyKey'];
const ON_SEND = ['closeConnectionWhenClosing', 'recordIdempotentResponse'];

describe('the request chain (src/app.ts)', () => {
  it('when every limit is on, runs on every route in the pinned order: IP limit before authentication, access before the user and project limits, idempotency last before validation', async () => {
    const printed = await printedRoutes({
      RATE_LIMIT_PER_MINUTE_IP: '100',
      RATE_LIMIT_PER_MINUTE_USER: '100',
      RATE_LIMIT_PER_MINUTE_PROJECT: '100',
    });
    expect(printed).toContain('/:project_id (GET');
    const onRequest = hookLists(printed, 'onRequest');
    const preValidation = hookLists(printed, 'preValidation');
    expect(onRequest.length).toBeGreaterThan(0);
    // A route may add its own hooks after the chain (dev-login's loopback check), never before or between.
    for (const list of onRequest) expect(list.slice(0, ON_REQUEST.length)).toEqual(ON_REQUEST);
    for (const list of preValidation) expect(list.slice(0, PRE_VALIDATION.length)).toEqual(PRE_VALIDATION);
    for (const list of hookLists(printed, 'onSend')) expect(list.slice(0, ON_SEND.length)).toEqual(ON_SEND);
    expect(hookLists(printed, 'onResponse')).toEqual([['logRequest']]);
  });

  it('when every limit is 0, the limiter is not installed at all (not merely installed with nothing to check)', async () => {
    const printed = await printedRoutes({});
    expect(printed).not.toContain('limitBy');
    for (const list of hookLists(printed, 'onRequest')) expect(list.slice(0, 6)).toEqual(ON_REQUEST.filter((s) => s !== 'limitByIp'));
    for (const list of hookLists(printed, 'preValidation'))
      expect(list.slice(0, 2)).toEqual(['requireProjectAccess', 'claimIdempotencyKey']);
  });

  it('when only the IP limit is on, installs that step alone', async () => {
    const printed = await printedRoutes({ RATE_LIMIT_PER_MINUTE_IP: '100' });
    expect(printed).toContain('limitByIp');
    expect(printed).not.toContain('limitByUserAndProject');
  });
});
