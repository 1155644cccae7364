// Read-only questions a master answers from the replicated state. None changes anything.

import { failure, type Failure } from './failure.js';
import type { FileMetaState } from './state.js';
import type { BlockInfo, FileInfo, OpenFileInfo } from './ops.js';

export type QueryResult<T> = { ok: true; value: T } | Failure;

/** A file and its blocks with their offsets, or NOT_FOUND. */
export function getFile(state: FileMetaState, fileId: number): QueryResult<FileInfo> {
  const file = Number.isSafeInteger(fileId) ? state.files.get(fileId) : undefined;
  if (file === undefined) return failure('NOT_FOUND', `no file ${String(fileId)} in shard ${state.shard}`);
  const blocks: BlockInfo[] = [];
  let offset = 0;
  for (const blockId of file.blocks) {
    const block = state.blocks.get(blockId)!;
    blocks.push({ blockId, genStamp: block.genStamp, length: block.length, offset, state: block.state });
    offset += block.length;
  }
  return {
    ok: true,
    value: {
      fileId: file.fileId,
      pool: file.pool,
      replication: file.replication,
      blockSize: file.blockSize,
      state: file.state,
      holder: file.holder,
      length: file.length,
      truncating: file.truncating,
      blocks,
    },
  };
}

/** Every open file with its holder and open last block, by file id: what lease recovery works on. */
export function openFiles(state: FileMetaState): OpenFileInfo[] {
  const open: OpenFileInfo[] = [];
  for (const fileId of [...state.openFiles].sort((a, b) => a - b)) {
    const file = state.files.get(fileId)!;
    const lastId = file.blocks[file.blocks.length - 1];
    const lastBlock = lastId === undefined ? null : state.blocks.get(lastId)!;
    const last = lastBlock?.state === 'open' ? lastBlock : null;
    open.push({
      fileId,
      holder: file.holder!,
      truncating: file.truncating,
      last: last === null ? null : { blockId: last.blockId, genStamp: last.genStamp, length: last.length },
    });
  }
  return open;
}

export function fileCount(state: FileMetaState): number {
  return state.files.size;
}

export function blockCount(state: FileMetaState): number {
  return state.blocks.size;
}
