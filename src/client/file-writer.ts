// Writing a file's bytes (docs/data-path.md, "Client flows"): a Node Writable with
// backpressure. NS.create has already named the file; for each block the writer asks the
// file's FMS shard for a block and a pipeline of datanodes (fms.addBlock), streams packets
// through the pipeline (src/datanode/transfer-client.ts), and at the end closes the block,
// the file in FMS (fms.complete) and the file in NS (ns.complete with its length).
//
// A pipeline member that fails is replaced without losing a byte: the FMS gives the block a
// new genStamp and a replacement datanode (fms.updatePipeline), a survivor copies the
// acknowledged prefix to the replacement, and the writer resends what was not acknowledged.
// Every FMS call goes through a ShardCaller, so an FMS failover in the middle is retried
// with the same callId and answered by the retry cache.

import { Writable } from 'node:stream';
import { TandemError } from '../errors.js';
import { BlockWriter, copyBlock, PipelineError } from '../datanode/transfer-client.js';
import { DEFAULT_DATANODE_CONFIG } from '../datanode/config.js';
import type { DatanodeRef, PipelineAnswer } from '../filemeta/ops.js';
import type { ShardCaller } from './shard-caller.js';

export interface FileWriterOptions {
  path: string;
  fileId: number;
  pool: number;
  replication: number;
  blockSize: number;
  /** The FMS shard that owns the file's pool. */
  fms: ShardCaller;
  /** Builds a mutating call's envelope (caller, clientId, a fresh callId). */
  envelope: () => { user: string; groups: string[]; clientId: string; callId: number };
  /** NS.complete, once FMS closed the file. */
  completeInNamespace: (length: number) => Promise<unknown>;
  /**
   * The file was reopened by append: its FMS shard holds it open (with its earlier blocks),
   * so it is completed there even when nothing was written.
   */
  reopened?: boolean;
  /** How often the writer renews its lease while the file is open. */
  leaseRenewIntervalMs?: number;
}

/** Pipeline rebuilds one block may go through before the write fails. */
const PIPELINE_RECOVERIES_PER_BLOCK_MAX = 5;

interface OpenBlock {
  blockId: string;
  genStamp: number;
  targets: DatanodeRef[];
  /** Null only while a pipeline is being rebuilt. */
  writer: BlockWriter | null;
  /** Bytes handed to the writer for this block. */
  bytes: number;
  recoveries: number;
}

/**
 * Refuses a block size the data path cannot write (not a multiple of the checksum chunk).
 * Checked before the file is created too (TandemClient.createFile, WebHDFS CREATE): the
 * namespace takes any positive size, and a file created that no writer can fill would stay
 * open, its path taken, until its lease ran out.
 */
export function checkBlockSize(blockSize: number): void {
  const chunk = DEFAULT_DATANODE_CONFIG.chunkBytes;
  if (blockSize % chunk !== 0) {
    throw new TandemError('INVALID_ARGUMENT', `blockSize ${blockSize} must be a multiple of the ${chunk}-byte checksum chunk`);
  }
}

export class FileWriter extends Writable {
  private block: OpenBlock | null = null;
  private previous: { blockId: string; length: number } | null = null;
  /** Bytes of the file written so far (handed to pipelines). */
  private written = 0;
  private leaseTimer: NodeJS.Timeout | null = null;
  /** Set once the file is closed: its final length. */
  length: number | null = null;

  constructor(private readonly opts: FileWriterOptions) {
    super({ highWaterMark: 4 << 20 });
    checkBlockSize(opts.blockSize);
    const renewMs = opts.leaseRenewIntervalMs ?? 10_000;
    this.leaseTimer = setInterval(() => {
      const { clientId, user } = opts.envelope();
      void opts.fms.call('fms.renewLease', { holder: clientId, user }).catch(() => undefined);
    }, renewMs);
    this.leaseTimer.unref();
  }

  /** Bytes accepted so far. */
  get bytesWritten(): number {
    return this.written;
  }

