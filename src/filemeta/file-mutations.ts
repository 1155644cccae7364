// The file-metadata side of setReplication, append, truncate and concat (docs/data-path.md,
// "Append, truncate, concat, setReplication"). The namespace has checked names and
// permissions and holds the file under construction; these ops change the blocks. Each
// validates everything first and changes nothing on a failure. Order of checks, as in
// mutations.ts: arguments, WRONG_SHARD, NOT_FOUND, the file's state, then the op's own.

import { failure, type Failure } from './failure.js';
import { badArgument, isFileId, isInteger, isNonEmptyString, OP_LIST_ENTRIES_MAX, type Applied, type OpOf } from './mutations.js';
import { newFileRecord, type FileMetaState, type FileRecord } from './state.js';
import type { FileMetaConfig } from './config.js';
import type { LengthAnswer, ReplicationAnswer, TruncateAnswer } from './ops.js';

function alreadyOpen(op: { type: string }, fileId: number): Failure {
  return failure('ALREADY_BEING_CREATED', `${op.type}: file ${fileId} is open for writing (being written, appended or truncated)`);
}

/** Checks the file-creating fields shared by append and concat (used when the file is unknown here: empty, never written). */
function checkNewFileFields(state: FileMetaState, config: FileMetaConfig, op: OpOf<'append'> | OpOf<'concat'>): Failure | null {
  if (!isFileId(op.fileId)) return badArgument(op, 'fileId', op.fileId, 'a positive integer');
  if (!(isInteger(op.pool) && op.pool >= 0 && op.pool < state.pools)) return badArgument(op, 'pool', op.pool, `an integer in 0..${state.pools - 1}`);
  if (op.fileId % state.pools !== op.pool) return badArgument(op, 'pool', op.pool, `file ${op.fileId}'s pool ${op.fileId % state.pools}`);
  if (!(isInteger(op.replication) && op.replication >= 1 && op.replication <= config.replicationMax)) {
    return badArgument(op, 'replication', op.replication, `an integer in 1..${config.replicationMax}`);
  }
  if (!(isInteger(op.blockSize) && op.blockSize > 0)) return badArgument(op, 'blockSize', op.blockSize, 'a positive integer');
  if (!state.ownedPools.has(op.pool)) return failure('WRONG_SHARD', `${op.type}: pool ${op.pool} is not owned by shard ${state.shard}`);
  return null;
}


/** Changes the target replication; computeWork copies or trims towards it. An unknown file (empty) is fine. */
export function setReplication(state: FileMetaState, config: FileMetaConfig, op: OpOf<'setReplication'>): Applied {
  if (!isFileId(op.fileId)) return badArgument(op, 'fileId', op.fileId, 'a positive integer');
  if (!(isInteger(op.replication) && op.replication >= 1 && op.replication <= config.replicationMax)) {
    return badArgument(op, 'replication', op.replication, `an integer in 1..${config.replicationMax}`);
  }
  if (!state.ownedPools.has(op.fileId % state.pools)) return failure('WRONG_SHARD', `setReplication: file ${op.fileId} is not in a pool of shard ${state.shard}`);
  const file = state.files.get(op.fileId);
  if (file !== undefined) file.replication = op.replication + 0;
  const answer: ReplicationAnswer = { replication: op.replication + 0, known: file !== undefined };
  return { ok: true, value: answer };
}

/**
 * Reopens a closed file for `holder`, who then writes like a creator: addBlock with
 * previous null starts a NEW block after the current last one (HDFS's NEW_BLOCK append;
 * a partial last block is never reopened), complete closes it, and the lease rules of any
 * open file apply. An unknown file (empty: never written) is created open.
 */
export function append(state: FileMetaState, config: FileMetaConfig, op: OpOf<'append'>): Applied {
  const bad = checkNewFileFields(state, config, op);
  if (bad !== null) return bad;
  if (!isNonEmptyString(op.holder)) return badArgument(op, 'holder', op.holder, 'a client id');
  let file = state.files.get(op.fileId);
  if (file !== undefined && file.state === 'open') return alreadyOpen(op, file.fileId);
  if (file === undefined) {
    file = newFileRecord(op, null);
    state.files.set(file.fileId, file);
  }
  file.state = 'open';
  file.holder = op.holder;
  state.openFiles.add(file.fileId);
  const answer: LengthAnswer = { length: file.length };
  return { ok: true, value: answer };
}

/**
 * Cuts a closed file to newLength (≤ its length). Whole blocks past it are dropped (their
 * replicas go, as a delete's). At a block boundary that is all: done. Inside a block, that
 * block becomes the open last block at the cut length with a new genStamp, the file is open
 * for `holder` and marked truncating: the active has the datanodes cut their replicas to
 * that length (`recover` with a length) and closes the file once one reported it.
 */
