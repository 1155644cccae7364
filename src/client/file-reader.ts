// Reading a file's bytes (docs/data-path.md, "Client flows"): the block list and replica
// locations come from the file's FMS shard (fms.getBlockLocations), the bytes from the
// datanodes, each chunk checked against its CRC32C. A replica that fails — unreachable, a
// bad checksum, a short read — is skipped and the read goes on from the next replica at
// the byte where it stopped; a bad checksum is also reported, so the FMS replaces that
// replica. Yields Buffers in file order (wrap in Readable.from for a stream).

import { TandemError } from '../errors.js';
import { readBlock } from '../datanode/transfer-client.js';
import { sleep } from './backoff.js';
import type { DatanodeRef } from '../filemeta/ops.js';
import type { ShardCaller } from './shard-caller.js';

export interface LocatedBlock {
  blockId: string;
  genStamp: number;
  length: number;
  offset: number;
  locations: DatanodeRef[];
}

export interface LocatedFile {
  fileId: number;
  length: number;
  blocks: LocatedBlock[];
}

export interface FileReadOptions {
  fileId: number;
  fms: ShardCaller;
  caller: { user: string; groups: string[] };
  /** Byte range: [offset, offset + length). */
  offset?: number;
  length?: number;
  /** The file's length in the namespace: a file of length 0 may be unknown to the FMS (it never had a block). */
  namespaceLength?: number;
  /** Each yielded Buffer is valid only until the next iteration (readBlock's reuseBuffers): for readers that consume as they go. */
  reuseBuffers?: boolean;
  /** Called when a replica starts serving a block from `offset` (a block offset), and when one fails (for logs and tests). */
  onReplica?: (block: string, datanode: string, offset: number) => void;
  onReplicaError?: (block: string, datanode: string, error: Error) => void;
}

/** Rounds of asking the FMS for fresh locations of one block before the read fails, the first after this pause (then doubling). */
const LOCATION_REFRESHES_MAX = 4;
const LOCATION_REFRESH_PAUSE_MS = 200;

/** A file's blocks and where their replicas are, from its FMS shard. */
export async function locateFile(opts: Pick<FileReadOptions, 'fileId' | 'fms' | 'caller' | 'namespaceLength'>): Promise<LocatedFile> {
  try {
    return await opts.fms.call<LocatedFile>('fms.getBlockLocations', { fileId: opts.fileId, ...opts.caller });
  } catch (err) {
    // A file that never had a block (empty, or not written yet) is unknown to its FMS shard.
    if (err instanceof TandemError && err.code === 'NOT_FOUND' && opts.namespaceLength === 0) return { fileId: opts.fileId, length: 0, blocks: [] };
    throw err;
  }
}

export async function* readFileBytes(opts: FileReadOptions): AsyncGenerator<Buffer> {
  const file = await locateFile(opts);
  const start = Math.max(0, opts.offset ?? 0);
  const end = Math.min(file.length, opts.length === undefined ? file.length : start + opts.length);
  // Datanodes that failed this read once: tried last for the blocks after (a dead node
  // stays listed by the FMS until its heartbeat deadline passes).
  const failedBefore = new Set<string>();
  for (const first of file.blocks) {
    const blockEnd = first.offset + first.length;
    if (blockEnd <= start || first.offset >= end) continue;
    let block = first;
    // Bytes of this block delivered so far (from its own offset 0).
    let position = Math.max(0, start - block.offset);
    const stop = Math.min(block.length, end - block.offset);
    const failedHere = new Set<string>();
    for (let refresh = 0; position < stop; ) {
      const untried = block.locations.filter((dn) => !failedHere.has(dn.id));
      const replica = untried.find((dn) => !failedBefore.has(dn.id)) ?? untried[0];
      if (!replica) {
        if (++refresh > LOCATION_REFRESHES_MAX) {
          throw new TandemError('BLOCK_MISSING', `block ${block.blockId} of file ${opts.fileId}: no replica could be read (tried ${[...failedHere].join(', ') || 'none known'})`);
        }
        // The FMS may know replicas made since (a report on its way, re-replication, a
        // datanode back): ask again after a growing pause.
        await sleep(LOCATION_REFRESH_PAUSE_MS * 2 ** (refresh - 1));
        const again = await opts.fms.call<LocatedFile>('fms.getBlockLocations', { fileId: opts.fileId, ...opts.caller });
        block = again.blocks.find((b) => b.blockId === block.blockId) ?? block;
        failedHere.clear();
        continue;
      }
      opts.onReplica?.(block.blockId, replica.id, position);
      try {
        for await (const piece of readBlock(replica.data, block.blockId, block.genStamp, position, stop - position, undefined, { reuseBuffers: opts.reuseBuffers === true })) {
          position += piece.length;
          yield piece;
        }
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        failedHere.add(replica.id);
        failedBefore.add(replica.id);
        opts.onReplicaError?.(block.blockId, replica.id, err);
        if (err instanceof TandemError && err.code === 'CHECKSUM_MISMATCH') {
          await opts.fms.call('fms.reportBadBlock', { blockId: block.blockId, datanode: replica.id, ...opts.caller }).catch(() => undefined);
        }
      }
    }
  }
}
