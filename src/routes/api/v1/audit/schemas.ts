import { Type } from 'typebox';
import { Timestamp, Uuid } from '../shared-schemas.js';

export const AuditQuery = Type.Object(
  {
    before: Type.Optional(Type.String({ format: 'uuid', description: 'A `next_before` value: entries older than that one' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  },
  { additionalProperties: false },
);

export const AuditEntryPublic = Type.Object(
  {
    id: Uuid,
    at: Timestamp,
    actor: Type.Object({
      user_id: Uuid,
      worker: Type.Union([Type.String(), Type.Null()], { description: 'The agent worker when an operation token wrote' }),
    }),
    action: Type.String({ examples: ['project.update'], description: '`<entity>.<verb>`' }),
    target: Type.Object({ type: Type.String({ examples: ['project'] }), id: Type.String() }),
    correlation_id: Type.Union([Type.String(), Type.Null()]),
    changes: Type.Record(Type.String(), Type.Unknown(), { description: 'The changed fields and their new values' }),
  },
  { $id: 'AuditEntryPublic' },
);

export const AuditPage = Type.Object(
  {
    items: Type.Array(AuditEntryPublic),
    next_before: Type.Union([Uuid, Type.Null()], { description: 'Pass as `before` for the next (older) page; null at the end' }),
  },
  { $id: 'AuditPage' },
);
