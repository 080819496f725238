import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it } from 'vitest';
import type { OperationEvent } from '../../../src/streaming/events.js';
import {
  EVENT_TYPE_PATTERN,
  eventFrame,
  KEEPALIVE_FRAME,
  noticeFrame,
  retryFrame,
  sharedFrames,
} from '../../../src/streaming/sse-format.js';

function parse(text: string): { events: EventSourceMessage[]; comments: string[]; retries: number[] } {
  const events: EventSourceMessage[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e), onComment: (c) => comments.push(c), onRetry: (r) => retries.push(r) });
  parser.feed(text);
  return { events, comments, retries };
}

const event: OperationEvent = {
  id: 7,
  operation_id: '01a21596-0000-7000-8000-000000000000',
  type: 'progress',
  data: { text: 'line one\nline two\r\n', emoji: '✓' },
  status: 'running',
  created_at: '2026-11-26T00:00:00.000Z',
};

describe('SSE framing', () => {
  it('frames an event as id, event and one data line of JSON, even when the data holds newlines', () => {
    const frame = eventFrame(event);
    expect(frame.split('\n').filter((l) => l.startsWith('data:'))).toHaveLength(1);
    const { events } = parse(frame);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: '7', event: 'progress' });
    expect(JSON.parse(events[0]?.data ?? '')).toEqual(event);
  });

  it('frames a notice without an id, so the client keeps its Last-Event-ID', () => {
    const { events } = parse(noticeFrame('reset', { oldest_id: '6' }));
    expect(events[0]).toEqual({ event: 'reset', id: undefined, data: '{"oldest_id":"6"}' });
  });

  it('frames keepalive as a comment and the retry hint as a retry field', () => {
    const { events, comments, retries } = parse(KEEPALIVE_FRAME + retryFrame(2000));
    expect(events).toEqual([]);
    expect(comments.map((c) => c.trim())).toEqual(['keepalive']);
    expect(retries).toEqual([2000]);
  });

  it('accepts only single-token event types', () => {
    const re = new RegExp(EVENT_TYPE_PATTERN);
    expect(re.test('agent.step:done')).toBe(true);
    expect(re.test('two words')).toBe(false);
    expect(re.test('a\nb')).toBe(false);
    expect(re.test('')).toBe(false);
  });
});

describe('sharedFrames (docs/adr/0025)', () => {
  it('makes one frame per event, as the bytes of the plain frame, whatever the number of streams asking', () => {
    let made = 0;
    const frame = sharedFrames((e: OperationEvent) => {
      made++;
      return eventFrame(e);
    });
    const first = frame(event);
    for (let i = 0; i < 100; i++) expect(frame(event)).toBe(first);
    expect(made).toBe(1);
    expect(first.toString('utf8')).toBe(eventFrame(event));
    const other = { ...event, id: 8 };
    expect(frame(other).toString('utf8')).toBe(eventFrame(other));
    expect(made).toBe(2);
  });
});
