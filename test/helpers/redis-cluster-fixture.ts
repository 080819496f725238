import { beforeAll } from 'vitest';
import { closeWhenFileEnds, filledByBeforeAll } from './fixtures.js';
import { type RedisCluster, startRedisCluster } from './redis-cluster.js';

/*
 * The vitest fixture apart from the cluster itself (redis-cluster.ts), so that scripts outside the
 * test runner (the soak, scripts/soak/) can start a cluster too: importing vitest there throws.
 */

/** A cluster of the file's own, stopped when the file ends. Call it before the app fixture that uses it. */
export function useRedisCluster(options: { masters?: number; replicas?: boolean } = {}): RedisCluster {
  const state = filledByBeforeAll<RedisCluster>('useRedisCluster');
  beforeAll(async () => {
    const cluster = await startRedisCluster(options);
    closeWhenFileEnds(cluster.stop);
    state.set(cluster);
  }, 60_000);
  return state.value;
}
