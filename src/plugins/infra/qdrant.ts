import { QdrantClient } from '@qdrant/js-client-rest';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { CollectionMismatchError, DISTANCE, describeQdrantError, VectorCollection } from '../../repositories/vector-collection.js';
import { VectorsRepository } from '../../repositories/vectors.repository.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The project+language scoped vector repository; null without QDRANT_URL (development, test). */
    vectors: VectorsRepository | null;
  }
}

/**
 * Per-request bound of every Qdrant call. A hung Qdrant then costs a request at most
 * (retries + 1) × this, further capped by the repository's maxRetryTime.
 */
export const QDRANT_TIMEOUT_MS = 3_000;

export interface QdrantClientSettings {
  readonly url: string;
  readonly apiKey?: string | undefined;
  readonly timeoutMs?: number;
}

export function createQdrantClient({ url, apiKey, timeoutMs = QDRANT_TIMEOUT_MS }: QdrantClientSettings): QdrantClient {
  return new QdrantClient({
    url,
    timeout: timeoutMs,
    // The key goes as a plain header: the client's own `apiKey` option prints a console warning
    // on http URLs (inside a cluster network that is normal) outside our JSON log.
    ...(apiKey !== undefined ? { headers: { 'api-key': apiKey } } : {}),
    // The version check is an unawaited request at construction that reports through
    // console.warn; the server version is logged by the bootstrap instead.
    checkCompatibility: false,
  });
}

/**
 * Qdrant (issue 7, REQ-004.3): one client per process, the collection bootstrapped at start,
 * a `qdrant` health component, and `app.vectors`. A Qdrant that is away at start does not stop
 * the service: it reports unhealthy and finishes the bootstrap in the background. A collection
 * of another shape does stop it.
 */
const qdrantPlugin: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  if (config.qdrantUrl === undefined) {
    // The health plugin's placeholder already reports `disabled`.
    app.decorate('vectors', null);
    return;
  }

  const client = createQdrantClient({ url: config.qdrantUrl, apiKey: config.qdrantApiKey });
  const log = app.log.child({ component: 'qdrant' });
  const collection = new VectorCollection(client, { name: config.qdrantCollection, vectorSize: config.qdrantVectorSize }, { log });
  const vectors = new VectorsRepository(collection, { log });

  try {
    await collection.ensureReady();
    const version = (await client.versionInfo().catch(() => undefined))?.version;
    // 1.15 is the oldest API the adapter is checked against (test/fixtures/vendor/qdrant-openapi-v1.15.json).
    const [major = 0, minor = 0] = (version ?? '').split('.').map(Number);
    if (version !== undefined && (major < 1 || (major === 1 && minor < 15)))
      log.warn({ qdrant_version: version }, 'qdrant older than 1.15');
    else log.info({ qdrant_version: version ?? 'unknown' }, 'qdrant connected');
  } catch (error) {
    if (error instanceof CollectionMismatchError) throw error;
    log.warn({ reason: describeQdrantError(error) }, 'qdrant unreachable at start; serving without it and retrying in the background');
    collection.retryInBackground();
  }

  app.decorate('vectors', vectors);

  app.health.register({
    name: 'qdrant',
    required: true,
    run: async () => {
      const details = {
        collection: config.qdrantCollection,
        vector_size: config.qdrantVectorSize,
        distance: DISTANCE,
        bootstrap: collection.isReady ? 'complete' : 'pending',
      };
      if (!collection.isReady) {
        collection.retryInBackground();
        return { status: 'unhealthy', details, error: collection.lastError };
      }
      let existence: { exists: boolean };
      try {
        [, existence] = await Promise.all([client.api().readyz({}), client.collectionExists(config.qdrantCollection)]);
      } catch (error) {
        return { status: 'unhealthy', details, error: describeQdrantError(error) };
      }
      if (!existence.exists) {
        collection.invalidate('collection missing');
        return {
          status: 'unhealthy',
          details: { ...details, bootstrap: 'pending' },
          error: `collection ${config.qdrantCollection} is missing`,
        };
      }
      return { status: 'healthy', details };
    },
  });

  // The client has no close(): its undici agent unrefs idle keep-alive sockets, so they never
  // hold the process; stopping our own timers is what shutdown needs.
  app.addHook('onClose', async () => {
    collection.close();
  });
};

export default fp(qdrantPlugin, { name: 'qdrant', fastify: '5.x', dependencies: ['health'] });
