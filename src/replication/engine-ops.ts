// Records the engine itself interprets, whatever the shard's state machine: they are
// journaled and replicated like any op (so they survive a failover and a restart), but
// never reach the machine. Their `type` starts with '@', which no machine op uses.
//
//   @epoch-start {member}            a new active's first record (changes no state)
//   @safe-mode   {on, by, reason}    manual safe mode on or off: mutations refused, reads served
//   @verify      {id}                a marker: every member computes the digest of its state
//                                    when it applies this txid, so digests compare at one txid
//
// The engine's own replicated state (manual safe mode) is pure data here; engine.ts applies
// these ops, and it travels inside images (wrapImagePayload), so a restart from an image
// that covers the @safe-mode record keeps it.

import type { EpochStartOp } from './engine.js';

export interface SafeModeOp {
  type: '@safe-mode';
  on: boolean;
  /** Who asked (operator's user name), for the status line. */
  by: string;
  /** When it was asked, ms since the epoch (chosen by the active, like every op's time). */
  time: number;
}

export interface VerifyMarkerOp {
  type: '@verify';
  /** Who asked: 'admin' (the CLI) or 'schedule' (the active's hourly run). */
  by: string;
  time: number;
}

export type EngineOp = EpochStartOp | SafeModeOp | VerifyMarkerOp;

/** Manual safe mode as the journal left it: null when off. */
export interface ManualSafeMode {
  by: string;
  sinceMs: number;
  txid: number;
}

/** The engine's replicated state besides the machine's. */
export interface EngineAdminState {
  safeMode: ManualSafeMode | null;
}

export function initialAdminState(): EngineAdminState {
  return { safeMode: null };
}

export function isEngineOp(op: unknown): op is EngineOp {
  const type = (op as { type?: unknown } | null)?.type;
  return typeof type === 'string' && type.startsWith('@');
}

/** Applies an engine op at `txid` (pure: the admin state is replaced, never mutated). */
export function applyEngineOp(admin: EngineAdminState, op: EngineOp, txid: number): EngineAdminState {
  if (op.type !== '@safe-mode') return admin;
  return { ...admin, safeMode: op.on ? { by: op.by, sinceMs: op.time, txid } : null };
}

/**
 * An image's payload is the machine's image; with engine state to keep (manual safe mode
 * on), it is wrapped in {[WRAP_KEY]: admin, image}. No machine image has that key, so old
 * images load unchanged and the format version stays.
 */
const WRAP_KEY = '@tandem-engine';

export function wrapImagePayload(machineImage: unknown, admin: EngineAdminState): unknown {
  if (admin.safeMode === null) return machineImage;
  return { [WRAP_KEY]: admin, image: machineImage };
}

export function unwrapImagePayload(payload: unknown): { machineImage: unknown; admin: EngineAdminState } {
  if (typeof payload === 'object' && payload !== null && Object.hasOwn(payload, WRAP_KEY)) {
    const wrapped = payload as { [WRAP_KEY]: EngineAdminState; image: unknown };
    return { machineImage: wrapped.image, admin: { ...initialAdminState(), ...wrapped[WRAP_KEY] } };
  }
  return { machineImage: payload, admin: initialAdminState() };
}
