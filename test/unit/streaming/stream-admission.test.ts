import { describe, expect, it } from 'vitest';
import { StreamAdmission, StreamCapReachedError } from '../../../src/streaming/stream-admission.js';
import { StreamLifetime } from '../../../src/streaming/stream-lifetime.js';

/** A client socket the test closes by hand. */
function socket() {
  const listeners = new Set<() => void>();
  return {
    destroyed: false,
    once: (_: 'close', l: () => void) => listeners.add(l),
    off: (_: 'close', l: () => void) => listeners.delete(l),
    close: () => {
      for (const l of [...listeners]) l();
    },
  };
}

describe('StreamAdmission', () => {
  it('when the cap is held, refuses the next stream with a 503 naming event_streams and a Retry-After in [base, 2 × base]', () => {
    const seen: Array<[number, number]> = [];
    const admission = new StreamAdmission({
      maxStreams: 2,
      retryMs: 2000,
      retryAfterSeconds: 5,
      between: (min, max) => {
        seen.push([min, max]);
        return max;
      },
    });
    admission.admit(new StreamLifetime(socket()));
    admission.admit(new StreamLifetime(socket()));
    let refused: unknown;
    try {
      admission.admit(new StreamLifetime(socket()));
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(StreamCapReachedError);
    const error = refused as StreamCapReachedError;
    expect([error.statusCode, error.code, error.details, error.headers]).toEqual([
      503,
      'service_unavailable',
      { service: 'event_streams', max_streams: 2 },
      { 'retry-after': '10' },
    ]);
    expect(seen).toEqual([[5, 10]]);
    expect(admission.size).toBe(2);
  });

  it('when an admitted stream ends, its slot is free again (and only once)', () => {
    const admission = new StreamAdmission({ maxStreams: 1, retryMs: 2000, retryAfterSeconds: 5 });
    const first = socket();
    const lifetime = new StreamLifetime(first);
    admission.admit(lifetime);
    expect(() => admission.admit(new StreamLifetime(socket()))).toThrow(StreamCapReachedError);
    first.close();
    lifetime.end();
    expect(admission.size).toBe(0);
    admission.admit(new StreamLifetime(socket()));
    expect(admission.size).toBe(1);
  });

  it('when the cap is 0, admits without limit', () => {
    const admission = new StreamAdmission({ maxStreams: 0, retryMs: 2000, retryAfterSeconds: 5 });
    for (let i = 0; i < 1000; i++) admission.admit(new StreamLifetime(socket()));
    expect(admission.size).toBe(1000);
  });

  it('the retry hint is drawn over [½, 1½] of SSE_RETRY_MS, and spreads', () => {
    const admission = new StreamAdmission({ maxStreams: 0, retryMs: 2000, retryAfterSeconds: 5 });
    const hints = Array.from({ length: 2000 }, () => admission.retryMs());
    expect(Math.min(...hints)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...hints)).toBeLessThanOrEqual(3000);
    // Spread, not a constant: each fifth of the range gets a fair share of 2,000 draws.
    const bins = [0, 0, 0, 0, 0];
    for (const h of hints) {
      const bin = Math.min(4, Math.floor((h - 1000) / 400));
      bins[bin] = (bins[bin] ?? 0) + 1;
    }
    for (const n of bins) expect(n).toBeGreaterThan(250);
  });
});
