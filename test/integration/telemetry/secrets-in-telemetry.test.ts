import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import type { ReceivedSpan } from '../../helpers/otlp-receiver.js';
import { openStream } from '../../helpers/sse-client.js';
import { createProjectOperation, useTracedServer } from '../../helpers/traced-server.js';
import { until } from '../../helpers/wait.js';

/*
 * docs/contract.md §6: tokens (`access_token`, percent-encoded or not) and event payloads never appear
 * in logs or span attributes (issue 14, item 4). The real entry point with the telemetry
 * preload exports to a test receiver; everything it receives and every line the process
 * writes is searched for the token and the payload in every form they could take.
 */
const traced = useTracedServer(() => ({ REDIS_URL: inject('redisUrl') }), { email: 'leak@example.com' });

/** Every span the receiver got, as one text: name, attributes, status, events. */
const exported = () => JSON.stringify(traced.receiver.spans);

/** The forms a token can take in a URL or a line: as is, percent-encoded, every byte encoded, and its signature alone. */
function formsOf(secret: string): string[] {
  const everyByte = [...Buffer.from(secret)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  return [...new Set([secret, encodeURIComponent(secret), everyByte, secret.split('.').at(-1) ?? secret])];
}

function traceparent(): { header: string; traceId: string } {
  const traceId = randomBytes(16).toString('hex');
  return { header: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, traceId };
}

const spansOf = (traceId: string): ReceivedSpan[] => traced.receiver.spans.filter((s) => s.traceId === traceId);

describe('secrets and payloads in telemetry and logs (docs/contract.md §6)', () => {
  it('when streams take the token in ?access_token= and ?access%5Ftoken= and an event carries a payload, no span and no log line holds the token or the payload in any form', async () => {
    const auth = { authorization: `Bearer ${traced.token}`, 'content-type': 'application/json' };
    const payload = `PAYLOAD-${randomUUID()}`;
    const { project, op } = await createProjectOperation(traced, 'Leaks');
    const eventsPath = `/api/v1/projects/${project.id}/operations/${op.id}/events`;

    // An event whose payload must reach the stream and nothing else (the Redis script's arguments).
    const published = await fetch(`${traced.base}${eventsPath}`, {
      method: 'POST',
      headers: { ...auth, 'x-correlation-id': 'leak-publish' },
      body: JSON.stringify({ type: 'progress', data: { note: payload } }),
    });
    expect(published.status).toBe(202);

    // Browser streams: the token in the query, its name percent-encoded or not (both accepted).
    const streamTraces: string[] = [];
    for (const query of [`access%5Ftoken=${traced.token}`, `access_token=${encodeURIComponent(traced.token)}`]) {
      const tp = traceparent();
      streamTraces.push(tp.traceId);
      const stream = await openStream(`${traced.base}${eventsPath}?${query}`, { traceparent: tp.header });
      expect(stream.status).toBe(200);
      await stream.waitFor((events) => events.some((e) => e.data.includes(payload)));
      stream.close();
    }
    // The same route refusing before it streams (unknown operation): its server span ends and is exported.
    const unknownPath = `/api/v1/projects/${project.id}/operations/${randomUUID()}/events`;
    const refused = await fetch(`${traced.base}${unknownPath}?access_token=${traced.token}`, {
      headers: { 'x-correlation-id': 'leak-404' },
    });
    expect(refused.status).toBe(404);
    // Any route, with a query the client should not have sent: its URL must not carry it either.
    const me = await fetch(`${traced.base}/api/v1/auth/me?access%5Ftoken=${traced.token}`, {
      headers: { ...auth, 'x-correlation-id': 'leak-me' },
    });
    expect(me.status).toBe(200);

    await until(
      () =>
        traced.server
          .stdout()
          .split('\n')
          .filter((l) => l.includes('event stream closed')).length >= 2,
      10_000,
    );
    // Spans are exported in the order they end: once a request made after all the others has
    // arrived, so has every span that ended before it (the publish with its Redis commands, the
    // refused and plain requests, the streams' queries; a stream's own server span ends with the
    // stream, see docs/adr/0017-no-leaks-no-races.md).
    await fetch(`${traced.base}/api/v1/health/live`, { headers: { 'x-correlation-id': 'leak-marker' } });
    const root = (id: string) => traced.receiver.spans.find((s) => s.attributes.correlation_id === id);
    await until(() => root('leak-marker') !== undefined, 20_000);
    for (const id of ['leak-publish', 'leak-404', 'leak-me']) expect(root(id), id).toBeDefined();
    for (const t of streamTraces) expect(spansOf(t).length, 'spans of a stream request').toBeGreaterThan(0);

    // What spans keep: the path without its query, the Redis command without its arguments.
    expect(root('leak-404')?.attributes['url.path']).toBe(unknownPath);
    expect(root('leak-me')?.attributes['url.path']).toBe('/api/v1/auth/me');
    const redis = traced.receiver.spans.filter((s) => s.scope.includes('ioredis'));
    for (const span of redis) expect(String(span.attributes['db.query.text'] ?? span.attributes['db.statement'])).toMatch(/^[a-z]+$/i);

    const spans = exported();
    const logs = traced.server.stdout();
    expect(logs).toContain('leak-me'); // the lines searched below are there
    for (const form of [...formsOf(traced.token), payload]) {
      expect(spans.includes(form), `span text holds ${form.slice(0, 24)}…`).toBe(false);
      expect(logs.includes(form), `log text holds ${form.slice(0, 24)}…`).toBe(false);
    }
    expect(spans).not.toMatch(/access(_|%5F)token/i);
    expect(logs).not.toMatch(/access(_|%5F)token=/i);
  }, 60_000);

  it('when a request brings an attribute value longer than the limit, the exported value is cut at 2,048 characters', async () => {
    const res = await fetch(`${traced.base}/api/v1/${'x'.repeat(6_000)}`, { headers: { 'x-correlation-id': 'long-path' } });
    expect(res.status).toBe(404);
    await until(() => traced.receiver.spans.some((s) => s.attributes.correlation_id === 'long-path'), 20_000);
    const span = traced.receiver.spans.find((s) => s.attributes.correlation_id === 'long-path');
    expect(String(span?.attributes['url.path'])).toHaveLength(2_048);
  });
});
