import type { FastifyRequest } from 'fastify';
import { hasRole } from '../access/project-scope.js';
import type { ProjectRole } from '../db/types.js';
import { ForbiddenError } from '../lib/errors.js';
import { scopeOf } from '../plugins/http/request-identity.js';
import type { StreamEvent } from './event-stream.js';
import type { EventBus } from './events.js';
import type { CloseReason } from './sse-connection.js';
import type { StreamLifetime } from './stream-lifetime.js';

/*
 * Contract §9: a stream ends when its caller's access ends — `revoked` for a removed member or
 * a deleted project (within 1 s, on every instance), `auth_expired` at the token's `exp`.
 * Services announce access changes on the event bus after COMMIT; each stream listens for
 * its own caller and project (docs/adr/0019).
 */

/** A project was deleted: every stream of it ends. */
export const projectAccessChannel = (projectId: string) => `access:${projectId}`;
/** A member's role changed or the member was removed: that member's streams read their membership again. */
export const memberAccessChannel = (projectId: string, userId: string) => `access:${projectId}:${userId}`;

/**
 * What goes over the bus: only that something changed, never the new state. A stream reads
 * the membership itself, so notices that arrive late, twice or out of order cannot leave a
 * stream open that should close (or close one that should stay).
 */
interface AccessNotice extends StreamEvent {
  readonly change: 'member' | 'project_deleted';
}

/** The bus orders nothing across instances; the id only lets it keep the newest unsent notice per channel. */
const notice = (change: AccessNotice['change']): AccessNotice => ({ id: Date.now(), change });

/** Announces access changes to the streams of every instance. Call after the change has committed. */
export class AccessNotices {
  constructor(private readonly bus: Pick<EventBus, 'publish'>) {}

  memberChanged(projectId: string, userId: string): Promise<void> {
    return this.bus.publish(memberAccessChannel(projectId, userId), notice('member'));
  }

  projectDeleted(projectId: string): Promise<void> {
    return this.bus.publish(projectAccessChannel(projectId), notice('project_deleted'));
  }
}

/** Who a stream serves and what it needs to keep serving them. */
export interface StreamCaller {
  readonly projectId: string;
  readonly userId: string;
  /** The role the stream's route requires. */
  readonly role: ProjectRole;
  /** The token's `exp` (ms since epoch); null when the token has none. */
  readonly expiresAt: number | null;
}

export function streamCallerOf(request: FastifyRequest): StreamCaller {
  const scope = scopeOf(request);
  return {
    projectId: scope.projectId,
    userId: scope.userId,
    role: request.routeOptions.config.projectRole ?? 'viewer',
    expiresAt: request.tokenExpiresAt,
  };
}

/** How access ended a stream: the notice to send (none when it cannot be decided) and the close reason. */
export interface AccessEnding {
  readonly reason: Extract<CloseReason, 'revoked' | 'auth_expired' | 'failed'>;
  readonly notice: { readonly event: 'revoked' | 'auth_expired'; readonly data: Record<string, string> } | null;
}

const revoked = (reason: 'member_removed' | 'project_deleted'): AccessEnding => ({
  reason: 'revoked',
  notice: { event: 'revoked', data: { reason } },
});

/** The caller's current role in the project; undefined when not a member or the project is deleted. */
export type RoleReader = (projectId: string, userId: string) => Promise<ProjectRole | undefined>;

/** Longest delay `setTimeout` takes (~24.8 days); a token may live longer (ACCESS_TOKEN_EXPIRE_MINUTES up to 30 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One stream's watch on its caller's access, started once the stream is open. */
export interface AccessWatch {
  /** From now on, `onEnd` is told (once) when access ends; at once if it already has. */
  start(onEnd: (ending: AccessEnding) => void): void;
}

export class StreamAccess {
  constructor(
    private readonly bus: Pick<EventBus, 'subscribe'>,
    private readonly readRole: RoleReader,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Listens for the caller's access notices, then reads the membership once more: a removal
   * that committed after the guard's read but before anyone here listened sent its notice to
   * nobody, and this read sees it instead (→ 403, the stream never opens). Everything it holds
   * is released when `lifetime` ends.
   */
  async watch(caller: StreamCaller, lifetime: StreamLifetime): Promise<AccessWatch> {
    let ending: AccessEnding | undefined;
    let onEnd: ((ending: AccessEnding) => void) | undefined;
    const finish = (end: AccessEnding) => {
      if (ending || lifetime.ended) return;
      ending = end;
      onEnd?.(end);
    };

    const reread = async () => {
      const role = await this.readRole(caller.projectId, caller.userId);
      if (role === undefined || !hasRole({ role }, caller.role)) finish(revoked('member_removed'));
    };
    // One read at a time; a notice during a read is answered by a read after it.
    let reading: Promise<void> = Promise.resolve();
    const onMemberNotice = () => {
      reading = reading.then(reread).catch(() => finish({ reason: 'failed', notice: null }));
    };

    const follow = (channel: string, listener: () => void) =>
      lifetime.bind<AccessNotice>({ subscribe: (l) => this.bus.subscribe(channel, l) }).subscribe(listener);
    await Promise.all([
      follow(projectAccessChannel(caller.projectId), () => finish(revoked('project_deleted'))),
      follow(memberAccessChannel(caller.projectId, caller.userId), onMemberNotice),
    ]);

    await reread();
    if (ending) throw new ForbiddenError(`Your access to project ${caller.projectId} has ended`);

    return {
      start: (listener) => {
        onEnd = listener;
        if (ending) {
          listener(ending);
          return;
        }
        if (caller.expiresAt !== null) this.expireAt(caller.expiresAt, lifetime, finish);
      },
    };
  }

  /** `auth_expired` at the token's `exp`: the client reconnects with a fresh token and resumes. */
  private expireAt(expiresAt: number, lifetime: StreamLifetime, finish: (end: AccessEnding) => void): void {
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      const left = expiresAt - this.clock();
      if (left <= 0) {
        finish({ reason: 'auth_expired', notice: { event: 'auth_expired', data: { expired_at: new Date(expiresAt).toISOString() } } });
        return;
      }
      timer = setTimeout(check, Math.min(left, MAX_TIMER_MS));
    };
    check();
    lifetime.hold(() => clearTimeout(timer));
  }
}