  /** The datanodes (ids, in pipeline order) of the block being written now; empty between blocks. */
  get pipeline(): string[] {
    return this.block?.targets.map((t) => t.id) ?? [];
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.append(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.close().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.block?.writer?.abort();
    callback(error);
  }

  private async append(data: Buffer): Promise<void> {
    let pos = 0;
    while (pos < data.length) {
      if (this.block && this.block.bytes === this.opts.blockSize) await this.finishBlock();
      const block = this.block ?? (await this.addBlock());
      const piece = data.subarray(pos, pos + Math.min(data.length - pos, this.opts.blockSize - block.bytes));
      // The block offset the piece starts at; after a rebuild, the new writer has taken the
      // old one's bytes up to some point inside the piece, and the rest is written from there.
      const start = block.bytes;
      let taken = 0;
      for (;;) {
        try {
          await this.block!.writer!.write(piece.subarray(taken));
          break;
        } catch (err) {
          if (!(err instanceof PipelineError)) throw err;
          taken = (await this.recoverPipeline(err)) - start;
        }
      }
      this.block!.bytes = start + piece.length;
      this.written += piece.length;
      pos += piece.length;
    }
  }

  private async addBlock(): Promise<OpenBlock> {
    const answer = await this.opts.fms.call<PipelineAnswer>('fms.addBlock', {
      ...this.opts.envelope(),
      fileId: this.opts.fileId,
      pool: this.opts.pool,
      replication: this.opts.replication,
      blockSize: this.opts.blockSize,
      previous: this.previous,
    });
    this.block = { blockId: answer.blockId, genStamp: answer.genStamp, targets: answer.targets, writer: null, bytes: 0, recoveries: 0 };
    try {
      this.block.writer = await BlockWriter.open({ targets: answer.targets, blockId: answer.blockId, genStamp: answer.genStamp, offset: 0 });
    } catch (err) {
      if (!(err instanceof PipelineError)) throw err;
      await this.recoverPipeline(err);
    }
    return this.block;
  }

  private async finishBlock(): Promise<void> {
    for (;;) {
      try {
        const done = await this.block!.writer!.finish();
        this.previous = { blockId: this.block!.blockId, length: done.length };
        this.block = null;
        return;
      } catch (err) {
        if (!(err instanceof PipelineError)) throw err;
        await this.recoverPipeline(err);
      }
    }
  }

  private async close(): Promise<void> {
    if (this.block) await this.finishBlock();
    // An empty new file has no block, so its FMS shard never heard of it: only NS completes it.
    const length =
      this.previous === null && this.opts.reopened !== true
        ? 0
        : (await this.opts.fms.call<{ length: number }>('fms.complete', { ...this.opts.envelope(), fileId: this.opts.fileId, last: this.previous })).length;
    await this.opts.completeInNamespace(length);
    this.length = length;
    if (this.leaseTimer) clearInterval(this.leaseTimer);
  }

  /**
   * A pipeline member failed. Survivors keep what every node acknowledged; the FMS bumps the
   * genStamp and picks replacements; a survivor copies the acknowledged prefix to each
   * replacement; a new pipeline opens at that offset (each node moves its replica to the
   * new genStamp) and the unacknowledged bytes are sent again. Returns the block offset the
   * new writer has taken bytes up to. A rebuild that fails is itself rebuilt, up to a bound.
   */
  private async recoverPipeline(failure: PipelineError): Promise<number> {
    const block = this.block!;
    // Every member holds `acked` bytes (at the block's genStamp, or an older one when a
    // rebuild failed before moving it); `resend` are the bytes after them the writer had
    // taken; `failed` every node that failed this block (the FMS never picks them again).
    let acked = failure.ackedBytes;
    let resend = block.writer ? block.writer.unackedData() : Buffer.alloc(0);
    const failed = new Set<string>();
    const fail = (targets: readonly DatanodeRef[], index: number): DatanodeRef[] => {
      const bad = targets[Math.min(index, targets.length - 1)];
      if (bad) failed.add(bad.id);
      return targets.filter((t) => t !== bad);
    };
    let members = fail(block.targets, failure.failedIndex);
    let last: Error = failure;
    block.writer?.abort();
    block.writer = null;
    for (;;) {
      if (++block.recoveries > PIPELINE_RECOVERIES_PER_BLOCK_MAX) {
        throw new TandemError('PIPELINE_FAILED', `block ${block.blockId} of ${this.opts.path}: gave up after ${PIPELINE_RECOVERIES_PER_BLOCK_MAX} pipeline rebuilds (last: ${last.message})`);
      }
      const answer = await this.opts.fms.call<PipelineAnswer>('fms.updatePipeline', {
        ...this.opts.envelope(),
        blockId: block.blockId,
        length: acked,
        survivors: members.map((t) => t.id),
        failed: [...failed],
      });
      block.genStamp = answer.genStamp;
      block.targets = answer.targets;
      // The FMS keeps the members it knows live, and adds replacements.
      const memberIds = new Set(members.map((t) => t.id));
      members = answer.targets.filter((t) => memberIds.has(t.id));
      const replacements = answer.targets.filter((t) => !memberIds.has(t.id));
      if (answer.targets.length === 0 || (acked > 0 && members.length === 0)) {
        // Nobody holds the acknowledged prefix any more: it cannot be written on.
        throw new TandemError('PIPELINE_FAILED', `block ${block.blockId} of ${this.opts.path}: no datanode left holding its first ${acked} bytes (last: ${last.message})`);
      }
      if (acked > 0 && replacements.length > 0) {
        const source = members[0]!;
        try {
          // The prefix, unfinalized, at the new genStamp; the new pipeline opens on it.
          await copyBlock(source.data, { blockId: block.blockId, genStamp: answer.genStamp, length: acked, targets: replacements, finalize: false, recovery: true });
        } catch (err) {
          if (!(err instanceof Error)) throw err;
          // The replacements did not get the whole prefix: none of them becomes a member.
          // A replacement failed, or else the source (unreachable, or its replica unreadable).
          if (err instanceof PipelineError && !(err.checksumFailed && err.failedIndex === 0)) fail(replacements, err.failedIndex);
          else members = fail(members, 0);
          last = err;
          continue;
        }
      }
      let writer: BlockWriter;
      try {
        writer = await BlockWriter.open({ targets: answer.targets, blockId: block.blockId, genStamp: answer.genStamp, offset: acked });
      } catch (err) {
        if (!(err instanceof PipelineError)) throw err;
        members = fail(answer.targets, err.failedIndex);
        last = err;
        continue;
      }
      try {
        if (resend.length > 0) await writer.write(resend);
      } catch (err) {
        if (!(err instanceof PipelineError)) throw err;
        // Part of `resend` may now be acknowledged, part taken, part never handed over.
        const pending = writer.unackedData();
        const handed = err.ackedBytes + pending.length - acked;
        resend = Buffer.concat([pending, resend.subarray(handed)]);
        acked = err.ackedBytes;
        writer.abort();
        members = fail(answer.targets, err.failedIndex);
        last = err;
        continue;
      }
      block.writer = writer;
      return acked + resend.length;
    }
  }
}
