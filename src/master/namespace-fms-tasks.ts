// What the namespace active does with the file-metadata shards on its own, in rounds: the
// two cross-shard flows whose source of truth is the namespace's journal, so that a
// failover on either side at any point only repeats an idempotent step.
//
// - Deletes: hands deleted files (the pending-delete queue) to the FMS shard that owns their
//   pool (`fms.deleteFiles`, idempotent), then journals `deletesDelivered` so the queue
//   forgets them. A failure leaves them queued for the next round, on this active or the
//   next one: a file's blocks are freed only after NS removed the name and FMS agreed.
// - Leases: a file still open in the namespace long after it was created may have lost its
//   writer. Its FMS shard says what it knows (`fms.fileStates`): closed (its own lease
//   recovery closed it, or the writer closed it there and died before NS.complete) → the
//   namespace closes it at that length (`recoverLease`); unknown to the FMS (the writer
//   never wrote a block) → closed empty; still open there (the writer renews its lease) →
//   left alone.
// - Truncates and concats in progress: the namespace gave the file its new length and left
//   it open until the FMS is done (a truncate mid-block waits for the datanodes). The NS
//   active that journaled it keeps a hint (soft state, `expedite`), and each lease round
//   asks about those files at once: closed there at exactly the namespace's length → closed
//   here too. Closed at another length means the FMS has not seen the op yet (the client
//   may still be on its way, or died): left to the ordinary lease rule. A new NS active has
//   no hints and closes such a file at the lease limit.

import { randomUUID } from 'node:crypto';
import type { ShardCaller } from '../client/shard-caller.js';
import { shardOfPool, type PoolMap } from '../election/pool-map.js';
import { DEFAULT_FILE_META_CONFIG } from '../filemeta/config.js';
import type { NamespaceMutation } from '../namespace/ops.js';
import type { NamespaceState } from '../namespace/state.js';
import type { ServiceHost } from './shard-service.js';
import { unwrap } from './unwrap.js';

/** As HDFS's hard lease limit, and the FMS's own. */
export const DEFAULT_LEASE_LIMIT_MS = DEFAULT_FILE_META_CONFIG.leaseHardLimitMs;
/** Files handed over or asked about per round and shard, and how often each kind of round runs. */
const FILES_PER_ROUND_MAX = 1_000;
/** Queued ids one round looks at, at most (a shard that is down can leave many queued). */
const SCAN_IDS_MAX = 100_000;
const DELETE_ROUND_INTERVAL_MS = 200;
/** Lease rounds run this often, or more often with a short limit (tests). */
const LEASE_ROUND_INTERVAL_MS_MAX = 10_000;
/** Truncates and concats in progress that the lease round asks about at once; more wait for the lease limit. */
const EXPEDITED_FILES_MAX = 10_000;
/** How often the rounds for them run (a truncate mid-block closes in about a block recovery). */
const EXPEDITED_ROUND_INTERVAL_MS = 250;

/** What `fms.fileStates` answers for one file. */
export interface FmsFileState {
  fileId: number;
  state: 'open' | 'closed' | 'unknown';
  length: number;
}

export class NamespaceFmsTasks {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly rounds = new Set<Promise<void>>();
  private readonly busy = new Set<string>();
  private readonly callers = new Map<string, ShardCaller>();
  private callId = 1;
  /** The newest file id a lease round asked about: the next round starts after it. */
  private leaseCursor = 0;
  private readonly clientId = `ns-tasks-${randomUUID()}`;
  /** Files a truncate or concat left open: fileId → the length the namespace expects the FMS to close them at. */
  private readonly expedited = new Map<number, number>();

  constructor(
    private readonly fms: { poolMap: PoolMap; caller: (shard: string) => ShardCaller },
    private readonly superuser: string,
    private readonly leaseLimitMs: number,
  ) {}

  start(host: ServiceHost): void {
    this.every('deletes', DELETE_ROUND_INTERVAL_MS, host, () => this.deliverDeletes(host));
    const leaseRoundMs = Math.max(100, Math.min(LEASE_ROUND_INTERVAL_MS_MAX, Math.floor(this.leaseLimitMs / 4)));
    this.every('leases', leaseRoundMs, host, () => this.recoverLeases(host));
    this.every('truncates', EXPEDITED_ROUND_INTERVAL_MS, host, () => this.closeExpedited(host));
  }

  /** A truncate or concat left this file open at `length`: the next lease rounds ask its FMS about it at once. */
  expedite(fileId: number, length: number): void {
    if (this.expedited.size < EXPEDITED_FILES_MAX) this.expedited.set(fileId, length);
  }

