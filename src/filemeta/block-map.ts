// The block map: the SOFT state of one FMS member (docs/data-path.md, "Soft state") — which
// datanode holds which replica, reports a standby cannot place yet, corrupt replicas,
// deletions and copies to hand out, safe mode. Not journaled: a restarted member rebuilds
// it from heartbeats and block reports. Pure: time arrives as `now`, the replicated state
// as an argument (never kept), randomness through the injected `random`.
//
// Placing a reported replica {blockId, genStamp, length, finalized} against the state:
//   - an id of another shard, or malformed: ignored (a datanode reports every shard's
//     blocks to every shard; only ours are our business, and we never delete others');
//   - a block the state does not know: on a standby whose journal has not reached it yet
//     (seq ≥ nextBlockSeq), deferred; otherwise it was deleted (or never committed), and
//     the replica is scheduled for deletion;
//   - an older genStamp than the block's: stale (a pipeline recovery left it behind, or
//     is moving it on right now), recorded as it is but never counted or listed. It is not
//     deleted on the spot: a pipeline member that took the writer's last packet finalizes
//     its replica even when its downstream breaks, and reports it; the writer's recovery
//     then resumes that very replica at the new genStamp (BlockStore.resumeRbw), so
//     deleting it would race the recovery and cost the pipeline a member. computeWork
//     judges it once the block is complete: it is a fine copy target (a copy resumes an
//     older replica as the pipeline does), and it is deleted once the block has its
//     replication without it. A block being truncated has only such older replicas until the
//     datanodes cut them (the `recover` command): they are what the cut is made from;
//   - a newer genStamp: deferred on a standby, ignored on the active (it cannot happen
//     there, and deleting data on a surprise is the wrong default);
//   - a finalized replica of a complete block with another length: corrupt;
//   - otherwise recorded.
// A replica scheduled for deletion is dropped from the map at once; if the datanode
// reports it again before deleting it, it is judged again, so nothing is lost by that.

import { DatanodeRegistry, type DatanodeEntry, type DatanodeInfo } from './datanodes.js';
import { parseBlockId, type BlockRecord, type FileMetaState } from './state.js';
import type { Failure } from './failure.js';
import type { FileMetaConfig } from './config.js';
import { getFile, type QueryResult } from './queries.js';
import type { BlockInfo, DatanodeRef, FileInfo } from './ops.js';

export type { DatanodeEntry, DatanodeInfo } from './datanodes.js';

export interface ReplicaReport {
  blockId: string;
  genStamp: number;
  length: number;
  /** In finalized/ (complete on that datanode), not rbw/. */
  finalized: boolean;
}

export interface IncrementalReport {
  received: ReplicaReport[];
  /** Block ids the datanode no longer holds. */
  deleted: string[];
}

/** What one report did, for logs and tests. */
export interface ReportSummary {
  recorded: number;
  deferred: number;
  /** Scheduled for deletion: unknown or corrupt (a stale one is recorded; computeWork deletes it later). */
  invalidated: number;
  /** Another shard's, malformed, or a future genStamp on the active. */
  ignored: number;
}

export type DatanodeCommand =
  | { type: 'replicate'; blockId: string; genStamp: number; length: number; targets: DatanodeRef[] }
  /**
   * Delete these replicas, each only while it is at a genStamp no newer than its
   * `genStampsMax` entry: a delete meant for a stale replica must not remove the same block
   * after a pipeline recovery moved it to a new genStamp (ANY_GEN_STAMP: whatever it is at).
   */
  | { type: 'delete'; blockIds: string[]; genStampsMax: number[] }
  /**
   * Block recovery (a dead writer's open last block, handed out by the FMS service, not the
   * block map): a replica of `blockId` here at an older genStamp is moved to `genStamp` at the
   * length it holds and finalized, then reported. The FMS closes the block at the shortest.
   * With `length` (a truncate inside the block), the replica is cut to that many bytes first.
   */
  | { type: 'recover'; blockId: string; genStamp: number; length?: number };

/**
 * A copy (a `replicate` command) that did not end with the block on `target`: it failed,
 * was refused there, or was dropped before it started. The datanode that was told to copy
 * says so in its next heartbeat to the member that handed it out (`dn.heartbeat`
 * `copyFailures`), so the target stops counting as pending at once (BlockMap.copyFailed).
 */
export interface CopyFailure {
  blockId: string;
  /** The datanode the copy was to land on. */
  target: string;
  /** What went wrong, in words (for logs). */
  reason: string;
}

/** Copy failures one heartbeat may carry; a datanode keeps no more than this many to tell. */
export const COPY_FAILURES_PER_HEARTBEAT_MAX = 1_000;

/** A delete bound that matches every genStamp: the block itself is gone. */
export const ANY_GEN_STAMP = Number.MAX_SAFE_INTEGER;

