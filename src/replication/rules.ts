// The replication protocol's decisions as pure functions (STYLE §1): no clock, no I/O.
// The drivers (engine.ts, replicator.ts, src/master/ha-member.ts) call them with what they
// observed, and the seeded simulation (test/sim) calls the very same functions, so what the
// simulation checks is what the product does.

import type { ErrorCode } from '../errors.js';

/**
 * The commit point of an active: a record is committed once it is durable here and on every
 * in-sync standby. `inSync` excludes the active itself; an empty set commits on local
 * durability alone.
 */
export function commitPoint(localDurableTxid: number, inSync: Iterable<string>, durableOf: (member: string) => number): number {
  let limit = localDurableTxid;
  for (const member of inSync) {
    const durable = durableOf(member);
    if (durable < limit) limit = durable;
  }
  return limit;
}

/**
 * Whether the active may answer reads now: every in-sync standby acknowledged a message the
 * active sent less than `leaseMs` ago (`lastAckedSentAt`, in the active's own clock). A
 * standby taking over waits `leaseMs` after the last message it had from the old active, so
 * both never answer at once.
 */
export function leaseHolds(now: number, inSync: Iterable<string>, lastAckedSentAt: (member: string) => number, leaseMs: number): boolean {
  for (const member of inSync) {
    if (now - lastAckedSentAt(member) >= leaseMs) return false;
  }
  return true;
}

/** What a standby says to records streamed by the active of `streamEpoch`. */
export type AppendVerdict = { ok: true } | { ok: false; code: Extract<ErrorCode, 'STALE_EPOCH' | 'LOG_DIVERGED'>; message: string };

/**
 * A standby takes a batch only from an epoch at least the one it promised, only if the first
 * record follows its last one, and only records no newer than the stream's epoch and no
 * older than its own last record's.
 */
export function checkAppend(
  standby: { promisedEpoch: number; lastTxid: number; lastEpoch: number },
  streamEpoch: number,
  first: { txid: number; epoch: number } | undefined,
): AppendVerdict {
  if (streamEpoch < standby.promisedEpoch) {
    return { ok: false, code: 'STALE_EPOCH', message: `records from epoch ${streamEpoch}, but epoch ${standby.promisedEpoch} was promised` };
  }
  if (!first) return { ok: true };
  if (first.txid !== standby.lastTxid + 1) {
    return { ok: false, code: 'LOG_DIVERGED', message: `expected txid ${standby.lastTxid + 1}, the active sent ${first.txid}` };
  }
  if (first.epoch > streamEpoch || first.epoch < standby.lastEpoch) {
    return {
      ok: false,
      code: 'STALE_EPOCH',
      message: `txid ${first.txid} carries epoch ${first.epoch} (stream epoch ${streamEpoch}, last ${standby.lastEpoch})`,
    };
  }
  return { ok: true };
}

export interface FollowerView {
  member: string;
  inSync: boolean;
  /** Connected and past the hello (streaming). */
  streaming: boolean;
  durableTxid: number;
  /**
   * Since when this standby has lacked its oldest missing record: when that record was
   * appended here, but never before the link to it was made (a new link gets its time).
   */
  missingSince: number;
  /** When it last acknowledged anything (its link's start, before the first). */
  lastAckAt: number;
}

/**
 * Whether a standby outside the in-sync set may join it now: streaming, and holding every
 * committed record (see isrAdjustments). The one statement of the rule: the active's tick
 * and the moment the add is carried out (Replicator.mayJoinIsr) both ask it.
 */
export function mayJoinIsr(f: { streaming: boolean; durableTxid: number }, committedTxid: number): boolean {
  return f.streaming && f.durableTxid >= committedTxid;
}

export type IsrAdjustment = { member: string; change: 'remove'; lagMs: number } | { member: string; change: 'add' };

/**
 * The in-sync set changes an active should make now. Remove an in-sync standby that has
 * lacked a record for more than `lagMaxMs`, or has not acknowledged anything for that long
 * (dead or frozen: on an idle shard it lacks nothing, yet it holds the read lease back), or
 * has had no link at all for that long (gone from the election). Add a streaming standby
 * that holds every committed record.
 *
 * Committed, not applied: under a steady load a standby is always a few records behind what
 * the active has applied, so "holds everything applied" was rarely true at the instant of a
 * check, and a restarted standby took 6-12 s to be added back. Holding every committed
 * record is what makes it safe: every acknowledged write is on it, and the active gates
 * commits on it from the moment it decides (the driver re-checks this at that moment).
 */
export function isrAdjustments(
  now: number,
  log: { appliedTxid: number; committedTxid: number },
  followers: readonly FollowerView[],
  inSyncWithoutFollower: readonly { member: string; since: number }[],
  lagMaxMs: number,
): IsrAdjustment[] {
  const out: IsrAdjustment[] = [];
  for (const f of followers) {
    if (f.inSync) {
      const lagMs = Math.max(f.durableTxid >= log.appliedTxid ? 0 : now - f.missingSince, now - f.lastAckAt);
      if (lagMs > lagMaxMs) out.push({ member: f.member, change: 'remove', lagMs });
    } else if (mayJoinIsr(f, log.committedTxid)) {
      out.push({ member: f.member, change: 'add' });
    }
  }
  for (const { member, since } of inSyncWithoutFollower) {
    if (now - since > lagMaxMs) out.push({ member, change: 'remove', lagMs: now - since });
  }
  return out;
}

/**
 * What a member taking over appends before it starts its epoch, of the logs other members
 * offer from its last record on (HaMember.takeMissingTail). Each offer starts with the record
 * at our last txid (txid 1 when we have none): the same epoch there means the two logs agree
 * up to it, and the rest is a continuation of ours; any other offer is ignored. Of the
 * continuations, the most recent one (last record's epoch, then txid) is taken, or nothing.
 * Taking records past our last one cannot lose a committed record (we hold them all); it
 * spares the members that hold them a cut.
 */
export function chooseContinuation<R extends { txid: number; epoch: number }>(ours: { lastTxid: number; lastEpoch: number }, offers: readonly (readonly R[])[]): R[] {
  let best: readonly R[] = [];
  for (const offer of offers) {
    let continuation: readonly R[];
    if (ours.lastTxid === 0) continuation = offer[0]?.txid === 1 ? offer : [];
    else continuation = offer[0]?.txid === ours.lastTxid && offer[0].epoch === ours.lastEpoch ? offer.slice(1) : [];
    const last = continuation.at(-1);
    const bestLast = best.at(-1);
    if (last && (!bestLast || last.epoch > bestLast.epoch || (last.epoch === bestLast.epoch && last.txid > bestLast.txid))) best = continuation;
  }
  return [...best];
}
