import { Type } from 'typebox';
import { Timestamp, Uuid } from '../shared-schemas.js';

const Id = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9._:-]+$' });
const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength });

/** A structured question the agent asks; the user answers with one of its options or free text (§10). */
const Question = Type.Object(
  {
    id: Id,
    text: Text(2_000),
    options: Type.Array(Type.Object({ id: Id, text: Text(500) }, { additionalProperties: false }), { maxItems: 20 }),
  },
  { additionalProperties: false },
);

/** `question_id` and at least one of `option_id` and `text` (`minProperties` says "at least one more"). */
const Answer = Type.Object(
  { question_id: Id, option_id: Type.Optional(Id), text: Type.Optional(Text(10_000)) },
  { additionalProperties: false, minProperties: 2 },
);

export const MessageMetadata = Type.Object(
  {
    questions: Type.Optional(Type.Array(Question, { minItems: 1, maxItems: 50 })),
    answers: Type.Optional(Type.Array(Answer, { minItems: 1, maxItems: 50 })),
  },
  {
    $id: 'MessageMetadata',
    description: 'Free-form, except `questions` and `answers`, which are validated (ids unique within a message)',
    additionalProperties: true,
  },
);

export const MessageCreate = Type.Object(
  {
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('assistant')], { default: 'user' })),
    content: Type.Optional(Type.String({ minLength: 1, maxLength: 100_000, description: 'A user message' })),
    reply: Type.Optional(Type.Boolean({ description: 'A user message: also start an agent.reply operation (default true)' })),
    reply_to: Type.Optional(Uuid),
    status: Type.Optional(Type.Literal('streaming', { description: 'An assistant message opens streaming' })),
    metadata: Type.Optional(MessageMetadata),
  },
  {
    $id: 'MessageCreate',
    additionalProperties: false,
    description:
      'A user message `{"content","metadata"?,"reply"?}` (user token, editor) or an assistant message ' +
      '`{"role":"assistant","reply_to","status"?,"metadata"?}` (operation token only)',
    examples: [{ content: 'Summarise the specs, please' }, { role: 'assistant', reply_to: '0193a6f3-1d2e-7f30-9b4c-5d6e7f809102' }],
  },
);

export const MessagePublic = Type.Object(
  {
    id: Uuid,
    seq: Type.Integer({ minimum: 1, description: "The project's message order" }),
    role: Type.Union([Type.Literal('user'), Type.Literal('assistant')]),
    author: Type.Object({ user_id: Uuid, agent: Type.Union([Type.String(), Type.Null()]) }),
    content: Type.String({ description: 'The applied deltas joined in seq order (a user message: its text)' }),
    last_delta_seq: Type.Integer({
      minimum: 0,
      description: 'The last delta applied to `content`: after a reload, apply only `message.delta` events with a greater seq',
    }),
    status: Type.Union([Type.Literal('complete'), Type.Literal('streaming'), Type.Literal('failed')]),
    metadata: Type.Record(Type.String(), Type.Unknown()),
    reply_to: Type.Union([Uuid, Type.Null()]),
    operation_id: Type.Union([Uuid, Type.Null()]),
    created_at: Timestamp,
    completed_at: Type.Union([Timestamp, Type.Null()]),
  },
  { $id: 'MessagePublic', description: 'A message of the conversation' },
);

export const MessageCreated = Type.Object(
  {
    message: MessagePublic,
    operation: Type.Union([Type.Object({ id: Uuid, kind: Type.String(), status: Type.String() }), Type.Null()], {
      description: 'The agent.reply operation a user message started (null without reply, and for assistant messages)',
    }),
  },
  { $id: 'MessageCreated' },
);

export const MessageParams = Type.Object({ project_id: Uuid, message_id: Uuid });

export const MessageListQuery = Type.Object(
  {
    before: Type.Optional(Type.Integer({ minimum: 1, description: 'A `seq`: messages before it (`next_before` of the previous page)' })),
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  },
  { additionalProperties: false },
);

export const MessageList = Type.Object(
  { items: Type.Array(MessagePublic), next_before: Type.Union([Type.Integer(), Type.Null()]) },
  { $id: 'MessageList', description: 'Newest first; `next_before` is null on the last page' },
);

export const DeltaCreate = Type.Object(
  { seq: Type.Integer({ minimum: 1 }), text: Type.String({ minLength: 1, maxLength: 16_000 }) },
  { $id: 'DeltaCreate', additionalProperties: false },
);

export const DeltaPublic = Type.Object(
  {
    message_id: Uuid,
    seq: Type.Integer({ description: 'The delta asked for' }),
    last_seq: Type.Integer({ description: 'The last delta applied to the message' }),
    applied: Type.Boolean({ description: 'false when this seq had already been applied: nothing appended' }),
  },
  { $id: 'DeltaPublic' },
);

export const MessageFinish = Type.Object(
  { status: Type.Union([Type.Literal('complete'), Type.Literal('failed')]) },
  { $id: 'MessageFinish', additionalProperties: false },
);