/** What each datanode still has to do of earlier rounds (computeWork's throttle). */
export interface WorkLoad {
  /** Copies handed out to this datanode as a source and not finished yet. */
  copies(datanodeId: string): number;
  /** A delete command for it is queued and not taken yet. */
  deletesQueued(datanodeId: string): boolean;
}

export interface LocatedReplica extends DatanodeRef {
  length: number;
  finalized: boolean;
}

interface Replica {
  genStamp: number;
  length: number;
  finalized: boolean;
}

interface Deferred {
  datanodeId: string;
  replica: ReplicaReport;
}

interface CorruptMark {
  genStamp: number;
  /** Its delete was handed out; the mark stays until the datanode stops reporting it. */
  deleteScheduled: boolean;
}

type Placement = keyof ReportSummary;

export type BlockMapMode = 'active' | 'standby';

export class BlockMap {
  readonly datanodes: DatanodeRegistry;
  private modeValue: BlockMapMode = 'standby';
  private safeMode = false;
  /** blockId → datanodeId → replica. Invariant: mirrors byDatanode; inner maps are never empty. */
  private readonly replicas = new Map<string, Map<string, Replica>>();
  private readonly byDatanode = new Map<string, Set<string>>();
  /** `${datanodeId}\0${blockId}` → report, oldest first. Invariant: size ≤ deferredReportsMax. */
  private readonly deferred = new Map<string, Deferred>();
  private deferredDroppedCount = 0;
  /** Datanodes some of whose deferred reports were dropped: they owe a full report. Bounded by the cluster's size. */
  private readonly droppedFrom = new Set<string>();
  /** The counters the deferred queue was last replayed at: nothing new can be placed until one moves. */
  private replayedAt = { nextBlockSeq: -1, nextGenStamp: -1 };
  /** blockId → datanodeId → mark. Corrupt replicas never count and are never handed out. */
  private readonly corrupt = new Map<string, Map<string, CorruptMark>>();
  /** datanodeId → block ids to delete there, handed out by computeWork. */
  /** datanode → block id → the newest genStamp of it the delete is for. */
  private readonly toDelete = new Map<string, Map<string, number>>();
  /**
   * blockId → target datanodeId → expiry (ms): copies scheduled and not yet reported. An entry
   * goes when the target reports the block, when the copy is reported failed (copyFailed),
   * when the target dies, or at expiry — whichever comes first.
   */
  private readonly pending = new Map<string, Map<string, number>>();
  /**
   * blockId → datanodeId → expiry (ms): deletes handed out and not yet reported done. Such a
   * datanode is no copy target for the block: the copy would find the replica still there
   * and fail (then count as pending until it times out), or be deleted by the queued delete.
   * Bounded by the deletes in flight; an entry goes at the datanode's report or at expiry.
   */
  private readonly deleting = new Map<string, Map<string, number>>();
  /**
   * blockId → the datanodes of its last write pipeline (expectPipeline), until computeWork
   * first finds the block complete. Bounded by the blocks being written through this member.
   */
  private readonly expected = new Map<string, { genStamp: number; datanodeIds: string[] }>();
  /**
   * Datanodes being decommissioned (ZooKeeper /config/decommission, src/master/decommission-list.ts):
   * no new replica is placed on them and their replicas do not count toward a block's
   * replication, so computeWork copies every block they hold elsewhere; they still serve
   * reads and act as copy sources meanwhile. Bounded by the cluster's datanodes.
   */
  private decommissioning: ReadonlySet<string> = new Set();

  constructor(
    private readonly config: Readonly<FileMetaConfig>,
    private readonly random: () => number,
  ) {
    this.datanodes = new DatanodeRegistry(config.heartbeatDeadlineMs, random, config.heartbeatDeadlineUnregisteredMs);
  }

  // --- mode and safe mode -------------------------------------------------------------

  get mode(): BlockMapMode {
    return this.modeValue;
  }

  /**
   * This member became the active: enters safe mode and judges what is still deferred as
   * the active does (the journal is complete now, so an unknown block is a deleted one).
   */
  becomeActive(state: FileMetaState): void {
    this.modeValue = 'active';
    this.safeMode = true;
    const waiting = [...this.deferred.values()];
    this.deferred.clear();
    for (const { datanodeId, replica } of waiting) this.place(datanodeId, replica, state);
  }

  becomeStandby(): void {
    this.modeValue = 'standby';
    this.safeMode = false;
    this.expected.clear(); // its writers' pipelines are the next active's business
  }

  get inSafeMode(): boolean {
    return this.safeMode;
  }

  enterSafeMode(): void {
    this.safeMode = true;
  }

  leaveSafeMode(): void {
    this.safeMode = false;
  }

  /** Leaves safe mode once safeModeFraction reaches the threshold; answers whether still in it. */
  checkSafeMode(state: FileMetaState, now: number): boolean {
    if (this.safeMode && this.safeModeFraction(state, now) >= this.config.safeModeThreshold) this.safeMode = false;
    return this.safeMode;
  }

