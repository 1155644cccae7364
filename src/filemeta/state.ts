// The file-metadata shard's replicated state: files, their blocks, the id and genStamp
// counters and the retry cache. Soft state (where the replicas are) is in block-map.ts.

import { RetryCache } from '../replication/retry-cache.js';
import type { FileMetaConfig } from './config.js';
import type { FileMetaAnswer } from './ops.js';

/** The first block sequence number and genStamp a formatted shard hands out. */
export const FIRST_BLOCK_SEQ = 1;
export const FIRST_GEN_STAMP = 1;

export interface FileRecord {
  readonly fileId: number;
  readonly pool: number;
  /** Target replica count of every block (setReplication changes it; re-replication and trimming follow). */
  replication: number;
  readonly blockSize: number;
  /**
   * The file's blocks in order. Invariant: a closed file's are all complete; an open file's
   * are complete except the last, which is open — unless the file was reopened by append
   * and no block was added since (append starts a new block), when all are complete.
   */
  blocks: string[];
  state: 'open' | 'closed';
  /** The writer holding the lease. Invariant: non-null exactly when the file is open. */
  holder: string | null;
  /** Invariant: the sum of its blocks' lengths (an open block counts what a pipeline recovery recorded). */
  length: number;
  /**
   * A truncate cuts the open last block to its recorded length: the datanodes cut their
   * replicas (a `recover` command with that length) and the active closes the file at it.
   * Invariant: only on an open file whose last block is open.
   */
  truncating: boolean;
}

export interface BlockRecord {
  readonly blockId: string;
  /** The file listing it (concat moves blocks to its target). */
  fileId: number;
  /** Invariant: below the state's nextGenStamp; only grows (updatePipeline). */
  genStamp: number;
  /** Invariant: ≤ the file's blockSize. */
  length: number;
  state: 'open' | 'complete';
}

export interface FileMetaState {
  readonly shard: string;
  readonly pools: number;
  readonly ownedPools: ReadonlySet<number>;
  readonly files: Map<number, FileRecord>;
  /** Invariant: exactly the blocks listed by some file, each by its own file. */
  readonly blocks: Map<string, BlockRecord>;
  /** Not logical state, an index: the ids of the open files (lease recovery walks it). */
  readonly openFiles: Set<number>;
  /** The sequence number of the next block id. Invariant: above every block id's ever handed out. */
  nextBlockSeq: number;
  /** The next genStamp. Invariant: above every block's genStamp. */
  nextGenStamp: number;
  readonly retryCache: RetryCache<FileMetaAnswer>;
}

export function createEmptyState(config: FileMetaConfig): FileMetaState {
  return {
    shard: config.shard,
    pools: config.pools,
    ownedPools: new Set(config.ownedPools),
    files: new Map(),
    blocks: new Map(),
    openFiles: new Set(),
    nextBlockSeq: FIRST_BLOCK_SEQ,
    nextGenStamp: FIRST_GEN_STAMP,
    retryCache: new RetryCache<FileMetaAnswer>(config),
  };
}

/** A file with no block yet: open for `holder`, or closed when holder is null. */
export function newFileRecord(fields: { fileId: number; pool: number; replication: number; blockSize: number }, holder: string | null): FileRecord {
  return {
    fileId: fields.fileId + 0,
    pool: fields.pool + 0,
    replication: fields.replication + 0,
    blockSize: fields.blockSize + 0,
    blocks: [],
    state: holder === null ? 'closed' : 'open',
    holder,
    length: 0,
    truncating: false,
  };
}

export function blockIdOf(shard: string, seq: number): string {
  return `${shard}_${seq}`;
}

const BLOCK_ID = /^(.+)_(0|[1-9][0-9]{0,15})$/;

/** The shard and sequence number of a well-formed block id, or null. */
export function parseBlockId(blockId: unknown): { shard: string; seq: number } | null {
  if (typeof blockId !== 'string' || blockId.length > 200) return null;
  const match = BLOCK_ID.exec(blockId);
  if (match === null) return null;
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(seq)) return null;
  return { shard: match[1]!, seq };
}
