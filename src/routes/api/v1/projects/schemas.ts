import { Type } from 'typebox';
import { PaginationQuery, Role, Timestamp, Uuid } from '../shared-schemas.js';
import { ISO_639_1 } from './iso-639-1.js';

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
  { $id: 'ProjectUpdate', additionalProperties: false, minProperties: 1, examples: [{ status: 'active', current_step: 2 }] },
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
  {
    $id: 'ProjectPublic',
    description: "A project, with the caller's role in it",
    examples: [
      {
        id: '0193a6f2-0c1d-7e2f-8a3b-4c5d6e7f8091',
        name: 'Idea: a bike-sharing app',
        language: 'en',
        status: 'draft',
        current_step: 1,
        created_by: '0193a6f1-6b2c-7d3e-9f40-1a2b3c4d5e6f',
        created_at: '2026-11-25T12:00:00.000Z',
        updated_at: '2026-11-25T12:00:00.000Z',
        role: 'owner',
      },
    ],
  },
);

export const ProjectList = Type.Object(
  { items: Type.Array(ProjectPublic), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() },
  { $id: 'ProjectList', description: "A page of the caller's projects, newest first" },
);

export const ProjectListQuery = Type.Object({ ...PaginationQuery, status: Type.Optional(Status) }, { additionalProperties: false });

export const MemberPublic = Type.Object(
  { user_id: Uuid, email: Type.String(), name: Type.String(), role: Role, created_at: Timestamp },
  { $id: 'MemberPublic', description: 'A member of the project and their role' },
);

export const MemberList = Type.Object(
  { items: Type.Array(MemberPublic) },
  { $id: 'MemberList', description: 'Every member of the project' },
);

export const MemberUpdate = Type.Object(
  { role: Role },
  { $id: 'MemberUpdate', additionalProperties: false, examples: [{ role: 'editor' }] },
);

export const MemberParams = Type.Object({ project_id: Uuid, user_id: Uuid });