  /**
   * Complete blocks with at least one live good replica / complete blocks; 1 when there are
   * none. A complete block of length 0 is not counted: it has no bytes to lose, and its
   * writer may never have opened a pipeline (so no datanode ever reports it). O(blocks).
   */
  safeModeFraction(state: FileMetaState, now: number): number {
    const { reported, complete } = this.safeModeCounts(state, now);
    return complete === 0 ? 1 : reported / complete;
  }

  /** The two counts behind safeModeFraction (for logs and status). O(blocks). */
  safeModeCounts(state: FileMetaState, now: number): { reported: number; complete: number } {
    let complete = 0;
    let reported = 0;
    for (const block of state.blocks.values()) {
      if (block.state !== 'complete' || block.length === 0) continue;
      complete++;
      if (this.goodLiveHolders(block, now).length > 0) reported++;
    }
    return { reported, complete };
  }

  // --- datanodes ----------------------------------------------------------------------

  /**
   * Records a heartbeat. A datanode that was dead (or never heard) comes back without the
   * replicas recorded for it: they count again only once its full report says they are
   * still there. Counted at once, a block copied elsewhere meanwhile would look
   * over-replicated, and a good copy could be trimmed for one the datanode no longer has.
   * Answers whether the datanode owes a full report.
   */
  heartbeat(dn: DatanodeInfo, now: number): { fullReportNeeded: boolean } {
    const wasLive = typeof dn?.id === 'string' && this.datanodes.isLive(dn.id, now);
    this.datanodes.heartbeat(dn, now);
    if (wasLive) return { fullReportNeeded: false };
    for (const blockId of [...(this.byDatanode.get(dn.id) ?? [])]) this.removeReplica(dn.id, blockId);
    return { fullReportNeeded: true };
  }

  liveDatanodes(now: number): DatanodeEntry[] {
    return this.datanodes.liveDatanodes(now);
  }

  chooseTargets(replication: number, exclude: Iterable<string>, now: number): { ok: true; value: DatanodeRef[] } | Failure {
    return this.datanodes.chooseTargets(replication, [...exclude, ...this.decommissioning], now);
  }

  setDecommissioning(ids: Iterable<string>): void {
    this.decommissioning = new Set(ids);
  }

  /**
   * Per datanode being decommissioned: its replicas of complete blocks, and how many of
   * those blocks still lack their replication on other live datanodes. Done (decommissioned)
   * at 0. O(replicas on it).
   */
  decommissionProgress(state: FileMetaState, now: number): Record<string, { replicas: number; waiting: number; stuck: number; live: boolean }> {
    const out: Record<string, { replicas: number; waiting: number; stuck: number; live: boolean }> = {};
    const inService = this.datanodes.liveDatanodes(now).filter((dn) => !this.decommissioning.has(dn.id)).length;
    for (const id of [...this.decommissioning].sort()) {
      let replicas = 0;
      let waiting = 0;
      /** Waiting blocks whose replication exceeds the live datanodes in service: they never get there. */
      let stuck = 0;
      for (const blockId of this.byDatanode.get(id) ?? []) {
        const block = state.blocks.get(blockId);
        if (block === undefined || block.state !== 'complete') continue;
        replicas++;
        const file = state.files.get(block.fileId);
        if (file !== undefined && this.countedHolders(block, now).length < file.replication) {
          waiting++;
          if (file.replication > inService) stuck++;
        }
      }
      out[id] = { replicas, waiting, stuck, live: this.datanodes.isLive(id, now) };
    }
    return out;
  }

  /** The datanodes ZooKeeper lists under /datanodes now: one missing there is dead sooner (DatanodeRegistry). */
  setRegisteredDatanodes(ids: Iterable<string>): void {
    this.datanodes.setRegistered(ids);
  }

  // --- reports ------------------------------------------------------------------------

  /** Everything the datanode holds: replaces what it reported before. */
  fullReport(datanodeId: string, replicas: readonly ReplicaReport[], state: FileMetaState, _now: number): ReportSummary {
    const summary: ReportSummary = { recorded: 0, deferred: 0, invalidated: 0, ignored: 0 };
    const reported = new Set<string>();
    for (const replica of replicas) {
      reported.add(replica.blockId);
      summary[this.place(datanodeId, replica, state)]++;
    }
    for (const blockId of [...(this.byDatanode.get(datanodeId) ?? [])]) {
      if (!reported.has(blockId)) this.removeReplica(datanodeId, blockId);
    }
    // A delete handed out for a block the datanode no longer holds is done.
    for (const [blockId, on] of this.deleting) {
      if (!reported.has(blockId) && on.delete(datanodeId) && on.size === 0) this.deleting.delete(blockId);
    }
    for (const [key, entry] of this.deferred) {
      if (entry.datanodeId === datanodeId && !reported.has(entry.replica.blockId)) this.deferred.delete(key);
    }
    for (const [blockId, marks] of this.corrupt) {
      if (!reported.has(blockId) && marks.delete(datanodeId) && marks.size === 0) this.corrupt.delete(blockId);
    }
    return summary;
  }

