// Runs the commands a datanode takes from FMS actives (delete, replicate) in the
// background, so that heartbeats go on while a block is being copied: a copy of a large
// block can take longer than the FMS's heartbeat deadline, and a datanode busy copying must
// not be taken for dead (that would schedule yet more copies).
//
// Bounded: copies run at most copiesInFlightMax at a time, at most copiesQueuedMax wait,
// and the same block is never copied twice at once to the same target. Deletes run one
// after another. The FMS throttles too: every heartbeat says how many copies are running or
// waiting here (copiesInProgress), and the active hands out new ones only below its limit.
//
// A copy that does not end with the block on a target — it failed, the target refused it,
// or it was dropped because too many wait — is handed to `onCopyFailed` for every member
// that asked for it, which tells them in its next heartbeat (src/datanode/copy-failures.ts):
// the member then schedules the block again at once instead of waiting out its pending
// timeout. A command for a block already being copied to the same target is not a failure:
// it joins that copy, and hears of its failure too.
//
// Why per target: the FMS may hand out two copies of one block from the same source a round
// apart — to the datanode whose delete was reported first, then to the other (setReplication
// 3 → 1 → 3). Deduplicated by block alone, the second was dropped without a word, and its
// target counted as pending for the whole timeout.

import type { Logger } from '../util/log.js';
import type { CopyFailure } from './copy-failures.js';
import type { FmsCommand } from './fms-links.js';

type ReplicateCommand = Extract<FmsCommand, { type: 'replicate' }>;

/** One copy running or waiting: a replicate command, less the targets another copy serves already. */
interface CopyJob {
  shard: string;
  command: ReplicateCommand;
  /** Members of `shard` that asked for it: each hears if it fails. Bounded by the shard's members. */
  askedBy: Set<string>;
}

export interface CommandRunnerOptions {
  /** Deletes a replica unless it is at a genStamp newer than genStampMax (see DatanodeCommand). */
  deleteReplica: (blockId: string, genStampMax: number) => Promise<'deleted' | 'absent' | 'newer'>;
  /** Block recovery: finalizes what this datanode holds of a block (at most lengthMax bytes: a truncate) at a newer genStamp, and reports it. */
  recoverReplica: (blockId: string, genStamp: number, lengthMax?: number) => Promise<void>;
  /** A replica is gone (tell the FMS members). */
  onDeleted: (blockId: string) => void;
  /** Copies one replica to the command's targets. */
  copy: (command: ReplicateCommand) => Promise<void>;
  /** Copies asked by `member` of `shard` that did not land (tell it in the next heartbeat). */
  onCopyFailed?: (shard: string, member: string, failures: CopyFailure[]) => void;
  log: Logger;
  copiesInFlightMax: number;
  copiesQueuedMax: number;
}

/** Replicas waiting to be deleted, at most; a delete past it is dropped (and sent again later). */
const DELETE_BLOCKS_QUEUED_MAX = 100_000;
/** Block recoveries waiting, at most (each is one dead writer's last block). */
const RECOVERIES_QUEUED_MAX = 1_024;

export class CommandRunner {
  private readonly copiesWaiting: CopyJob[] = [];
  /**
   * `blockId\0targetId` → the job running or waiting that copies that block there. Invariant:
   * its keys are exactly the (block, target) pairs of the running and waiting jobs.
   */
  private readonly copying = new Map<string, CopyJob>();
  private copiesRunning = 0;
  private deletes: Promise<void> = Promise.resolve();
  /** Block ids in delete commands taken and not done yet. Bounded by DELETE_BLOCKS_QUEUED_MAX. */
  private deletesQueued = 0;
  /** Block recoveries run one after another; at most RECOVERIES_QUEUED_MAX wait. */
  private recoveries: Promise<void> = Promise.resolve();
  private recoveriesQueued = 0;
  private stopped = false;

  constructor(private readonly opts: CommandRunnerOptions) {}

  /** Replicas waiting to be deleted here (sent with every heartbeat: the FMS holds back its next batch meanwhile). */
  get deletesInProgress(): number {
    return this.deletesQueued;
  }

  /** Copies running or waiting here. */
  get copiesInProgress(): number {
    return this.copiesRunning + this.copiesWaiting.length;
  }

