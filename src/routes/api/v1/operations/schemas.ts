import { Type } from 'typebox';
import { EVENT_TYPE_PATTERN } from '../../../../streaming/sse-format.js';
import { Timestamp, Uuid } from '../shared-schemas.js';

const Status = Type.Union([
  Type.Literal('pending'),
  Type.Literal('running'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);

export const OperationCreate = Type.Object(
  {
    kind: Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,99}$', description: 'e.g. agent_run, export' }),
    input: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'OperationCreate', additionalProperties: false, examples: [{ kind: 'agent_run', input: { step: 1 } }] },
);

export const OperationPublic = Type.Object(
  {
    id: Uuid,
    project_id: Uuid,
    kind: Type.String(),
    status: Status,
    input: Type.Record(Type.String(), Type.Unknown()),
    error: Type.Union([Type.String(), Type.Null()]),
    created_by: Uuid,
    created_at: Timestamp,
    started_at: Type.Union([Timestamp, Type.Null()]),
    completed_at: Type.Union([Timestamp, Type.Null()]),
  },
  {
    $id: 'OperationPublic',
    description: 'An operation and its current status',
    examples: [
      {
        id: '0193a6f3-1d2e-7f30-9b4c-5d6e7f809102',
        project_id: '0193a6f2-0c1d-7e2f-8a3b-4c5d6e7f8091',
        kind: 'agent_run',
        status: 'pending',
        input: { step: 1 },
        error: null,
        created_by: '0193a6f1-6b2c-7d3e-9f40-1a2b3c4d5e6f',
        created_at: '2026-11-25T12:00:00.000Z',
        started_at: null,
        completed_at: null,
      },
    ],
  },
);

export const EventCreate = Type.Object(
  {
    type: Type.String({ pattern: EVENT_TYPE_PATTERN, description: 'The SSE event name, e.g. progress' }),
    data: Type.Optional(Type.Unknown()),
    status: Type.Optional(
      Type.Union([Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')], {
        description: 'completed, failed or cancelled end the operation and its streams',
      }),
    ),
    seq: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 2_147_483_647,
        description: 'The worker’s own number for this event (per operation): publishing a seq again stores nothing (200)',
      }),
    ),
  },
  { $id: 'EventCreate', additionalProperties: false, examples: [{ type: 'progress', data: { percent: 40 }, status: 'running' }] },
);

export const EventPublic = Type.Object(
  {
    id: Type.Integer({ description: 'Sequence number within the operation; the SSE id' }),
    operation_id: Uuid,
    type: Type.String(),
    data: Type.Unknown(),
    status: Type.Union([Status, Type.Null()]),
    created_at: Timestamp,
  },
  {
    $id: 'EventPublic',
    description: 'The stored event, as it is also sent on the stream',
    examples: [
      {
        id: 4,
        operation_id: '0193a6f3-1d2e-7f30-9b4c-5d6e7f809102',
        type: 'progress',
        data: { percent: 40 },
        status: 'running',
        created_at: '2026-11-25T12:00:05.000Z',
      },
    ],
  },
);

export const OperationParams = Type.Object({ project_id: Uuid, operation_id: Uuid });

export const StreamQuery = Type.Object({
  last_event_id: Type.Optional(Type.Integer({ minimum: 0 })),
  access_token: Type.Optional(Type.String({ description: 'For browser EventSource only; prefer the Authorization header' })),
});

export const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
});

/** The 200 of an event-stream route (operation and project streams): text/event-stream, with an example. */
export function eventStreamResponse(example: string) {
  return { description: 'The event stream (text/event-stream)', content: { 'text/event-stream': { schema: { type: 'string' }, example } } };
}

export const CancelBody = Type.Object({}, { $id: 'OperationCancel', additionalProperties: false });
