// Copies this datanode was told to make and that did not land, waiting to be told to the
// FMS member that handed them out (docs/data-path.md, "Re-replication"). Without them the
// member counts each target as pending until its pendingReplicationTimeoutMs (5 min) runs
// out, and the block stays under-replicated that long for one lost copy.
//
// Each failure is owed to one member (`<shard>/<member>`): it goes in that member's next
// heartbeat and is forgotten once a heartbeat carrying it is answered (a heartbeat that
// fails sends it again next time). Bounded: at most COPY_FAILURES_PER_HEARTBEAT_MAX wait,
// over every member; past it the oldest is dropped and counted — that copy then waits out
// the member's pending timeout, as every copy did before failures were reported.

import { COPY_FAILURES_PER_HEARTBEAT_MAX, type CopyFailure } from '../filemeta/block-map.js';
import type { Logger } from '../util/log.js';

export type { CopyFailure } from '../filemeta/block-map.js';

/** A reason longer than this is cut (it is for logs; the FMS refuses one over 1,024 characters). */
const REASON_CHARS_MAX = 256;

/** Drops are logged one by one up to this many, then once every DROPS_LOGGED_EVERY. */
const DROPS_LOGGED_EACH = 10;
const DROPS_LOGGED_EVERY = 1_000;

interface Owed {
  /** Increasing over every member: a heartbeat acknowledges those up to the last it carried. */
  seq: number;
  /** `<shard>/<member>` that handed the copy out. */
  member: string;
  failure: CopyFailure;
}

/** The member key copy failures are owed to. */
export function memberKey(shard: string, member: string): string {
  return `${shard}/${member}`;
}

export class CopyFailures {
  /** Oldest first. Invariant: length ≤ entriesMax; seq strictly increasing. */
  private readonly owed: Owed[] = [];
  private nextSeq = 1;
  private droppedCount = 0;

  constructor(
    private readonly log: Logger,
    private readonly entriesMax = COPY_FAILURES_PER_HEARTBEAT_MAX,
  ) {
    if (!(entriesMax >= 1 && entriesMax <= COPY_FAILURES_PER_HEARTBEAT_MAX)) {
      throw new Error(`invariant broken: copy failures kept (${entriesMax}) must be 1..${COPY_FAILURES_PER_HEARTBEAT_MAX}, what one heartbeat carries`);
    }
  }

  /** Failures waiting, over every member. */
  get size(): number {
    return this.owed.length;
  }

  /** Failures dropped because too many waited, since start. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Remembers a failure for `member` (memberKey); the oldest waiting goes if the list is full. */
  add(member: string, failure: CopyFailure): void {
    while (this.owed.length >= this.entriesMax) {
      const oldest = this.owed.shift()!;
      this.droppedCount++;
      if (this.droppedCount <= DROPS_LOGGED_EACH || this.droppedCount % DROPS_LOGGED_EVERY === 0) {
        this.log.warn(
          { member: oldest.member, blockId: oldest.failure.blockId, target: oldest.failure.target, dropped: this.droppedCount, kept: this.entriesMax },
          `forgot the failed copy of ${oldest.failure.blockId} to ${oldest.failure.target} before telling ${oldest.member}: ${this.entriesMax} failures wait already (${this.droppedCount} forgotten since start); that copy is scheduled again only after its pending timeout`,
        );
      }
    }
    const reason = failure.reason.length > REASON_CHARS_MAX ? `${failure.reason.slice(0, REASON_CHARS_MAX - 1)}…` : failure.reason;
    this.owed.push({ seq: this.nextSeq++, member, failure: { blockId: failure.blockId, target: failure.target, reason } });
  }

  /**
   * What `member`'s next heartbeat carries (oldest first, all of them: the list is no longer
   * than one heartbeat takes), and the mark to acknowledge once it is answered.
   */
  owedTo(member: string): { failures: CopyFailure[]; throughSeq: number } {
    const failures: CopyFailure[] = [];
    let throughSeq = 0;
    for (const entry of this.owed) {
      if (entry.member !== member) continue;
      failures.push(entry.failure);
      throughSeq = entry.seq;
    }
    return { failures, throughSeq };
  }

  /** A heartbeat to `member` carrying its failures up to `throughSeq` was answered: they are told. */
  acknowledge(member: string, throughSeq: number): void {
    this.removeWhere((entry) => entry.member === member && entry.seq <= throughSeq);
  }

  /** `member` is gone (it left its shard): nobody is left to tell. */
  forget(member: string): void {
    this.removeWhere((entry) => entry.member === member);
  }

  private removeWhere(gone: (entry: Owed) => boolean): void {
    let kept = 0;
    for (const entry of this.owed) if (!gone(entry)) this.owed[kept++] = entry;
    this.owed.length = kept;
  }
}
