// The failure half of Outcome, and how namespace code builds one. Queries and mutations
// share it so an error looks the same whichever path produced it.

import type { ErrorCode } from '../errors.js';
import type { Outcome } from '../replication/state-machine.js';

export type Failure = Extract<Outcome<never>, { ok: false }>;

export function failure(code: ErrorCode, message: string): Failure {
  return { ok: false, error: { code, message } };
}

/** Quotes a caller-supplied string for a message, cut short so a message stays one line. */
export function quote(text: string): string {
  const shown = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return JSON.stringify(shown);
}