  /** Replicas the datanode received (finalized or not) and blocks it deleted since its last report. */
  incrementalReport(datanodeId: string, report: IncrementalReport, state: FileMetaState, _now: number): ReportSummary {
    const summary: ReportSummary = { recorded: 0, deferred: 0, invalidated: 0, ignored: 0 };
    for (const blockId of report.deleted) {
      this.removeReplica(datanodeId, blockId);
      const deleting = this.deleting.get(blockId);
      if (deleting?.delete(datanodeId) && deleting.size === 0) this.deleting.delete(blockId);
      this.deferred.delete(deferredKey(datanodeId, blockId));
      const marks = this.corrupt.get(blockId);
      if (marks?.delete(datanodeId) && marks.size === 0) this.corrupt.delete(blockId);
    }
    for (const replica of report.received) summary[this.place(datanodeId, replica, state)]++;
    return summary;
  }

  /**
   * After each apply on a standby: places the deferred reports the journal now covers.
   * O(1) when no block or genStamp was handed out since the last replay, else O(deferred).
   */
  replayDeferred(state: FileMetaState): number {
    if (this.replayedAt.nextBlockSeq === state.nextBlockSeq && this.replayedAt.nextGenStamp === state.nextGenStamp) return 0;
    this.replayedAt = { nextBlockSeq: state.nextBlockSeq, nextGenStamp: state.nextGenStamp };
    let placed = 0;
    for (const [key, { datanodeId, replica }] of [...this.deferred]) {
      if (this.wouldDefer(replica, state)) continue;
      this.deferred.delete(key);
      this.place(datanodeId, replica, state);
      placed++;
    }
    return placed;
  }

  deferredCount(): number {
    return this.deferred.size;
  }

  /** Deferred reports dropped because the queue was full, since start. */
  deferredDropped(): number {
    return this.deferredDroppedCount;
  }

  /**
   * True (once) when reports of this datanode were dropped from the deferred queue and the
   * queue has room again (under half full): the driver then asks it for a full report, which
   * carries the dropped replicas again. While the queue stays crowded, asking would only
   * drop more.
   */
  takeFullReportOwed(datanodeId: string): boolean {
    if (!this.droppedFrom.has(datanodeId) || this.deferred.size * 2 >= this.config.deferredReportsMax) return false;
    this.droppedFrom.delete(datanodeId);
    return true;
  }

  /** A reader found this replica corrupt. Answers false when no such replica is recorded. */
  markCorrupt(blockId: string, datanodeId: string): boolean {
    const replica = this.replicas.get(blockId)?.get(datanodeId);
    if (replica === undefined) return false;
    this.removeReplica(datanodeId, blockId);
    this.addCorruptMark(blockId, datanodeId, replica.genStamp);
    return true;
  }

  /**
   * A datanode reports that a copy of `blockId` to `targetId` did not land (CopyFailure):
   * that target stops counting as pending, so the next computeWork schedules the block again
   * (possibly to another target) instead of waiting out pendingReplicationTimeoutMs. Only that
   * target, and only while its entry for that block is pending and not expired: a target that
   * reported the block meanwhile, an entry past its expiry (computeWork forgets it anyway),
   * an unknown block or target — each changes nothing. Answers whether an entry went.
   *
   * A late failure of an earlier copy to the same target, scheduled again after its entry
   * expired, takes the newer entry too: at worst that block is copied once more than needed,
   * and the extra replica is trimmed.
   */
  copyFailed(blockId: string, targetId: string, now: number): boolean {
    const pending = this.pending.get(blockId);
    const expiresAtMs = pending?.get(targetId);
    if (pending === undefined || expiresAtMs === undefined || expiresAtMs <= now) return false;
    pending.delete(targetId);
    if (pending.size === 0) this.pending.delete(blockId);
    return true;
  }

  /** Blocks of deleted files (deleteFiles' answer): every replica of them is to be deleted. */
  forgetBlocks(blockIds: readonly string[]): void {
    for (const blockId of blockIds) {
      for (const datanodeId of [...(this.replicas.get(blockId)?.keys() ?? [])]) this.invalidate(datanodeId, blockId, ANY_GEN_STAMP);
      for (const datanodeId of this.corrupt.get(blockId)?.keys() ?? []) this.scheduleDelete(datanodeId, blockId, ANY_GEN_STAMP);
      this.corrupt.delete(blockId);
      this.pending.delete(blockId);
      this.expected.delete(blockId);
    }
  }

