import { Type } from 'typebox';
import { OperationPublic } from '../operations/schemas.js';
import { Timestamp, Uuid } from '../shared-schemas.js';

/** An operation kind, as `OperationCreate.kind` allows it. */
const Kind = Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,99}$' });

export const LeaseCreate = Type.Object(
  {
    kinds: Type.Array(Kind, { minItems: 1, maxItems: 20, uniqueItems: true, description: 'Operation kinds this worker takes (1–20)' }),
    wait_seconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 20, description: 'Long poll: wait this long for an operation (default 0)' }),
    ),
    lease_seconds: Type.Optional(
      Type.Integer({
        minimum: 10,
        maximum: 300,
        description: 'Lease length; heartbeats extend it by as much (default WORKER_LEASE_SECONDS)',
      }),
    ),
  },
  {
    $id: 'LeaseCreate',
    additionalProperties: false,
    examples: [{ kinds: ['agent.reply', 'draft.document'], wait_seconds: 20, lease_seconds: 30 }],
  },
);

export const LeasePublic = Type.Object(
  {
    lease: Type.Object({
      id: Uuid,
      expires_at: Timestamp,
      attempt: Type.Integer({ minimum: 1, description: '1 for the first lease of the operation' }),
    }),
    operation: Type.Object(OperationPublic.properties, { description: 'The operation (as in §5)' }),
    project: Type.Object({ id: Uuid, language: Type.String() }),
    token: Type.String({ description: 'The operation token: acts for the creator through this worker, while the lease is current' }),
  },
  { $id: 'LeasePublic', description: 'A leased operation and its operation token' },
);

export const LeaseParams = Type.Object({ lease_id: Uuid });

export const HeartbeatBody = Type.Object({}, { $id: 'LeaseHeartbeat', additionalProperties: false });

export const HeartbeatPublic = Type.Object(
  {
    expires_at: Timestamp,
    cancel_requested: Type.Boolean({ description: 'The operation was cancelled: end it with a `cancelled` status' }),
  },
  { $id: 'HeartbeatPublic' },
);
