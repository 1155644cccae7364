// The pure core of `tandem bench chaos` (src/bench/chaos.ts): what a worker records of each
// call, the judge of a slot against the final namespace, the judge of a file's bytes read
// back at the check, and the failover clock that measures each kill's unavailability.
// No I/O here: every history a worker can record is unit-tested (test/bench/chaos.test.ts).

import type { ActiveInfo } from '../election/layout.js';
import type { ErrorCode } from '../errors.js';

// ---- the record and the judge (pure)

/** Where a slot's file is: at f<i>, at g<i>, or nowhere. */
export type Place = 'f' | 'g' | 'none';

/**
 * A slot's calls. `write` (data slots only) streams the file's bytes through its FMS shard
 * and datanodes and completes it: it leaves the file where it is.
 */
export type Step = 'create' | 'write' | 'rename' | 'delete';

/** Where each step puts the slot's file when it takes effect. */
const STEP_TARGET: Readonly<Record<Step, Place>> = { create: 'f', write: 'f', rename: 'g', delete: 'none' };

/** Slot i's calls: every 8th slot keeps its f, every 8th (offset 3) its g; the rest end empty. */
export function stepsOf(slot: number): readonly Step[] {
  if (slot % 8 === 7) return ['create'];
  if (slot % 8 === 3) return ['create', 'rename'];
  return ['create', 'rename', 'delete'];
}

/** A data slot's calls: bytes are written after the create; one slot in four keeps its f, one its g (so the check reads bytes back), the rest end empty. */
export function dataStepsOf(slot: number): readonly Step[] {
  if (slot % 4 === 3) return ['create', 'write'];
  if (slot % 4 === 1) return ['create', 'write', 'rename'];
  return ['create', 'write', 'rename', 'delete'];
}

/** How one call ended, as the worker saw it. */
export type Answer =
  /** Answered. `effect` false: `create` FILE_EXISTS, `rename`/`delete` false — each of them on a path the worker certainly had (or never used). */
  | { kind: 'acked'; effect: boolean }
  /** Refused by the namespace with a definite error: it did not happen. */
  | { kind: 'failed'; code: ErrorCode }
  /** No answer within the deadline, or the connection lost for good: it may or may not have happened. */
  | { kind: 'inDoubt'; code: string };

/** What a worker knows about one slot. Each call moves the slot at most once; the first call not acknowledged with its effect is the slot's last. */
export interface SlotRecord {
  /** Where the file is after every call acknowledged with its effect ('none' before any). */
  certain: Place;
  /** Some call on this slot was acknowledged with its effect: a wrong place is then a lost write. */
  acked: boolean;
  /** Where the file would be had the in-doubt call happened; null when no call was in doubt. */
  maybe: Place | null;
  /** Where the file would be had the definitely refused call happened anyway. */
  refused: Place | null;
  /** Where an acknowledged call without effect meant to put the file: only an earlier run of the same call explains it. */
  noEffect: Place | null;
}

export function emptySlot(): SlotRecord {
  return { certain: 'none', acked: false, maybe: null, refused: null, noEffect: null };
}

/** Records a step's answer; returns whether the worker may go on with the slot's next step. */
export function recordAnswer(slot: SlotRecord, step: Step, answer: Answer): boolean {
  const target = STEP_TARGET[step];
  if (answer.kind === 'acked' && answer.effect) {
    slot.certain = target;
    slot.acked = true;
    return true;
  }
  if (answer.kind === 'acked' || (answer.kind === 'failed' && step === 'create' && answer.code === 'FILE_EXISTS')) slot.noEffect = target;
  else if (answer.kind === 'failed') slot.refused = target;
  else slot.maybe = target;
  return false;
}

export type Verdict = 'ok' | 'lost' | 'duplicated' | 'phantom';

/**
 * Judges a slot by what the final namespace holds at f<i> and g<i>:
 * - `duplicated`: a call ran twice — the file at both places (a create ran again after its
 *   rename), or an answer without effect (a fresh name answered FILE_EXISTS, a certain source
 *   answered false) whose effect is in the namespace, as an earlier run of the same call left it;
 * - `lost`: an acknowledged effect is not there (an answer without effect whose effect is not
 *   there either means the earlier acknowledged step was lost);
 * - `phantom`: an effect no call was acknowledged for, and no in-doubt call explains;
 * - `ok`: the file is at the place the acknowledged calls put it, or where the in-doubt call would have.
 */
export function judgeSlot(slot: SlotRecord, found: { f: boolean; g: boolean }): Verdict {
  if (found.f && found.g) return 'duplicated';
  const actual: Place = found.f ? 'f' : found.g ? 'g' : 'none';
  if (slot.noEffect !== null) return actual === slot.noEffect || !slot.acked ? 'duplicated' : 'lost';
  if (actual === slot.certain || actual === slot.maybe) return 'ok';
  if (actual === slot.refused || !slot.acked) return 'phantom';
  return 'lost';
}

