// Writers' leases: soft state of the active FMS member (not journaled). A writer renews
// its lease while it writes; one silent for leaseHardLimitMs loses it, and the active
// closes its open files with recoverLease. After a failover nobody has renewed with the
// new active yet, so a holder it has never heard from gets a full lease period from the
// first time it looks.

import { openFiles } from './queries.js';
import type { FileMetaState } from './state.js';
import type { OpenFileInfo } from './ops.js';

/**
 * Pure: the open files whose holder last renewed more than hardLimitMs before `now`.
 * A holder missing from `lastRenewedAt` is not expired (the caller decides when its clock starts).
 */
export function expiredLeases(state: FileMetaState, now: number, lastRenewedAt: ReadonlyMap<string, number>, hardLimitMs: number): OpenFileInfo[] {
  return openFiles(state).filter((file) => {
    const renewed = lastRenewedAt.get(file.holder);
    return renewed !== undefined && now - renewed > hardLimitMs;
  });
}

export class LeaseTable {
  /** holder → last renewal (ms). Holders without open files are pruned once their lease has run out. */
  private readonly renewedAt = new Map<string, number>();

  constructor(private readonly hardLimitMs: number) {}

  renew(holder: string, now: number): void {
    this.renewedAt.set(holder, Math.max(now, this.renewedAt.get(holder) ?? now));
  }

  lastRenewedAt(holder: string): number | undefined {
    return this.renewedAt.get(holder);
  }

  get size(): number {
    return this.renewedAt.size;
  }

  /**
   * Open files whose writer's lease has expired at `now`. Holders of open files never heard
   * from start their lease now; holders with no open file whose lease ran out are dropped.
   */
  expired(state: FileMetaState, now: number): OpenFileInfo[] {
    const holders = new Set<string>();
    for (const fileId of state.openFiles) holders.add(state.files.get(fileId)!.holder!);
    for (const holder of holders) if (!this.renewedAt.has(holder)) this.renewedAt.set(holder, now);
    for (const [holder, renewed] of this.renewedAt) {
      if (!holders.has(holder) && now - renewed > this.hardLimitMs) this.renewedAt.delete(holder);
    }
    return expiredLeases(state, now, this.renewedAt, this.hardLimitMs);
  }
}
