import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from '../../helpers/build-app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.js';
import { createUser, type TestUser } from '../../helpers/factories.js';
import type { LogLine } from '../../helpers/log-capture.js';
import { until } from '../../helpers/wait.js';

/*
 * docs/contract.md §6 / issue 12 item 6: every log line of a request carries trace_id and span_id
 * even when nothing is exported (this app runs without the telemetry preload, so no span is
 * ever active). With tracing on, the ids are the active span's: test/integration/telemetry/.
 */
let db: TestDatabase;
let server: RunningApp;
let user: TestUser;

beforeAll(async () => {
  db = await createTestDatabase();
  // debug: a request also writes one line per SQL query, so it has several lines to compare.
  server = await startApp({ DATABASE_URL: db.url }, { logLevel: 'debug' });
  user = await createUser(server);
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** The lines of one request (by correlation id), once its request-completed line is written. */
async function linesOf(correlationId: string, headers: Record<string, string> = {}): Promise<LogLine[]> {
  const res = await server.request('/api/v1/projects', { headers: { ...user.auth, 'x-correlation-id': correlationId, ...headers } });
  expect(res.status).toBe(200);
  await until(() => server.logs.some((l) => l.correlation_id === correlationId && l.msg === 'request completed'));
  const lines = server.logs.filter((l) => l.correlation_id === correlationId);
  // The list reads the database: its query lines and the request-completed line at least.
  expect(lines.length).toBeGreaterThan(1);
  return lines;
}

function onePair(lines: LogLine[]): { trace_id: string; span_id: string } {
  const pairs = new Set(lines.map((l) => `${String(l.trace_id)}/${String(l.span_id)}`));
  expect(pairs.size).toBe(1);
  const [trace_id, span_id] = [...pairs][0]?.split('/') ?? [];
  return { trace_id: trace_id ?? '', span_id: span_id ?? '' };
}

describe('trace ids in logs without telemetry (docs/contract.md §6)', () => {
  it('when the request carries a valid traceparent, each of its lines has that trace_id and one span id of its own', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const lines = await linesOf('tp-valid-1', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const ids = onePair(lines);
    expect(ids.trace_id).toBe(traceId);
    expect(ids.span_id).toMatch(SPAN_ID);
    // Ours is a child of the caller's span, as the server span would be with tracing on.
    expect(ids.span_id).not.toBe('00f067aa0ba902b7');
  });

  it('when there is no traceparent, the lines carry fresh valid ids: the same within a request, different across requests', async () => {
    const first = onePair(await linesOf('tp-none-1'));
    const second = onePair(await linesOf('tp-none-2'));
    for (const ids of [first, second]) {
      expect(ids.trace_id).toMatch(TRACE_ID);
      expect(ids.trace_id).not.toBe('0'.repeat(32));
      expect(ids.span_id).toMatch(SPAN_ID);
      expect(ids.span_id).not.toBe('0'.repeat(16));
    }
    expect(second.trace_id).not.toBe(first.trace_id);
    expect(second.span_id).not.toBe(first.span_id);
  });

  it.each([
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'],
    ['junk', 'not-a-traceparent'],
  ])('when the traceparent is invalid (%s), it is ignored: a fresh trace id, nothing echoed', async (name, traceparent) => {
    const ids = onePair(await linesOf(`tp-bad-${name.replace(/\W+/g, '-')}`, { traceparent }));
    expect(ids.trace_id).toMatch(TRACE_ID);
    expect(ids.trace_id).not.toBe('0'.repeat(32));
    expect(ids.trace_id).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(ids.span_id).toMatch(SPAN_ID);
  });
});