// ---- the bytes of a data slot's file

/** What a data slot's worker wrote: the content's length and SHA-256, and whether the write was acknowledged. */
export interface ContentRecord {
  bytes: number;
  sha256: string;
  /** The write step was acknowledged: the file is complete with exactly these bytes. */
  acked: boolean;
}

/** A file as the check finds it: complete in the namespace (and its bytes, read back), still being written, or complete but unreadable. */
export type SeenContent =
  | { state: 'complete'; bytes: number; sha256: string }
  | { state: 'underConstruction' }
  | { state: 'unreadable'; code: string };

export type ContentVerdict = 'ok' | 'mismatch';

/**
 * Judges the file at a slot's place (a place the slot's verdict found right). `expected` is
 * null when the worker never had a writer for it (its create was not acknowledged).
 * - An acknowledged write: complete, with exactly its bytes.
 * - A write not acknowledged (failed, in doubt, or never sent): either still under
 *   construction (nobody completed it), or complete with exactly its bytes — a writer
 *   completes a file only after every byte is in its pipeline, so any other complete
 *   content, or complete bytes that cannot be read, were lost or altered.
 * - No writer at all: only under construction (nothing ever wrote to it).
 */
export function judgeContent(expected: ContentRecord | null, seen: SeenContent): ContentVerdict {
  if (seen.state === 'underConstruction') return expected?.acked ? 'mismatch' : 'ok';
  if (seen.state === 'unreadable' || expected === null) return 'mismatch';
  return seen.bytes === expected.bytes && seen.sha256 === expected.sha256 ? 'ok' : 'mismatch';
}

// ---- unavailability per failover

export interface Kill {
  /** The member killed (or asked to hand over), its rpc address, and the epoch it was active in. */
  member: string;
  rpc: string;
  epoch: number;
  /** Asked to hand over (it still answers calls that reach it before it stops), rather than killed. */
  graceful: boolean;
  /** The first active of a newer epoch ZooKeeper named after the kill (null until then). */
  successor: string | null;
  /** When the SIGKILL (or the hand-over call) was sent. */
  killedAt: number;
  /** Completion of the last call the killed active answered (before the kill, or a reply it had already sent). */
  lastOldAckAt: number | null;
  /** Completion of the first call the next active answered. */
  firstNewAckAt: number | null;
}

/**
 * Measures each kill's gap: from the last call answered by the old active to the first one
 * answered by its successor. A call completing after the kill is the old active's answer if it
 * came on a connection to the old active's rpc address opened, for a SIGKILL, before the kill:
 * a reply the killed process had already sent (a handing-over active, alive, may also answer
 * calls that reach it before it stops). Anything else is the successor's: another address, or a
 * connection opened after the kill, which only the killed member restarted and elected again can
 * answer (it is, when it was alone in the in-sync set).
 */
export class FailoverClock {
  private lastAckAt: number | null = null;
  readonly kills: Kill[] = [];

  /** A call answered at `completedAt` (performance.now()) by the master at `answeredBy` (HOST:PORT), on a connection opened at `connectedAt`. */
  acked(call: { completedAt: number; answeredBy: string; connectedAt: number }): void {
    const { completedAt } = call;
    const current = this.lastKill;
    if (current && completedAt > current.killedAt) {
      const old = call.answeredBy === current.rpc && (current.graceful || call.connectedAt < current.killedAt);
      if (old) current.lastOldAckAt = Math.max(current.lastOldAckAt ?? completedAt, completedAt);
      else current.firstNewAckAt ??= completedAt;
    }
    this.lastAckAt = Math.max(this.lastAckAt ?? completedAt, completedAt);
  }

  killed(victim: { member: string; rpc: string; epoch: number }, at: number, graceful: boolean): void {
    this.kills.push({ member: victim.member, rpc: victim.rpc, epoch: victim.epoch, graceful, successor: null, killedAt: at, lastOldAckAt: this.lastAckAt, firstNewAckAt: null });
  }

  /** The last kill did not happen after all (a hand-over the active refused). */
  withdraw(): void {
    this.kills.pop();
  }

  get lastKill(): Kill | undefined {
    return this.kills.at(-1);
  }

  /** The active is newer than the last one killed. */
  succeeds(active: ActiveInfo): boolean {
    return active.epoch > (this.lastKill?.epoch ?? -Infinity);
  }

  /** The last kill's successor has answered a call (or nothing was killed yet). */
  get settled(): boolean {
    const current = this.lastKill;
    return !current || current.firstNewAckAt !== null;
  }

  /** Gap per measured kill, ms; kills whose successor answered nothing before the end are left out. */
  gapsMs(): number[] {
    return this.kills.filter((f) => f.firstNewAckAt !== null).map((f) => f.firstNewAckAt! - (f.lastOldAckAt ?? f.killedAt));
  }
}