  /**
   * Takes a command of `member`, the active of `shard`; returns at once (it runs in the
   * background). Without `member`, a copy that fails is only logged.
   */
  submit(shard: string, command: FmsCommand, member?: string): void {
    if (this.stopped) return;
    if (command.type === 'delete') {
      const count = command.blockIds.length;
      if (this.deletesQueued + count > DELETE_BLOCKS_QUEUED_MAX) {
        // The FMS sends the deletes again when this datanode's next full report lists the replicas.
        this.opts.log.warn({ shard, blocks: count, queued: this.deletesQueued }, `dropped a delete of ${count} replicas asked by ${shard}: ${this.deletesQueued} wait already`);
        return;
      }
      this.deletesQueued += count;
      this.deletes = this.deletes.then(() => this.runDelete(shard, command.blockIds, command.genStampsMax)).finally(() => {
        this.deletesQueued -= count;
      });
      return;
    }
    if (command.type === 'recover') {
      if (this.recoveriesQueued >= RECOVERIES_QUEUED_MAX) {
        this.opts.log.warn({ shard, blockId: command.blockId }, `dropped the recovery of ${command.blockId} asked by ${shard}: ${this.recoveriesQueued} wait already`);
        return;
      }
      this.recoveriesQueued++;
      this.recoveries = this.recoveries
        .then(() => this.opts.recoverReplica(command.blockId, command.genStamp, command.length))
        .catch((err: unknown) => this.opts.log.warn({ err, shard, blockId: command.blockId }, `could not recover ${command.blockId}: ${(err as Error).message}`))
        .finally(() => {
          this.recoveriesQueued--;
        });
      return;
    }
    // Targets a copy under way serves already: this command joins it (the FMS asked again,
    // e.g. after its pending entry expired, or a new active did).
    const fresh = command.targets.filter((target) => {
      const job = this.copying.get(copyKey(command.blockId, target.id));
      if (job !== undefined && member !== undefined) job.askedBy.add(member);
      return job === undefined;
    });
    if (fresh.length === 0) {
      this.opts.log.debug({ shard, blockId: command.blockId }, `${command.blockId} is being copied to ${targetList(command.targets)} already`);
      return;
    }
    const job: CopyJob = { shard, command: fresh.length === command.targets.length ? command : { ...command, targets: fresh }, askedBy: new Set(member === undefined ? [] : [member]) };
    if (this.copiesWaiting.length >= this.opts.copiesQueuedMax) {
      this.failed(job, `dropped before it started: ${this.copiesWaiting.length} copies wait already on this datanode`);
      return;
    }
    for (const target of fresh) this.copying.set(copyKey(command.blockId, target.id), job);
    this.copiesWaiting.push(job);
    this.startCopies();
  }

  private startCopies(): void {
    while (!this.stopped && this.copiesRunning < this.opts.copiesInFlightMax && this.copiesWaiting.length > 0) {
      const job = this.copiesWaiting.shift()!;
      this.copiesRunning++;
      void this.runCopy(job).finally(() => {
        this.copiesRunning--;
        for (const target of job.command.targets) this.copying.delete(copyKey(job.command.blockId, target.id));
        this.startCopies();
      });
    }
  }

  private async runCopy(job: CopyJob): Promise<void> {
    const { shard, command } = job;
    this.opts.log.info({ shard, blockId: command.blockId, targets: command.targets.map((t) => t.id) }, `copying ${command.blockId} to ${targetList(command.targets)} as ${shard} asked`);
    try {
      await this.opts.copy(command);
    } catch (err) {
      // Every target counts as failed: a pipeline that breaks finalizes none of them (one that
      // did finalize reports the block, and the FMS then has no pending entry left to drop).
      this.failed(job, (err as Error).message);
    }
  }

  /** Says in the log that a copy did not land, and hands it to onCopyFailed for each member that asked. */
  private failed(job: CopyJob, reason: string): void {
    const { shard, command } = job;
    const askedBy = [...job.askedBy].map((member) => `${shard}/${member}`);
    this.opts.log.warn(
      { shard, blockId: command.blockId, targets: command.targets.map((t) => t.id), askedBy, reason },
      `copy of ${command.blockId} to ${targetList(command.targets)} did not land: ${reason}; ${askedBy.length > 0 ? `${askedBy.join(' and ')} hears of it in the next heartbeat and schedules it again` : `nobody to tell: ${shard} schedules it again after its pending timeout`}`,
    );
    if (this.opts.onCopyFailed === undefined) return;
    const failures = command.targets.map((target) => ({ blockId: command.blockId, target: target.id, reason }));
    for (const member of job.askedBy) this.opts.onCopyFailed(shard, member, failures);
  }

  private async runDelete(shard: string, blockIds: readonly string[], genStampsMax: readonly number[]): Promise<void> {
    let deleted = 0;
    for (const [i, blockId] of blockIds.entries()) {
      if (this.stopped) return;
      try {
        const genStampMax = genStampsMax[i] ?? 0; // a malformed command deletes nothing
        const outcome = await this.opts.deleteReplica(blockId, genStampMax);
        if (outcome === 'newer') {
          // A pipeline recovery moved it past the stale copy the FMS meant: it stays (and is reported as it is).
          this.opts.log.info({ shard, blockId, genStampMax }, `kept ${blockId}: it is newer than genStamp ${genStampMax}, which ${shard} asked to delete`);
          continue;
        }
        if (outcome === 'deleted') deleted++;
        this.opts.onDeleted(blockId);
      } catch (err) {
        this.opts.log.warn({ err, shard, blockId }, `could not delete ${blockId}: ${(err as Error).message}`);
      }
    }
    this.opts.log.info({ shard, blocks: blockIds.length, deleted }, `deleted ${deleted} replicas as ${shard} asked`);
  }

  /** Takes no more commands; waits for the deletes under way (copies end with their sockets). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.copiesWaiting.splice(0)) for (const target of job.command.targets) this.copying.delete(copyKey(job.command.blockId, target.id));
    await this.deletes;
  }
}

function copyKey(blockId: string, targetId: string): string {
  return `${blockId}\u0000${targetId}`;
}

function targetList(targets: readonly { id: string }[]): string {
  return targets.map((t) => t.id).join(', ');
}
