import { Type } from 'typebox';
import { ISO_639_1 } from '../../../../lib/iso-639-1.js';
import { PaginationQuery, Role, Timestamp, Uuid } from '../shared-schemas.js';

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Status = Type.Union([Type.Literal('draft'), Type.Literal('active'), Type.Literal('completed'), Type.Literal('archived')]);
const Language = Type.String({ enum: [...ISO_639_1], description: 'ISO 639-1 code; fixed at creation' });

export const ProjectCreate = Type.Object(
  { name: Name, language: Type.Optional(Language) },
  { $id: 'ProjectCreate', additionalProperties: false, examples: [{ name: 'Idea: a bike-sharing app', language: 'en' }] },
);

export const ProjectUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    status: Type.Optional(Status),
    current_step: Type.Optional(Type.Integer({ minimum: 1, maximum: 4 })),
  },
  { $id: 'ProjectUpdate', additionalProperties: false, minProperties: 1 },
);

export const ProjectPublic = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    language: Type.String(),
    status: Status,
    current_step: Type.Integer(),
    created_by: Uuid,
    created_at: Timestamp,
    updated_at: Timestamp,
    role: Role,
  },
  { $id: 'ProjectPublic' },
);

export const ProjectList = Type.Object(
  { items: Type.Array(ProjectPublic), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() },
  { $id: 'ProjectList' },
);

export const ProjectListQuery = Type.Object({ ...PaginationQuery, status: Type.Optional(Status) }, { additionalProperties: false });

export const MemberPublic = Type.Object(
  { user_id: Uuid, email: Type.String(), name: Type.String(), role: Role, created_at: Timestamp },
  { $id: 'MemberPublic' },
);

export const MemberList = Type.Object({ items: Type.Array(MemberPublic) }, { $id: 'MemberList' });

export const MemberUpdate = Type.Object({ role: Role }, { $id: 'MemberUpdate', additionalProperties: false });

export const MemberParams = Type.Object({ project_id: Uuid, user_id: Uuid });