  /**
   * A write pipeline was handed out (fms.addBlock, fms.updatePipeline): its datanodes will
   * report the block once it is finished. A block closes as soon as ONE of them reported
   * it (the FMS service's awaitReported), so the next round of computeWork would otherwise
   * take it for under-replicated while the others' reports are on their way — and copy it
   * onto datanodes that hold it already: the copy is refused there ("a replica already
   * exists"), and every target of it then counts as pending for pendingReplicationTimeoutMs,
   * one that did not hold it included, so a replica lost later is not replaced for minutes.
   * Instead the members that have not reported count as pending copies from the moment the
   * block is found complete (HDFS's addExpectedReplicasToPending).
   */
  expectPipeline(blockId: string, genStamp: number, datanodeIds: readonly string[]): void {
    if (this.modeValue !== 'active') return;
    this.expected.set(blockId, { genStamp, datanodeIds: [...datanodeIds] });
  }

  // --- queries ------------------------------------------------------------------------

  /**
   * Live replicas at the block's genStamp, in random order (readers spread out), finalized
   * first. A complete block lists only finalized replicas of its full length; an open
   * block lists what its pipeline reported.
   */
  locations(blockId: string, state: FileMetaState, now: number): LocatedReplica[] {
    const block = state.blocks.get(blockId);
    const holders = this.replicas.get(blockId);
    if (block === undefined || holders === undefined) return [];
    const located: (LocatedReplica & { order: number })[] = [];
    for (const [datanodeId, replica] of holders) {
      const node = this.datanodes.get(datanodeId);
      if (node === undefined || !this.datanodes.isLive(datanodeId, now) || replica.genStamp !== block.genStamp) continue;
      // A complete block is read only from whole copies.
      if (block.state === 'complete' && !(replica.finalized && replica.length === block.length)) continue;
      located.push({ id: datanodeId, data: node.data, length: replica.length, finalized: replica.finalized, order: this.random() });
    }
    located.sort((a, b) => Number(b.finalized) - Number(a.finalized) || a.order - b.order);
    return located.map(({ id, data, length, finalized }) => ({ id, data, length, finalized }));
  }

  /**
   * A file's blocks with their live locations (FMS.getBlockLocations): NOT_FOUND for an
   * unknown file. A block with no location has an empty list; the caller decides whether
   * that is BLOCK_MISSING (a complete block) or a write in progress (the open last block).
   */
  blockLocations(state: FileMetaState, fileId: number, now: number): QueryResult<FileInfo & { blocks: (BlockInfo & { locations: LocatedReplica[] })[] }> {
    const file = getFile(state, fileId);
    if (!file.ok) return file;
    const blocks = file.value.blocks.map((block) => ({ ...block, locations: this.locations(block.blockId, state, now) }));
    return { ok: true, value: { ...file.value, blocks } };
  }

  /** Replicas recorded for a block (any datanode, live or not), by datanode id. For tests and diagnostics. */
  replicasOf(blockId: string): { datanodeId: string; genStamp: number; length: number; finalized: boolean }[] {
    return [...(this.replicas.get(blockId) ?? [])]
      .map(([datanodeId, r]) => ({ datanodeId, ...r }))
      .sort((a, b) => (a.datanodeId < b.datanodeId ? -1 : 1));
  }

  /** A block's replicas as fsck counts them: good live ones (as safe mode counts) and those marked corrupt. */
  replicaHealth(block: BlockRecord, now: number): { live: number; corrupt: number } {
    return { live: this.goodLiveHolders(block, now).length, corrupt: this.corrupt.get(block.blockId)?.size ?? 0 };
  }

  /** Replicas recorded, over every block and datanode (live or not). */
  replicaCount(): number {
    let count = 0;
    for (const held of this.byDatanode.values()) count += held.size;
    return count;
  }

  /** Replicas known to be corrupt and not deleted yet. */
  corruptCount(): number {
    let count = 0;
    for (const marks of this.corrupt.values()) count += marks.size;
    return count;
  }

  /** Replicas recorded on one datanode. */
  replicasOn(datanodeId: string): number {
    return this.byDatanode.get(datanodeId)?.size ?? 0;
  }

  /** Block ids waiting to be deleted on a datanode. */
  pendingDeletes(datanodeId: string): string[] {
    return [...(this.toDelete.get(datanodeId)?.keys() ?? [])];
  }

  // --- replication work ---------------------------------------------------------------

