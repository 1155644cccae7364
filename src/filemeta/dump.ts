// A deterministic plain-object rendering of the whole logical state, for equality checks
// (two replicas agree; replay(image, edits) equals live state). Files are sorted by id,
// blocks listed under their file in file order, so insertion order does not show; the
// retry cache keeps its storage order, which is logical state because eviction follows it.

import type { FileMetaState } from './state.js';

export interface FileMetaDump {
  shard: string;
  pools: number;
  ownedPools: number[];
  nextBlockSeq: number;
  nextGenStamp: number;
  files: {
    fileId: number;
    pool: number;
    replication: number;
    blockSize: number;
    state: 'open' | 'closed';
    holder: string | null;
    length: number;
    truncating: boolean;
    blocks: { blockId: string; genStamp: number; length: number; state: 'open' | 'complete' }[];
  }[];
  retryCache: { clientId: string; callId: number; time: number; value: unknown }[];
}

export function canonicalDump(state: FileMetaState): FileMetaDump {
  const files = [...state.files.values()]
    .sort((a, b) => a.fileId - b.fileId)
    .map((file) => ({
      fileId: file.fileId,
      pool: file.pool,
      replication: file.replication,
      blockSize: file.blockSize,
      state: file.state,
      holder: file.holder,
      length: file.length,
      truncating: file.truncating,
      blocks: file.blocks.map((blockId) => {
        const block = state.blocks.get(blockId);
        return block === undefined
          ? { blockId, genStamp: -1, length: -1, state: 'open' as const } // shows up as a difference; invariants catch it
          : { blockId, genStamp: block.genStamp, length: block.length, state: block.state };
      }),
    }));
  return {
    shard: state.shard,
    pools: state.pools,
    ownedPools: [...state.ownedPools].sort((a, b) => a - b),
    nextBlockSeq: state.nextBlockSeq,
    nextGenStamp: state.nextGenStamp,
    files,
    retryCache: state.retryCache.list().map(({ clientId, callId, time, value }) => ({ clientId, callId, time, value })),
  };
}
