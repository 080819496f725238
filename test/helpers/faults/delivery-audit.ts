import type { OperationRecord } from './steady-load.js';

export interface Undelivered {
  readonly operation: string;
  readonly id: number;
  readonly marker: string;
  readonly phase: string;
}

export interface DeliveryAudit {
  readonly operations: number;
  readonly acked: number;
  readonly ackedByPhase: Readonly<Record<string, number>>;
  /** Acknowledged (202) but never received by the operation's follower, across its reconnects. */
  readonly undelivered: Undelivered[];
  /** Acknowledged events received more than once (extra copies). */
  readonly duplicates: number;
  /** Acknowledged events received after one acknowledged later. */
  readonly outOfOrder: number;
  /** Refused with a contract error (the write did not happen), yet received by a follower. */
  readonly refusedButDelivered: number;
  /** Sent without an answer (reset, timeout) and received: in doubt, so allowed. */
  readonly inDoubtDelivered: number;
  /** `event: reset` notices received (a visible loss). */
  readonly resets: number;
  /** Ids that went backwards: in 202 answers of one operation, and in what followers received. */
  readonly ackedIdRegressions: number;
  readonly deliveredIdRegressions: number;
}

/**
 * Checks, per operation, that every event acknowledged with 202 is in what its follower
 * received, exactly once and in acknowledgement order (one writer per operation publishes
 * sequentially, so acknowledgement order is publication order).
 */
export function auditDelivery(operations: readonly OperationRecord[]): DeliveryAudit {
  const undelivered: Undelivered[] = [];
  let acked = 0;
  const ackedByPhase: Record<string, number> = {};
  let duplicates = 0;
  let outOfOrder = 0;
  let refusedButDelivered = 0;
  let inDoubtDelivered = 0;
  let resets = 0;
  let ackedIdRegressions = 0;
  let deliveredIdRegressions = 0;
  for (const op of operations) {
    acked += op.acked.length;
    resets += op.follower.resets;
    deliveredIdRegressions += op.follower.idRegressions;
    const seen = new Map<string, number>();
    for (const e of op.follower.delivered) if (e.marker !== null) seen.set(e.marker, (seen.get(e.marker) ?? 0) + 1);
    const ackIndex = new Map(op.acked.map((e, i) => [e.marker, i]));
    for (const e of op.acked) {
      ackedByPhase[e.phase] = (ackedByPhase[e.phase] ?? 0) + 1;
      const n = seen.get(e.marker) ?? 0;
      if (n === 0) undelivered.push({ operation: op.id, id: e.id, marker: e.marker, phase: e.phase });
      if (n > 1) duplicates += n - 1;
    }
    let highest = -1;
    for (const e of op.follower.delivered) {
      const i = e.marker === null ? undefined : ackIndex.get(e.marker);
      if (i === undefined) continue;
      if (i < highest) outOfOrder++;
      highest = Math.max(highest, i);
    }
    for (const e of op.refused) {
      if (!seen.has(e.marker)) continue;
      if (e.definite) refusedButDelivered++;
      else inDoubtDelivered++;
    }
    for (let i = 1; i < op.acked.length; i++) if ((op.acked[i]?.id ?? 0) <= (op.acked[i - 1]?.id ?? 0)) ackedIdRegressions++;
  }
  return {
    operations: operations.length,
    acked,
    ackedByPhase,
    undelivered,
    duplicates,
    outOfOrder,
    refusedButDelivered,
    inDoubtDelivered,
    resets,
    ackedIdRegressions,
    deliveredIdRegressions,
  };
}