  /**
   * One round of work, per datanode: copies of under-replicated complete blocks (closed
   * files first, then fewest live replicas), trims of over-replicated ones, deletes of
   * corrupt replicas that have a good one elsewhere, and one delete command
   * (≤ deleteBlocksPerCommandMax ids) per live datanode. Nothing while in safe mode or on a
   * standby: reports are incomplete there and every block would look under-replicated.
   * O(blocks with replicas).
   *
   * Throttled: a source is given copies only up to replicationWorkPerDatanodeMax minus the
   * copies it still has outstanding (`load.copies`: handed out and not done, as the driver
   * knows from its queue and the datanode's heartbeat), and a datanode that has not taken
   * its last delete command yet (`load.deletesQueued`) gets no new one — its ids wait here.
   * Without `load` every round starts from zero.
   */
  computeWork(state: FileMetaState, now: number, load?: WorkLoad): Map<string, DatanodeCommand[]> {
    const commands = new Map<string, DatanodeCommand[]>();
    if (this.modeValue !== 'active' || this.safeMode) return commands;
    const push = (datanodeId: string, command: DatanodeCommand): void => {
      let list = commands.get(datanodeId);
      if (list === undefined) commands.set(datanodeId, (list = []));
      list.push(command);
    };
    this.expectedToPending(state, now);
    this.expirePending(now);

    const needs: { block: BlockRecord; closed: boolean; live: string[]; missing: number }[] = [];
    for (const [blockId, holders] of [...this.replicas]) {
      const block = state.blocks.get(blockId);
      if (block === undefined) {
        // A replica recorded before its file was deleted (forgetBlocks was not called here, e.g. on a standby).
        for (const datanodeId of [...holders.keys()]) this.invalidate(datanodeId, blockId, ANY_GEN_STAMP);
        continue;
      }
      if (block.state !== 'complete') continue; // an open block is its writer's business
      const file = state.files.get(block.fileId)!;
      const live = this.goodLiveHolders(block, now);
      const pendingTargets = this.pending.get(blockId);
      if (live.length >= file.replication) {
        // Stale replicas (see the header) are garbage once the block has its replication
        // without them and no copy is on its way to them (a copy resumes the stale replica).
        for (const [datanodeId, replica] of [...holders]) {
          if (replica.genStamp < block.genStamp && !pendingTargets?.has(datanodeId)) this.invalidate(datanodeId, blockId, replica.genStamp);
        }
      }
      if (live.length === 0) continue; // missing: nothing to copy from
      // A decommissioning datanode's replica is a source, but does not count, and is never trimmed.
      const counted = this.decommissioning.size === 0 ? live : live.filter((id) => !this.decommissioning.has(id));
      const pendingCount = pendingTargets?.size ?? 0;
      if (counted.length + pendingCount < file.replication) {
        needs.push({ block, closed: file.state === 'closed', live, missing: file.replication - counted.length - pendingCount });
      } else if (counted.length > file.replication) {
        // Trim the fullest datanodes first.
        const excess = [...counted].sort((a, b) => this.datanodes.freeBytes(a) - this.datanodes.freeBytes(b) || (a < b ? -1 : 1));
        for (const datanodeId of excess.slice(0, counted.length - file.replication)) this.invalidate(datanodeId, blockId, block.genStamp);
      }
    }

    for (const [blockId, marks] of [...this.corrupt]) {
      const block = state.blocks.get(blockId);
      const goodElsewhere = block !== undefined && this.goodLiveHolders(block, now).length > 0;
      for (const [datanodeId, mark] of marks) {
        if (mark.deleteScheduled || (block !== undefined && !goodElsewhere)) continue; // keep the last copy, even a bad one
        this.scheduleDelete(datanodeId, blockId, mark.genStamp);
        mark.deleteScheduled = true;
      }
    }

    needs.sort(
      (a, b) =>
        Number(b.closed) - Number(a.closed) ||
        a.live.length - b.live.length ||
        parseBlockId(a.block.blockId)!.seq - parseBlockId(b.block.blockId)!.seq,
    );
    const sourceWork = new Map<string, number>();
    if (load) for (const node of this.datanodes.liveDatanodes(now)) sourceWork.set(node.id, load.copies(node.id));
    for (const need of needs) {
      const sources = need.live.filter((id) => (sourceWork.get(id) ?? 0) < this.config.replicationWorkPerDatanodeMax);
      if (sources.length === 0) continue;
      const leastWork = Math.min(...sources.map((id) => sourceWork.get(id) ?? 0));
      const idle = sources.filter((id) => (sourceWork.get(id) ?? 0) === leastWork);
      const source = idle[Math.min(idle.length - 1, Math.floor(this.random() * idle.length))]!;
      // Not the holders of a stale replica: a copy to one resumes it at the block's genStamp.
      const current = [...(this.replicas.get(need.block.blockId) ?? [])].flatMap(([id, r]) => (r.genStamp === need.block.genStamp ? [id] : []));
      const exclude = [
        ...current,
        ...(this.pending.get(need.block.blockId)?.keys() ?? []),
        ...(this.corrupt.get(need.block.blockId)?.keys() ?? []),
        ...this.deletesOf(need.block.blockId),
      ];
      const chosen = this.chooseTargets(need.missing, exclude, now);
      if (!chosen.ok) continue;
      push(source, { type: 'replicate', blockId: need.block.blockId, genStamp: need.block.genStamp, length: need.block.length, targets: chosen.value });
      sourceWork.set(source, (sourceWork.get(source) ?? 0) + 1);
      let pending = this.pending.get(need.block.blockId);
      if (pending === undefined) this.pending.set(need.block.blockId, (pending = new Map()));
      for (const target of chosen.value) pending.set(target.id, now + this.config.pendingReplicationTimeoutMs);
    }

    for (const [datanodeId, blocks] of [...this.toDelete]) {
      if (!this.datanodes.isLive(datanodeId, now)) continue; // it gets them when it is back
      if (load?.deletesQueued(datanodeId)) continue; // it has not taken the last batch yet
      const blockIds: string[] = [];
      const genStampsMax: number[] = [];
      for (const [blockId, genStampMax] of blocks) {
        if (blockIds.length >= this.config.deleteBlocksPerCommandMax) break;
        blockIds.push(blockId);
        genStampsMax.push(genStampMax);
      }
      for (const blockId of blockIds) {
        blocks.delete(blockId);
        let deleting = this.deleting.get(blockId);
        if (deleting === undefined) this.deleting.set(blockId, (deleting = new Map()));
        deleting.set(datanodeId, now + this.config.pendingReplicationTimeoutMs);
      }
      if (blocks.size === 0) this.toDelete.delete(datanodeId);
      if (blockIds.length > 0) push(datanodeId, { type: 'delete', blockIds, genStampsMax });
    }
    return commands;
  }

