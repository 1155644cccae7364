// Runs the commands a datanode takes from FMS actives (delete, replicate) in the
// background, so that heartbeats go on while a block is being copied: a copy of a large
// block can take longer than the FMS's heartbeat deadline, and a datanode busy copying must
// not be taken for dead (that would schedule yet more copies).
//
// Bounded: copies run at most copiesInFlightMax at a time, at most copiesQueuedMax wait
// (more are dropped and said: the FMS schedules them again once its pending copy times
// out), and the same block is never copied twice at once. Deletes run one after another.
// The FMS throttles too: every heartbeat says how many copies are running or waiting here
// (copiesInProgress), and the active hands out new ones only below its limit.

import type { Logger } from '../util/log.js';
import type { FmsCommand } from './fms-links.js';

type ReplicateCommand = Extract<FmsCommand, { type: 'replicate' }>;

export interface CommandRunnerOptions {
  /** Deletes a replica unless it is at a genStamp newer than genStampMax (see DatanodeCommand). */
  deleteReplica: (blockId: string, genStampMax: number) => Promise<'deleted' | 'absent' | 'newer'>;
  /** Block recovery: finalizes what this datanode holds of a block (at most lengthMax bytes: a truncate) at a newer genStamp, and reports it. */
  recoverReplica: (blockId: string, genStamp: number, lengthMax?: number) => Promise<void>;
  /** A replica is gone (tell the FMS members). */
  onDeleted: (blockId: string) => void;
  /** Copies one replica to the command's targets. */
  copy: (command: ReplicateCommand) => Promise<void>;
  log: Logger;
  copiesInFlightMax: number;
  copiesQueuedMax: number;
}

/** Replicas waiting to be deleted, at most; a delete past it is dropped (and sent again later). */
const DELETE_BLOCKS_QUEUED_MAX = 100_000;
/** Block recoveries waiting, at most (each is one dead writer's last block). */
const RECOVERIES_QUEUED_MAX = 1_024;

export class CommandRunner {
  private readonly copiesWaiting: { shard: string; command: ReplicateCommand }[] = [];
  /** Block ids being copied or waiting to be. Invariant: size = copiesRunning + copiesWaiting.length. */
  private readonly copying = new Set<string>();
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

  /** Takes a command; returns at once (it runs in the background). */
  submit(shard: string, command: FmsCommand): void {
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
    if (this.copying.has(command.blockId)) return; // the same copy is under way
    if (this.copiesWaiting.length >= this.opts.copiesQueuedMax) {
      this.opts.log.warn({ shard, blockId: command.blockId, waiting: this.copiesWaiting.length }, `dropped the copy of ${command.blockId} asked by ${shard}: ${this.copiesWaiting.length} copies wait already`);
      return;
    }
    this.copying.add(command.blockId);
    this.copiesWaiting.push({ shard, command });
    this.startCopies();
  }

  private startCopies(): void {
    while (!this.stopped && this.copiesRunning < this.opts.copiesInFlightMax && this.copiesWaiting.length > 0) {
      const { shard, command } = this.copiesWaiting.shift()!;
      this.copiesRunning++;
      void this.runCopy(shard, command).finally(() => {
        this.copiesRunning--;
        this.copying.delete(command.blockId);
        this.startCopies();
      });
    }
  }

  private async runCopy(shard: string, command: ReplicateCommand): Promise<void> {
    const targets = command.targets.map((t) => t.id).join(', ');
    this.opts.log.info({ shard, blockId: command.blockId, targets: command.targets.map((t) => t.id) }, `copying ${command.blockId} to ${targets} as ${shard} asked`);
    try {
      await this.opts.copy(command);
    } catch (err) {
      this.opts.log.warn({ err, shard, blockId: command.blockId }, `copy of ${command.blockId} to ${targets} failed: ${(err as Error).message}`);
    }
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
    this.copiesWaiting.length = 0;
    await this.deletes;
  }
}
