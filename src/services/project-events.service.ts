import type { Kysely } from 'kysely';
import type { ProjectScope } from '../access/project-scope.js';
import type { Database } from '../db/types.js';
import { ProjectEventsRepository } from '../repositories/project-events.repository.js';
import type { HistorySource } from '../streaming/event-stream.js';
import type { ProjectEvent } from '../streaming/project-events.js';

/** The project stream's history and current id (docs/contract.md §9, docs/adr/0022). */
export class ProjectEventsService {
  private readonly events: ProjectEventsRepository;

  constructor(db: Kysely<Database>) {
    this.events = new ProjectEventsRepository(db);
  }

  history(scope: ProjectScope): HistorySource<ProjectEvent> {
    return {
      bounds: () => this.events.bounds(scope),
      page: (afterId, limit) => this.events.page(scope, afterId, limit),
    };
  }

  /** `last_event_id` of each project body: the stream's current id (0 before the first event). */
  newestIds(projectIds: readonly string[]): Promise<Map<string, number>> {
    return this.events.newestIds(projectIds);
  }
}
