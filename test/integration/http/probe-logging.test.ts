import { describe, expect, it } from 'vitest';
import { useApp } from '../../helpers/app-fixture.js';
import type { RunningApp } from '../../helpers/build-app.js';
import { until } from '../../helpers/wait.js';

/*
 * docs/adr/0026: a probe route that answers 200 writes no request-completed line at info unless
 * LOG_HEALTH_PROBES=true; every other answer, of a probe or of any route, still does.
 */
const quiet = useApp();
const logged = useApp({ LOG_HEALTH_PROBES: 'true' });

const completed = (server: RunningApp, correlationId: string) =>
  server.logs.filter((l) => l.correlation_id === correlationId && l.msg === 'request completed');

/** Sends the requests, then waits for the line of a last request that is always logged, so the others had their chance. */
async function send(server: RunningApp, requests: ReadonlyArray<readonly [string, string, RequestInit?]>, tag: string): Promise<void> {
  for (const [path, id, init] of requests) {
    const res = await server.request(path, { ...init, headers: { ...(init?.headers as Record<string, string>), 'x-correlation-id': id } });
    await res.arrayBuffer();
  }
  await (await server.request('/api/v1/nope', { headers: { 'x-correlation-id': `${tag}-marker` } })).arrayBuffer();
  await until(() => completed(server, `${tag}-marker`).length === 1);
}

const BAD_JSON: RequestInit = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{bad' };

describe('request-completed lines of the probe routes', () => {
  it('when LOG_HEALTH_PROBES is unset, a 200 from /health/live or /health/ready writes no line, and a probe that fails still does', async () => {
    await send(
      quiet.server,
      [
        ['/api/v1/health/live', 'quiet-live'],
        ['/api/v1/health/ready', 'quiet-ready'],
        ['/api/v1/health/live', 'quiet-live-400', BAD_JSON],
        ['/api/v1/health', 'quiet-health'],
      ],
      'quiet',
    );
    expect(completed(quiet.server, 'quiet-live')).toEqual([]);
    expect(completed(quiet.server, 'quiet-ready')).toEqual([]);
    expect(completed(quiet.server, 'quiet-live-400')).toHaveLength(1);
    // The detailed health is not a probe: logged like any route.
    expect(completed(quiet.server, 'quiet-health')).toHaveLength(1);
  });

  it('when LOG_HEALTH_PROBES=true, every probe writes its line', async () => {
    await send(
      logged.server,
      [
        ['/api/v1/health/live', 'logged-live'],
        ['/api/v1/health/ready', 'logged-ready'],
      ],
      'logged',
    );
    expect(completed(logged.server, 'logged-live')).toMatchObject([{ method: 'GET', url: '/api/v1/health/live', status_code: 200 }]);
    expect(completed(logged.server, 'logged-ready')).toMatchObject([{ url: '/api/v1/health/ready', status_code: 200 }]);
  });
});
