import { Type } from 'typebox';
import { Timestamp, Uuid } from '../shared-schemas.js';

export const UserPublic = Type.Object(
  { id: Uuid, email: Type.String(), name: Type.String(), created_at: Timestamp },
  { $id: 'UserPublic' },
);

export const DevLoginRequest = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 320 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { $id: 'DevLoginRequest', additionalProperties: false },
);

export const TokenResponse = Type.Object(
  { access_token: Type.String(), token_type: Type.Literal('bearer'), expires_in: Type.Integer() },
  { $id: 'TokenResponse' },
);

export const Jwks = Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }, { $id: 'Jwks' });
