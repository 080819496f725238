import type { User } from '../db/types.js';

/**
 * Who is calling, as the authentication step established it (docs/adr/0020):
 * - `user`: a person's access token;
 * - `worker`: a worker credential (`sub` = `worker:<name>`, `scope` = `worker`), good on the worker
 *   routes only;
 * - `operation`: an operation token, acting for the operation's creator (`user`) through a worker,
 *   in one project, only while its lease is current — the project-access guard checks that lease
 *   and the creator's current role on every request (src/access/project-access.ts).
 */
export type Caller =
  | { readonly kind: 'user'; readonly user: User; readonly expiresAt: number }
  | { readonly kind: 'worker'; readonly worker: string; readonly expiresAt: number }
  | {
      readonly kind: 'operation';
      readonly user: User;
      readonly worker: string;
      readonly leaseId: string;
      readonly projectId: string;
      readonly operationId: string;
      readonly expiresAt: number;
    };

export type OperationCaller = Extract<Caller, { kind: 'operation' }>;

/** The user a caller acts for: the token's user, or the creator an operation token acts for. */
export function userOfCaller(caller: Caller): User | null {
  return caller.kind === 'worker' ? null : caller.user;
}
