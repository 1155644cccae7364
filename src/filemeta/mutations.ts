// The file-metadata mutations (setReplication, append, truncate and concat are in
// file-mutations.ts). Each handler validates everything first — arguments,
// shard, existence, lease, the block it names — and only then changes the state, so a
// handler that returns a Failure has changed nothing (the StateMachine contract). One
// order of checks: arguments, WRONG_SHARD, NOT_FOUND, FILE_NOT_OPEN, LEASE_MISMATCH, then
// the block the op names (INVALID_ARGUMENT).
//
// Lengths: a block's length is 0 when it is allocated, set by updatePipeline to the prefix
// every surviving replica acknowledged, and fixed when the block completes. The writer's
// final length (addBlock's `previous`, complete's `last`) may not be below what a pipeline
// recovery recorded — acknowledged bytes are never taken back — and never above the
// file's blockSize. Lease recovery is the exception: it closes the block at whatever
// length the replicas agree on, which the active measured, so only the blockSize bound
// applies. A file's length is always the sum of its blocks' lengths.

import { failure, quote, type Failure } from './failure.js';
import { blockIdOf, newFileRecord, parseBlockId, type BlockRecord, type FileMetaState, type FileRecord } from './state.js';
import type { FileMetaConfig } from './config.js';
import { append, concat, setReplication, truncate } from './file-mutations.js';
import type { BlockExtent, DatanodeRef, DeleteFilesAnswer, FileMetaAnswer, FileMetaMutation, LengthAnswer, PipelineAnswer } from './ops.js';

export type Applied = { ok: true; value: FileMetaAnswer } | Failure;

export type OpOf<Type extends FileMetaMutation['type']> = Extract<FileMetaMutation, { type: Type }>;

/** Largest number of datanode ids, or of file ids, one op may carry (far above any real call; bounds a hostile one). */
export const OP_LIST_ENTRIES_MAX = 100_000;

export function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

export function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 1024;
}

export function badArgument(op: { type: string }, field: string, value: unknown, expected: string): Failure {
  const shown = typeof value === 'object' && value !== null ? JSON.stringify(value) ?? String(value) : String(value);
  return failure('INVALID_ARGUMENT', `${op.type}: ${field} must be ${expected}, got ${quote(shown)}`);
}

export function isFileId(value: unknown): value is number {
  return isInteger(value) && value > 0;
}

/** A copy of a valid target list, or the failure saying what is wrong with it. */
function checkTargets(op: { type: string }, targets: unknown, config: FileMetaConfig): DatanodeRef[] | Failure {
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > config.replicationMax) {
    return badArgument(op, 'targets', Array.isArray(targets) ? `${targets.length} datanodes` : targets, `a list of 1..${config.replicationMax} datanodes`);
  }
  const copy: DatanodeRef[] = [];
  const ids = new Set<string>();
  for (const target of targets as unknown[]) {
    const ref = target as Partial<DatanodeRef> | null;
    if (typeof ref !== 'object' || ref === null || !isNonEmptyString(ref.id) || !isNonEmptyString(ref.data)) {
      return badArgument(op, 'targets[i]', target, '{id, data} with non-empty strings');
    }
    if (ids.has(ref.id)) return badArgument(op, 'targets', ref.id, 'distinct datanodes');
    ids.add(ref.id);
    copy.push({ id: ref.id, data: ref.data });
  }
  return copy;
}

function checkExtentShape(op: { type: string }, field: string, extent: unknown): BlockExtent | null | Failure {
  if (extent === null) return null;
  const value = extent as Partial<BlockExtent> | undefined;
  if (typeof value !== 'object' || !isNonEmptyString(value.blockId) || !(isInteger(value.length) && value.length >= 0)) {
    return badArgument(op, field, extent, 'null or {blockId, length ≥ 0}');
  }
  return { blockId: value.blockId, length: value.length + 0 };
}

export function isFailure(value: unknown): value is Failure {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}

/**
 * Checks that `extent` names the open last block of `file` correctly, as `field` of `op`:
 * null exactly when the file has no block. `minimumLength` is the shortest length allowed.
 */
function checkLast(
  state: FileMetaState,
  op: { type: string },
  field: string,
  file: FileRecord,
  extent: BlockExtent | null,
  keepAcknowledged: boolean,
): { block: BlockRecord | null } | Failure {
  const lastId = file.blocks[file.blocks.length - 1];
  // A file reopened by append keeps its last block complete until the writer adds one.
  if (lastId === undefined || state.blocks.get(lastId)!.state !== 'open') {
    if (extent === null) return { block: null };
    return failure('INVALID_ARGUMENT', `${op.type}: file ${file.fileId} has no open block, but ${field} names ${quote(extent.blockId)}`);
  }
  if (extent === null) return failure('INVALID_ARGUMENT', `${op.type}: ${field} must name the last block of file ${file.fileId}, ${lastId}`);
  if (extent.blockId !== lastId) {
    return failure('INVALID_ARGUMENT', `${op.type}: ${field} is ${quote(extent.blockId)}, but the last block of file ${file.fileId} is ${lastId}`);
  }
  const block = state.blocks.get(lastId)!;
  if (extent.length > file.blockSize) {
    return failure('INVALID_ARGUMENT', `${op.type}: ${field} length ${extent.length} exceeds the file's block size ${file.blockSize}`);
  }
  if (keepAcknowledged && extent.length < block.length) {
    return failure('INVALID_ARGUMENT', `${op.type}: ${field} length ${extent.length} is below the ${block.length} bytes a pipeline recovery recorded for ${lastId}`);
  }
  return { block };
}

