// Logs refused requests (no or a wrong proof of the cluster secret) without letting a
// scanner flood the log: at most `linesPerWindowMax` lines per window (10 a minute by
// default), then one summary line when the next window opens ("suppressed 4211 more … in
// the last 60 s"). A peer with the wrong secret retrying every second stays at 10 lines a
// minute too. An operator still sees that refusals happen, from where first, and how many.

import type { Logger } from '../util/log.js';

export interface RefusalLogOptions {
  log: Logger;
  /** What is refusing, for the message: "rpc server master ns/m1", "image server". */
  what: string;
  windowMs?: number;
  linesPerWindowMax?: number;
  /** ms clock; performance.now() by default (tests pass their own). */
  now?: () => number;
}

export interface Refusal {
  /** Who asked: "127.0.0.1:53412". */
  remote: string;
  /** What it asked for: an RPC method or "PUT /images/12". */
  request: string;
  /** Why it was refused: "no proof of the cluster secret". */
  reason: string;
  /** More fields for the log line (client name, connection id). */
  fields?: Record<string, unknown>;
}

export class RefusalLog {
  private readonly windowMs: number;
  private readonly linesPerWindowMax: number;
  private readonly now: () => number;
  private windowStartMs = -Infinity;
  private linesInWindow = 0;
  private suppressedInWindow = 0;
  /** Every refusal since start, logged or not. */
  refusalsTotal = 0;

  constructor(private readonly opts: RefusalLogOptions) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.linesPerWindowMax = opts.linesPerWindowMax ?? 10;
    this.now = opts.now ?? (() => performance.now());
  }

  note(refusal: Refusal): void {
    this.refusalsTotal++;
    const now = this.now();
    if (now - this.windowStartMs >= this.windowMs) {
      if (this.suppressedInWindow > 0) {
        this.opts.log.warn(
          { suppressed: this.suppressedInWindow, windowMs: this.windowMs, refusalsTotal: this.refusalsTotal },
          `${this.opts.what}: suppressed ${this.suppressedInWindow} more unauthenticated requests in the last ${Math.round(this.windowMs / 1000)} s`,
        );
      }
      this.windowStartMs = now;
      this.linesInWindow = 0;
      this.suppressedInWindow = 0;
    }
    if (this.linesInWindow >= this.linesPerWindowMax) {
      this.suppressedInWindow++;
      return;
    }
    this.linesInWindow++;
    this.opts.log.warn(
      { ...refusal.fields, remote: refusal.remote, request: refusal.request, code: 'UNAUTHENTICATED', refusalsTotal: this.refusalsTotal },
      `${this.opts.what}: refused ${refusal.request} from ${refusal.remote}: ${refusal.reason}`,
    );
  }
}
