import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { ExportChunksRepository } from '../repositories/export-chunks.repository.js';

/**
 * Where archive bytes live (docs/adr/0023). Every attempt writes its own copy, so a builder that
 * lost its lease cannot spoil the retry's bytes; the attempt that completes keeps its copy only.
 * Another store (an S3-compatible bucket: one object per export and attempt) fits behind this.
 */
export interface ExportStorage {
  /** Stores the stream as the bytes of (export, attempt); resolves with their size and sha256. */
  write(exportId: string, attempt: number, bytes: AsyncIterable<Buffer>): Promise<{ bytes: number; sha256: string }>;
  /** The stored bytes (`bytes` of them), streamed: never all in memory. */
  read(exportId: string, attempt: number, bytes: number): Readable;
  /** Removes every attempt's bytes except `keepAttempt` (every one when null). */
  remove(exportId: string, keepAttempt: number | null): Promise<void>;
  /** Removes one attempt's bytes (a builder that lost its lease). */
  discard(exportId: string, attempt: number): Promise<void>;
}

/** Chunk size in PostgreSQL: big enough for few round trips, small enough to bound memory per reader. */
export const CHUNK_BYTES = 256 * 1024;

/** Archive bytes in PostgreSQL (`export_chunks`), written and read one chunk at a time. */
export class PostgresExportStorage implements ExportStorage {
  private readonly chunks: ExportChunksRepository;

  constructor(db: Kysely<Database>) {
    this.chunks = new ExportChunksRepository(db);
  }

  async write(exportId: string, attempt: number, input: AsyncIterable<Buffer>): Promise<{ bytes: number; sha256: string }> {
    const hash = createHash('sha256');
    let bytes = 0;
    let seq = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      await this.chunks.insert(exportId, attempt, seq++, Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of input) {
      hash.update(chunk);
      bytes += chunk.length;
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= CHUNK_BYTES) await flush();
    }
    await flush();
    return { bytes, sha256: hash.digest('hex') };
  }

  read(exportId: string, attempt: number, bytes: number): Readable {
    const chunks = this.chunks;
    return Readable.from(
      (async function* () {
        // Stops at the known size rather than at a missing chunk: no query after the last byte,
        // so the response ends as soon as the client has everything.
        for (let seq = 0, sent = 0; sent < bytes; seq++) {
          const data = await chunks.read(exportId, attempt, seq);
          if (data === undefined) throw new Error(`export ${exportId}: chunk ${seq} missing after ${sent} of ${bytes} bytes`);
          sent += data.length;
          yield data;
        }
      })(),
      { objectMode: false },
    );
  }

  remove(exportId: string, keepAttempt: number | null): Promise<void> {
    return this.chunks.remove(exportId, keepAttempt);
  }

  discard(exportId: string, attempt: number): Promise<void> {
    return this.chunks.discard(exportId, attempt);
  }
}