export function setBlockLength(file: FileRecord, block: BlockRecord, length: number): void {
  file.length += length - block.length;
  block.length = length;
}

function addBlock(state: FileMetaState, config: FileMetaConfig, op: OpOf<'addBlock'>): Applied {
  if (!isFileId(op.fileId)) return badArgument(op, 'fileId', op.fileId, 'a positive integer');
  if (!(isInteger(op.pool) && op.pool >= 0 && op.pool < state.pools)) return badArgument(op, 'pool', op.pool, `an integer in 0..${state.pools - 1}`);
  if (!(isInteger(op.replication) && op.replication >= 1 && op.replication <= config.replicationMax)) {
    return badArgument(op, 'replication', op.replication, `an integer in 1..${config.replicationMax}`);
  }
  if (!(isInteger(op.blockSize) && op.blockSize > 0)) return badArgument(op, 'blockSize', op.blockSize, 'a positive integer');
  if (!isNonEmptyString(op.holder)) return badArgument(op, 'holder', op.holder, 'a client id');
  const previous = checkExtentShape(op, 'previous', op.previous);
  if (isFailure(previous)) return previous;
  const targets = checkTargets(op, op.targets, config);
  if (isFailure(targets)) return targets;
  if (!state.ownedPools.has(op.pool)) return failure('WRONG_SHARD', `addBlock: pool ${op.pool} is not owned by shard ${state.shard}`);

  let file = state.files.get(op.fileId);
  let last: BlockRecord | null = null;
  if (file === undefined) {
    if (previous !== null) {
      return failure('NOT_FOUND', `addBlock: file ${op.fileId} has no block yet, so previous ${quote(previous.blockId)} cannot be one of its`);
    }
  } else {
    if (file.pool !== op.pool) return failure('INVALID_ARGUMENT', `addBlock: file ${op.fileId} is in pool ${file.pool}, not ${op.pool}`);
    if (file.state !== 'open') return failure('FILE_NOT_OPEN', `addBlock: file ${op.fileId} is closed`);
    if (file.truncating) return beingTruncated(op, file);
    if (file.holder !== op.holder) {
      return failure('LEASE_MISMATCH', `addBlock: file ${op.fileId} is open for writing by ${quote(String(file.holder))}, not ${quote(op.holder)}`);
    }
    const checked = checkLast(state, op, 'previous', file, previous, true);
    if (isFailure(checked)) return checked;
    last = checked.block;
    if (file.blocks.length >= config.blocksPerFileMax) {
      return failure('INVALID_ARGUMENT', `addBlock: file ${op.fileId} already has ${file.blocks.length} blocks, the most a file may have`);
    }
  }

  if (file === undefined) {
    file = newFileRecord(op, op.holder);
    state.files.set(file.fileId, file);
    state.openFiles.add(file.fileId);
  }
  if (last !== null) {
    setBlockLength(file, last, previous!.length);
    last.state = 'complete';
  }
  const block: BlockRecord = {
    blockId: blockIdOf(state.shard, state.nextBlockSeq++),
    fileId: file.fileId,
    genStamp: state.nextGenStamp++,
    length: 0,
    state: 'open',
  };
  state.blocks.set(block.blockId, block);
  file.blocks.push(block.blockId);
  const answer: PipelineAnswer = { blockId: block.blockId, genStamp: block.genStamp, targets };
  return { ok: true, value: answer };
}

/** A writer's call on a file whose last block the datanodes are cutting: only the active's truncate recovery closes it. */
function beingTruncated(op: { type: string }, file: FileRecord): Failure {
  return failure('ALREADY_BEING_CREATED', `${op.type}: file ${file.fileId} is being truncated; it closes when the datanodes have cut its last block`);
}

/** The block an op names, if it is a well-formed id of this shard that exists. */
function findBlock(state: FileMetaState, op: { type: string }, blockId: unknown): BlockRecord | Failure {
  const parsed = parseBlockId(blockId);
  if (parsed === null) return badArgument(op, 'blockId', blockId, 'a block id <shard>_<seq>');
  if (parsed.shard !== state.shard) return failure('WRONG_SHARD', `${op.type}: block ${quote(blockId as string)} belongs to shard ${quote(parsed.shard)}, not ${state.shard}`);
  const block = state.blocks.get(blockId as string);
  if (block === undefined) return failure('NOT_FOUND', `${op.type}: no block ${quote(blockId as string)}`);
  return block;
}

