import { Type } from 'typebox';
import { Timestamp, Uuid } from '../shared-schemas.js';

export const UserPublic = Type.Object(
  { id: Uuid, email: Type.String(), name: Type.String(), created_at: Timestamp },
  {
    $id: 'UserPublic',
    description: 'The authenticated user',
    examples: [
      { id: '0193a6f1-6b2c-7d3e-9f40-1a2b3c4d5e6f', email: 'ada@example.com', name: 'Ada', created_at: '2026-11-25T12:00:00.000Z' },
    ],
  },
);

export const DevLoginRequest = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 320 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { $id: 'DevLoginRequest', additionalProperties: false, examples: [{ email: 'ada@example.com', name: 'Ada' }] },
);

export const TokenResponse = Type.Object(
  { access_token: Type.String(), token_type: Type.Literal('bearer'), expires_in: Type.Integer() },
  {
    $id: 'TokenResponse',
    description: 'A signed access token (RS256) for `Authorization: Bearer`',
    examples: [
      { access_token: 'eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl', token_type: 'bearer', expires_in: 1800 },
    ],
  },
);

export const Jwks = Type.Object(
  { keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) },
  { $id: 'Jwks', description: 'The public key(s) that verify access tokens, as a JSON Web Key Set' },
);
