import type { Operation } from '../../../../db/types.js';

/** The §5 operation body (OperationPublic), shared by the operation and worker routes. */
export function toPublic(o: Operation) {
  return {
    id: o.id,
    project_id: o.projectId,
    kind: o.kind,
    status: o.status,
    input: o.input,
    error: o.error,
    created_by: o.createdBy,
    created_at: o.createdAt.toISOString(),
    started_at: o.startedAt?.toISOString() ?? null,
    completed_at: o.completedAt?.toISOString() ?? null,
  };
}