function updatePipeline(state: FileMetaState, config: FileMetaConfig, op: OpOf<'updatePipeline'>): Applied {
  if (!isNonEmptyString(op.holder)) return badArgument(op, 'holder', op.holder, 'a client id');
  if (!(isInteger(op.length) && op.length >= 0)) return badArgument(op, 'length', op.length, 'a non-negative integer');
  const targets = checkTargets(op, op.targets, config);
  if (isFailure(targets)) return targets;
  const block = findBlock(state, op, op.blockId);
  if (isFailure(block)) return block;
  const file = state.files.get(block.fileId)!;
  // Only the open last block of an open file is being written.
  if (block.state !== 'open') return failure('FILE_NOT_OPEN', `updatePipeline: block ${block.blockId} of file ${file.fileId} is complete`);
  if (file.truncating) return beingTruncated(op, file);
  if (file.holder !== op.holder) {
    return failure('LEASE_MISMATCH', `updatePipeline: file ${file.fileId} is open for writing by ${quote(String(file.holder))}, not ${quote(op.holder)}`);
  }
  const checked = checkLast(state, op, 'the block', file, { blockId: block.blockId, length: op.length }, true);
  if (isFailure(checked)) return checked;

  setBlockLength(file, block, op.length + 0);
  block.genStamp = state.nextGenStamp++;
  const answer: PipelineAnswer = { blockId: block.blockId, genStamp: block.genStamp, targets };
  return { ok: true, value: answer };
}

/** complete and recoverLease: completes the last block at `last.length` and closes the file. */
function close(state: FileMetaState, op: OpOf<'complete'> | OpOf<'recoverLease'>, holder: string | null): Applied {
  if (!isFileId(op.fileId)) return badArgument(op, 'fileId', op.fileId, 'a positive integer');
  const last = checkExtentShape(op, 'last', op.last);
  if (isFailure(last)) return last;
  const file = state.files.get(op.fileId);
  if (file === undefined) return failure('NOT_FOUND', `${op.type}: no file ${op.fileId}`);
  if (file.state !== 'open') return failure('FILE_NOT_OPEN', `${op.type}: file ${op.fileId} is closed`);
  if (holder !== null && file.truncating) return beingTruncated(op, file);
  if (holder !== null && file.holder !== holder) {
    return failure('LEASE_MISMATCH', `${op.type}: file ${file.fileId} is open for writing by ${quote(String(file.holder))}, not ${quote(holder)}`);
  }
  const checked = checkLast(state, op, 'last', file, last, op.type === 'complete');
  if (isFailure(checked)) return checked;

  if (checked.block !== null) {
    setBlockLength(file, checked.block, last!.length);
    checked.block.state = 'complete';
  }
  file.state = 'closed';
  file.holder = null;
  file.truncating = false;
  state.openFiles.delete(file.fileId);
  const answer: LengthAnswer = { length: file.length };
  return { ok: true, value: answer };
}

function deleteFiles(state: FileMetaState, op: OpOf<'deleteFiles'>): Applied {
  if (!Array.isArray(op.fileIds) || op.fileIds.length > OP_LIST_ENTRIES_MAX || !op.fileIds.every(isFileId)) {
    return badArgument(op, 'fileIds', Array.isArray(op.fileIds) ? `${op.fileIds.length} entries` : op.fileIds, `a list of at most ${OP_LIST_ENTRIES_MAX} positive integers`);
  }
  const answer: DeleteFilesAnswer = { deleted: 0, blocks: [] };
  for (const fileId of op.fileIds) {
    const file = state.files.get(fileId);
    if (file === undefined) continue; // unknown or already deleted: deleteFiles is idempotent
    for (const blockId of file.blocks) {
      state.blocks.delete(blockId);
      answer.blocks.push(blockId);
    }
    state.files.delete(fileId);
    state.openFiles.delete(fileId);
    answer.deleted++;
  }
  return { ok: true, value: answer };
}

export function applyMutation(state: FileMetaState, config: FileMetaConfig, op: FileMetaMutation): Applied {
  switch (op.type) {
    case 'addBlock':
      return addBlock(state, config, op);
    case 'updatePipeline':
      return updatePipeline(state, config, op);
    case 'complete':
      if (!isNonEmptyString(op.holder)) return badArgument(op, 'holder', op.holder, 'a client id');
      return close(state, op, op.holder);
    case 'recoverLease':
      return close(state, op, null);
    case 'deleteFiles':
      return deleteFiles(state, op);
    case 'setReplication':
      return setReplication(state, config, op);
    case 'append':
      return append(state, config, op);
    case 'truncate':
      return truncate(state, op);
    case 'concat':
      return concat(state, config, op);
    default:
      return failure('INVALID_ARGUMENT', `unknown file-metadata op type ${quote(String((op as { type?: unknown }).type))}`);
  }
}
