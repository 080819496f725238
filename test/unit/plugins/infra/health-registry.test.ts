import { describe, expect, it } from 'vitest';
import { HealthRegistry } from '../../../../src/plugins/infra/health-registry.js';

describe('HealthRegistry', () => {
  it('runs checks concurrently and bounds each by the timeout, so a hung dependency answers in ~timeout', async () => {
    const registry = new HealthRegistry(100);
    registry.register({ name: 'postgres', required: true, run: async () => ({ status: 'healthy' }) });
    registry.register({ name: 'redis', required: true, run: () => new Promise(() => undefined) });
    registry.register({ name: 'qdrant', required: true, run: () => new Promise(() => undefined) });
    const t0 = performance.now();
    const reports = await registry.runAll();
    const took = performance.now() - t0;
    // Bounded by one timeout, not the sum of them (generous margin on a noisy VM).
    expect(took).toBeLessThan(900);
    expect(reports.find((r) => r.name === 'redis')).toMatchObject({ status: 'unhealthy', error: 'check timed out after 100 ms' });
    expect(registry.isReady(reports)).toBe(false);
  });

  it('is ready when only optional components fail, and reports a thrown error', async () => {
    const registry = new HealthRegistry(100);
    registry.register({ name: 'postgres', required: true, run: async () => ({ status: 'healthy' }) });
    registry.register({ name: 'telemetry', required: false, run: async () => Promise.reject(new Error('collector down')) });
    const reports = await registry.runAll();
    expect(reports.find((r) => r.name === 'telemetry')).toMatchObject({ status: 'unhealthy', error: 'collector down' });
    expect(registry.isReady(reports)).toBe(true);
  });
});