export function truncate(state: FileMetaState, op: OpOf<'truncate'>): Applied {
  if (!isFileId(op.fileId)) return badArgument(op, 'fileId', op.fileId, 'a positive integer');
  if (!(isInteger(op.newLength) && op.newLength >= 0)) return badArgument(op, 'newLength', op.newLength, 'a non-negative integer');
  if (!isNonEmptyString(op.holder)) return badArgument(op, 'holder', op.holder, 'a client id');
  if (!state.ownedPools.has(op.fileId % state.pools)) return failure('WRONG_SHARD', `truncate: file ${op.fileId} is not in a pool of shard ${state.shard}`);
  const file = state.files.get(op.fileId);
  if (file === undefined) return failure('NOT_FOUND', `truncate: no file ${op.fileId} (an empty file has nothing to cut)`);
  if (file.state === 'open') return alreadyOpen(op, file.fileId);
  if (op.newLength > file.length) return failure('INVALID_ARGUMENT', `truncate: file ${file.fileId} has ${file.length} bytes, fewer than ${op.newLength}`);

  // Blocks [0, kept) end at or before newLength; `offset` is where block `kept` starts.
  let kept = 0;
  let offset = 0;
  while (kept < file.blocks.length) {
    const length = state.blocks.get(file.blocks[kept]!)!.length;
    if (offset + length > op.newLength) break;
    offset += length;
    kept++;
  }
  const cut = offset < op.newLength ? state.blocks.get(file.blocks[kept]!)! : null;
  const removed = file.blocks.splice(cut === null ? kept : kept + 1);
  for (const blockId of removed) state.blocks.delete(blockId);
  if (cut !== null) {
    cut.length = op.newLength - offset;
    cut.state = 'open';
    cut.genStamp = state.nextGenStamp++;
    file.state = 'open';
    file.holder = op.holder;
    file.truncating = true;
    state.openFiles.add(file.fileId);
  }
  file.length = op.newLength + 0;
  const answer: TruncateAnswer = { length: file.length, done: cut === null, removed };
  return { ok: true, value: answer };
}

/**
 * Moves every source's blocks, in order, to the end of the target and forgets the sources.
 * Block ids and genStamps do not change, so the datanodes' replicas stay as they are. The
 * target and the sources must be closed, in this shard, with the target's block size;
 * unknown sources (empty files, never written) are skipped, an unknown target is created
 * (empty). Repeating a done concat changes nothing (the sources are gone).
 */
export function concat(state: FileMetaState, config: FileMetaConfig, op: OpOf<'concat'>): Applied {
  const bad = checkNewFileFields(state, config, op);
  if (bad !== null) return bad;
  if (!Array.isArray(op.sources) || op.sources.length === 0 || op.sources.length > OP_LIST_ENTRIES_MAX || !op.sources.every(isFileId)) {
    return badArgument(op, 'sources', Array.isArray(op.sources) ? `${op.sources.length} entries` : op.sources, `a list of 1..${OP_LIST_ENTRIES_MAX} file ids`);
  }
  if (new Set(op.sources).size !== op.sources.length || op.sources.includes(op.fileId)) {
    return badArgument(op, 'sources', op.sources, 'distinct file ids other than the target');
  }
  for (const source of op.sources) {
    if (!state.ownedPools.has(source % state.pools)) {
      return failure('CONCAT_ACROSS_SHARDS', `concat: source ${source} is in pool ${source % state.pools}, not owned by shard ${state.shard} (the target's)`);
    }
  }
  const target = state.files.get(op.fileId);
  if (target?.state === 'open') return alreadyOpen(op, op.fileId);
  const blockSize = target?.blockSize ?? op.blockSize;
  let blockCount = target?.blocks.length ?? 0;
  const sources: FileRecord[] = [];
  for (const fileId of op.sources) {
    const source = state.files.get(fileId);
    if (source === undefined) continue;
    if (source.state === 'open') return alreadyOpen(op, fileId);
    if (source.blockSize !== blockSize) return failure('INVALID_ARGUMENT', `concat: source ${fileId} has block size ${source.blockSize}, the target ${blockSize}`);
    blockCount += source.blocks.length;
    sources.push(source);
  }
  if (blockCount > config.blocksPerFileMax) return failure('INVALID_ARGUMENT', `concat: the target would have ${blockCount} blocks, more than ${config.blocksPerFileMax}`);

  let file = target;
  if (file === undefined) {
    file = newFileRecord(op, null);
    state.files.set(file.fileId, file);
  }
  for (const source of sources) {
    for (const blockId of source.blocks) {
      state.blocks.get(blockId)!.fileId = file.fileId;
      file.blocks.push(blockId);
    }
    file.length += source.length;
    state.files.delete(source.fileId);
  }
  const answer: LengthAnswer = { length: file.length };
  return { ok: true, value: answer };
}

