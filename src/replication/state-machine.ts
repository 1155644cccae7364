// The contract between the replication engine and a shard's state machine (DESIGN §3).
// NS and FMS differ only in the StateMachine they plug in; the journal, images, group
// commit and (later) standbys and fencing are shared.
//
// apply() is deterministic: no I/O, no clock, no randomness. Time and ids arrive as fields
// of the op, chosen by the active before it journals the op. apply() mutates the state it
// is given (copying a million-inode tree per op is not an option); "pure" here means its
// effect is a function of (state, op) alone, which the property tests check.

import type { ErrorCode } from '../errors.js';

/** What apply() returns: a value, or a typed error that left the state untouched. */
export type Outcome<T> =
  | { ok: true; value: T; /** false when the op changed nothing (no need to journal it) */ mutated: boolean }
  | { ok: false; error: { code: ErrorCode; message: string } };

export interface StateMachine<State, Op, Image> {
  /** A fresh, empty state (as after `format`). */
  initial(): State;
  /** Applies one op. Must not mutate the state when it returns ok: false. */
  apply(state: State, op: Op): Outcome<unknown>;
  /** A msgpack-encodable image of the whole state (an fsimage's payload). */
  toImage(state: State): Image;
  /** Rebuilds the state from an image; throws on a malformed image. */
  fromImage(image: Image): State;
  /**
   * A plain, deterministic rendering of the whole logical state (sorted, insertion order
   * hidden): what replicas' digests are computed over (src/replication/digest.ts).
   */
  canonicalDump?(state: State): unknown;
}

/** One edit-log record. `op` is opaque to the journal. */
export interface EditRecord<Op = unknown> {
  txid: number;
  epoch: number;
  op: Op;
}