  // --- internals ----------------------------------------------------------------------

  /** goodLiveHolders that count toward the block's replication (not being decommissioned). */
  private countedHolders(block: BlockRecord, now: number): string[] {
    return this.goodLiveHolders(block, now).filter((id) => !this.decommissioning.has(id));
  }

  /** Live datanodes holding a finalized replica of a complete block at its genStamp and length (any replica of an open one). */
  private goodLiveHolders(block: BlockRecord, now: number): string[] {
    const holders = this.replicas.get(block.blockId);
    if (holders === undefined) return [];
    const good: string[] = [];
    for (const [datanodeId, replica] of holders) {
      if (replica.genStamp !== block.genStamp || !this.datanodes.isLive(datanodeId, now)) continue;
      if (block.state === 'complete' && !(replica.finalized && replica.length === block.length)) continue;
      good.push(datanodeId);
    }
    return good;
  }

  /** Deferred on a standby: the journal has not reached the block, or its genStamp. */
  private wouldDefer(replica: ReplicaReport, state: FileMetaState): boolean {
    if (this.modeValue !== 'standby') return false;
    const block = state.blocks.get(replica.blockId);
    if (block === undefined) return parseBlockId(replica.blockId)!.seq >= state.nextBlockSeq;
    return replica.genStamp > block.genStamp;
  }

  private place(datanodeId: string, replica: ReplicaReport, state: FileMetaState): Placement {
    const parsed = parseBlockId(replica?.blockId);
    if (parsed === null || parsed.shard !== state.shard) return 'ignored';
    const { blockId } = replica;
    if (!isCount(replica.genStamp) || !isCount(replica.length) || typeof replica.finalized !== 'boolean') return 'ignored';
    if (this.wouldDefer(replica, state)) {
      this.removeReplica(datanodeId, blockId);
      this.defer(datanodeId, replica);
      return 'deferred';
    }
    this.heardFrom(datanodeId, blockId, replica.genStamp);
    const block = state.blocks.get(blockId);
    if (block === undefined) {
      this.invalidate(datanodeId, blockId, ANY_GEN_STAMP);
      return 'invalidated';
    }
    if (replica.genStamp > block.genStamp) return 'ignored'; // the active only: see the header
    if (replica.genStamp < block.genStamp) {
      // Stale: kept on record for computeWork to judge once the block is complete (see the header).
      this.record(datanodeId, blockId, replica);
      return 'recorded';
    }
    const mark = this.corrupt.get(blockId)?.get(datanodeId);
    if (mark !== undefined && mark.genStamp === replica.genStamp) {
      mark.deleteScheduled = false; // still there: its delete was lost or not done yet, so computeWork sends it again
      return 'invalidated';
    }
    if (block.state === 'complete' && replica.finalized && replica.length !== block.length) {
      this.removeReplica(datanodeId, blockId);
      this.addCorruptMark(blockId, datanodeId, replica.genStamp);
      return 'invalidated';
    }
    this.record(datanodeId, blockId, replica);
    // At the block's genStamp: a delete meant for an older copy of it is moot, a copy to it has landed.
    this.toDelete.get(datanodeId)?.delete(blockId);
    const pending = this.pending.get(blockId);
    if (pending?.delete(datanodeId) && pending.size === 0) this.pending.delete(blockId);
    return 'recorded';
  }

