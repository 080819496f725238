import type { Db } from './scoped.repository.js';

/**
 * The bytes of export archives, as ordered chunks per (export, attempt) (docs/adr/0023). Not
 * project-scoped: only the export service reaches it, with an export it has already loaded
 * through a scope or a verified download signature.
 */
export class ExportChunksRepository {
  constructor(private readonly db: Db) {}

  async insert(exportId: string, attempt: number, seq: number, data: Buffer): Promise<void> {
    await this.db.insertInto('exportChunks').values({ exportId, attempt, seq, data }).execute();
  }

  async read(exportId: string, attempt: number, seq: number): Promise<Buffer | undefined> {
    const row = await this.db
      .selectFrom('exportChunks')
      .select('data')
      .where('exportId', '=', exportId)
      .where('attempt', '=', attempt)
      .where('seq', '=', seq)
      .executeTakeFirst();
    return row?.data;
  }

  /** Removes the chunks of every attempt but `keepAttempt` (all of them when null). */
  async remove(exportId: string, keepAttempt: number | null): Promise<void> {
    let query = this.db.deleteFrom('exportChunks').where('exportId', '=', exportId);
    if (keepAttempt !== null) query = query.where('attempt', '<>', keepAttempt);
    await query.execute();
  }

  async discard(exportId: string, attempt: number): Promise<void> {
    await this.db.deleteFrom('exportChunks').where('exportId', '=', exportId).where('attempt', '=', attempt).execute();
  }
}
