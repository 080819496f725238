import { sql } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { HistoryBounds } from '../streaming/event-stream.js';
import type { ProjectEvent } from '../streaming/project-events.js';
import { PAGE_BYTES } from './operation-events.repository.js';
import { ScopedRepository } from './scoped.repository.js';

interface ProjectEventRow {
  id: number;
  type: string;
  json: string;
}

/**
 * The project stream's durable history (docs/adr/0022). Rows are written by the database
 * itself (`append_project_event`, from triggers); this repository only reads them.
 */
export class ProjectEventsRepository extends ScopedRepository {
  async bounds(scope: ProjectScope): Promise<HistoryBounds> {
    return this.boundsOf(scope.projectId);
  }

  /** Unscoped: the feed reads for projects whose streams were opened through the guard. */
  async boundsOf(projectId: string): Promise<HistoryBounds> {
    const { rows } = await sql<{ newest: number | null; oldest: number | null }>`
      SELECT (SELECT last_event_id FROM project_streams WHERE project_id = ${projectId}) AS newest,
             (SELECT min(seq) FROM project_events WHERE project_id = ${projectId}) AS oldest
    `.execute(this.db);
    return { oldestId: rows[0]?.oldest ?? null, newestId: rows[0]?.newest ?? 0 };
  }

  /** The stream's current id of each project (0 before its first event): `last_event_id` of the project body. */
  async newestIds(projectIds: readonly string[]): Promise<Map<string, number>> {
    const ids = new Map(projectIds.map((id) => [id, 0]));
    if (projectIds.length === 0) return ids;
    const rows = await this.db
      .selectFrom('projectStreams')
      .select(['projectId', 'lastEventId'])
      .where('projectId', 'in', projectIds)
      .execute();
    for (const row of rows) ids.set(row.projectId, row.lastEventId);
    return ids;
  }

  page(scope: ProjectScope, afterId: number, limit: number): Promise<ProjectEvent[]> {
    return this.pageOf(scope.projectId, afterId, limit);
  }

  /**
   * Retained events after `afterId`, in order: at most `limit`, and only those starting within
   * PAGE_BYTES of the first (always at least one), as for an operation's history (docs/adr/0016).
   */
  async pageOf(projectId: string, afterId: number, limit: number): Promise<ProjectEvent[]> {
    const { rows } = await sql<ProjectEventRow>`
      SELECT seq AS id, type, data::text AS json
      FROM project_events
      WHERE project_id = ${projectId} AND seq > ${afterId}
        AND end_offset - bytes < ${PAGE_BYTES} + (
          SELECT f.end_offset - f.bytes FROM project_events f
          WHERE f.project_id = ${projectId} AND f.seq > ${afterId} ORDER BY f.seq LIMIT 1
        )
      ORDER BY seq
      LIMIT ${limit}
    `.execute(this.db);
    return rows.map((row) => ({ id: row.id, type: row.type, dataJson: row.json }));
  }
}