  /** A pipeline member reported the block: it is not on its way any more, whatever is made of the report (expectPipeline). */
  private heardFrom(datanodeId: string, blockId: string, genStamp: number): void {
    const expected = this.expected.get(blockId);
    if (expected === undefined || genStamp < expected.genStamp) return;
    expected.datanodeIds = expected.datanodeIds.filter((id) => id !== datanodeId);
  }

  private record(datanodeId: string, blockId: string, replica: ReplicaReport): void {
    let holders = this.replicas.get(blockId);
    if (holders === undefined) this.replicas.set(blockId, (holders = new Map()));
    holders.set(datanodeId, { genStamp: replica.genStamp, length: replica.length, finalized: replica.finalized });
    let held = this.byDatanode.get(datanodeId);
    if (held === undefined) this.byDatanode.set(datanodeId, (held = new Set()));
    held.add(blockId);
  }

  private defer(datanodeId: string, replica: ReplicaReport): void {
    const key = deferredKey(datanodeId, replica.blockId);
    this.deferred.delete(key); // a newer report of the same replica replaces the older, at the back
    while (this.deferred.size >= this.config.deferredReportsMax) {
      const oldest = this.deferred.keys().next().value as string;
      this.droppedFrom.add(this.deferred.get(oldest)!.datanodeId);
      this.deferred.delete(oldest);
      this.deferredDroppedCount++;
    }
    this.deferred.set(key, {
      datanodeId,
      replica: { blockId: replica.blockId, genStamp: replica.genStamp, length: replica.length, finalized: replica.finalized },
    });
  }

  private addCorruptMark(blockId: string, datanodeId: string, genStamp: number): void {
    let marks = this.corrupt.get(blockId);
    if (marks === undefined) this.corrupt.set(blockId, (marks = new Map()));
    marks.set(datanodeId, { genStamp, deleteScheduled: false });
  }

  /** Drops the replica from the map and schedules its deletion on that datanode (up to genStampMax). */
  private invalidate(datanodeId: string, blockId: string, genStampMax: number): void {
    this.removeReplica(datanodeId, blockId);
    this.scheduleDelete(datanodeId, blockId, genStampMax);
  }

  private scheduleDelete(datanodeId: string, blockId: string, genStampMax: number): void {
    let blocks = this.toDelete.get(datanodeId);
    if (blocks === undefined) this.toDelete.set(datanodeId, (blocks = new Map()));
    // Two reasons to delete the same replica: the wider bound covers both.
    blocks.set(blockId, Math.max(genStampMax, blocks.get(blockId) ?? 0));
  }

  private removeReplica(datanodeId: string, blockId: string): void {
    const holders = this.replicas.get(blockId);
    if (holders?.delete(datanodeId) && holders.size === 0) this.replicas.delete(blockId);
    const held = this.byDatanode.get(datanodeId);
    if (held?.delete(blockId) && held.size === 0) this.byDatanode.delete(datanodeId);
  }

  /** Blocks found complete: their pipeline's members that have not reported them yet count as pending copies (expectPipeline). O(expected). */
  private expectedToPending(state: FileMetaState, now: number): void {
    for (const [blockId, { genStamp, datanodeIds }] of [...this.expected]) {
      const block = state.blocks.get(blockId);
      if (block !== undefined && block.state !== 'complete' && block.genStamp === genStamp) continue; // still being written
      this.expected.delete(blockId);
      if (block === undefined || block.genStamp !== genStamp) continue; // deleted, or recovered on other datanodes
      // Those left never reported it (heardFrom): their reports are on their way.
      let pending = this.pending.get(blockId);
      for (const datanodeId of datanodeIds) {
        if (pending === undefined) this.pending.set(blockId, (pending = new Map()));
        pending.set(datanodeId, now + this.config.pendingReplicationTimeoutMs);
      }
    }
  }

  /** Forgets scheduled copies past their timeout, and those to a target that died meanwhile (scheduled again elsewhere at once). */
  private expirePending(now: number): void {
    for (const [blockId, targets] of this.pending) {
      for (const [datanodeId, expiresAtMs] of targets) if (expiresAtMs <= now || !this.datanodes.isLive(datanodeId, now)) targets.delete(datanodeId);
      if (targets.size === 0) this.pending.delete(blockId);
    }
    for (const [blockId, on] of this.deleting) {
      for (const [datanodeId, expiresAtMs] of on) if (expiresAtMs <= now) on.delete(datanodeId);
      if (on.size === 0) this.deleting.delete(blockId);
    }
  }

  /** Datanodes where a delete of the block is queued or handed out and not reported done. O(datanodes). */
  private deletesOf(blockId: string): string[] {
    const out = [...(this.deleting.get(blockId)?.keys() ?? [])];
    for (const [datanodeId, blocks] of this.toDelete) if (blocks.has(blockId)) out.push(datanodeId);
    return out;
  }
}

function deferredKey(datanodeId: string, blockId: string): string {
  return `${datanodeId}\u0000${blockId}`;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