  /** Runs `round` every `intervalMs` on the active, one at a time; a failure is logged and the round runs again later. */
  private every(name: string, intervalMs: number, host: ServiceHost, round: () => Promise<void>): void {
    const timer = setInterval(() => {
      if (this.busy.has(name) || !host.isActive()) return;
      this.busy.add(name);
      const running: Promise<void> = round()
        .catch((err: unknown) => host.log.warn({ err, task: name }, `${name} round with the FMS shards failed (retried next round): ${(err as Error).message}`))
        .finally(() => {
          this.busy.delete(name);
          this.rounds.delete(running);
        });
      this.rounds.add(running);
    }, intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  private state(host: ServiceHost): NamespaceState {
    return host.engine().peekState() as NamespaceState;
  }

  private caller(shard: string): ShardCaller {
    let caller = this.callers.get(shard);
    if (!caller) this.callers.set(shard, (caller = this.fms.caller(shard)));
    return caller;
  }

  private envelope(): { user: string; groups: string[]; clientId: string; callId: number } {
    return { user: this.superuser, groups: [], clientId: this.clientId, callId: this.callId++ };
  }

  private async submit(host: ServiceHost, op: NamespaceMutation): Promise<unknown> {
    return unwrap(await host.engine().submit(op));
  }

  /**
   * Up to FILES_PER_ROUND_MAX ids per shard, grouped by the shard that owns their pool,
   * looking at no more than SCAN_IDS_MAX of them: a shard that is down, or whose files
   * come first, does not hold back the others.
   */
  private byShard(fileIds: Iterable<number>): Map<string, number[]> {
    const grouped = new Map<string, number[]>();
    let scanned = 0;
    for (const fileId of fileIds) {
      if (scanned++ >= SCAN_IDS_MAX) break;
      const shard = shardOfPool(this.fms.poolMap, fileId % this.fms.poolMap.pools);
      const ids = grouped.get(shard) ?? [];
      if (ids.length >= FILES_PER_ROUND_MAX) continue;
      ids.push(fileId);
      grouped.set(shard, ids);
    }
    return grouped;
  }

  /** Runs `work` for every shard at once; one that fails is logged and tried again next round, the others go on. */
  private async eachShard(host: ServiceHost, task: string, grouped: Map<string, number[]>, work: (shard: string, fileIds: number[]) => Promise<void>): Promise<void> {
    const outcomes = await Promise.allSettled([...grouped].map(([shard, fileIds]) => work(shard, fileIds)));
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') return;
      const shard = [...grouped.keys()][i];
      const err = outcome.reason as Error;
      host.log.warn({ err, task, shard }, `${task} with ${shard} failed (retried next round): ${err.message}`);
    });
  }

  private async deliverDeletes(host: ServiceHost): Promise<void> {
    const pending = this.state(host).pendingDeletes;
    if (pending.size === 0) return;
    await this.eachShard(host, 'handing deleted files over', this.byShard(pending.keys()), async (shard, fileIds) => {
      await this.caller(shard).call('fms.deleteFiles', { fileIds, ...this.envelope() });
      await this.submit(host, { type: 'deletesDelivered', fileIds, ...this.envelope(), time: Date.now() });
      host.log.info({ shard, files: fileIds.length, stillPending: pending.size }, `handed ${fileIds.length} deleted files to ${shard}; ${pending.size} still pending`);
    });
  }

  private async recoverLeases(host: ServiceHost): Promise<void> {
    const now = Date.now();
    const stale: number[] = [];
    // Open files in creation order (ids only grow); those after the last one asked come
    // first, so long-lived files whose writers still renew do not hold back the rest.
    const later: number[] = [];
    for (const [fileId, inode] of this.state(host).openFiles) {
      if (now - inode.mtime > this.leaseLimitMs) (fileId > this.leaseCursor ? later : stale).push(fileId);
    }
    const ordered = [...later, ...stale];
    if (ordered.length === 0) return;
    const grouped = this.byShard(ordered);
    this.leaseCursor = Math.max(...[...grouped.values()].map((ids) => ids[ids.length - 1]!));
    await this.eachShard(host, 'lease recovery', grouped, async (shard, fileIds) => {
      const user = { user: this.superuser, groups: [] as string[] };
      const states = await this.caller(shard).call<FmsFileState[]>('fms.fileStates', { fileIds, ...user });
      for (const file of states) {
        if (file.state === 'open') continue; // its writer still renews, or the FMS recovers it first
        const closed = await this.submit(host, { type: 'recoverLease', fileId: file.fileId, length: file.length, ...this.envelope(), time: Date.now() });
        if (closed === true) {
          host.log.warn(
            { fileId: file.fileId, length: file.length, fms: file.state },
            `file ${file.fileId} was open for over ${this.leaseLimitMs} ms and its writer is gone: closed it at ${file.length} bytes (${file.state === 'closed' ? `as ${shard} closed it` : `${shard} never had a block of it`})`,
          );
        }
      }
    });
  }

  /** Closes the files a truncate or concat left open once their FMS shard closed them at the namespace's length. */
  private async closeExpedited(host: ServiceHost): Promise<void> {
    if (this.expedited.size === 0) return;
    const open = this.state(host).openFiles;
    for (const [fileId, length] of this.expedited) if (open.get(fileId)?.length !== length) this.expedited.delete(fileId);
    await this.eachShard(host, 'closing truncated or concatenated files', this.byShard(this.expedited.keys()), async (shard, fileIds) => {
      const user = { user: this.superuser, groups: [] as string[] };
      const states = await this.caller(shard).call<FmsFileState[]>('fms.fileStates', { fileIds, ...user });
      for (const file of states) {
        const expected = this.expedited.get(file.fileId);
        if (file.state !== 'closed' || file.length !== expected) continue;
        const closed = await this.submit(host, { type: 'recoverLease', fileId: file.fileId, length: file.length, ...this.envelope(), time: Date.now() });
        this.expedited.delete(file.fileId);
        if (closed === true) host.log.info({ fileId: file.fileId, length: file.length, shard }, `file ${file.fileId} closed at ${file.length} bytes: ${shard} finished its truncate or concat`);
      }
    });
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    // Closed first: a round waiting on a dead shard then ends at once, not at its deadline.
    for (const caller of this.callers.values()) caller.close();
    await Promise.all(this.rounds);
  }
}
