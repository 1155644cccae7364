import { TandemError, type ErrorCode } from '../errors.js';

/** A state machine's Outcome (or query result) as its value, or a thrown TandemError. */
export function unwrap<T>(outcome: { ok: true; value: T } | { ok: false; error: { code: ErrorCode; message: string } }): T {
  if (outcome.ok) return outcome.value;
  throw new TandemError(outcome.error.code, outcome.error.message);
}
