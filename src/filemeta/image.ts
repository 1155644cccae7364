// The file-metadata image: the whole replicated state as one msgpack-encodable value, the
// payload of an fsimage file. Files are columns sorted by file id; their blocks follow as
// columns in file order (file i owns the next blockCount[i] entries), so two replicas with
// the same logical state write the same image. Derived facts are not stored: a block id is
// `${shard}_${seq}`, a file's length is the sum of its blocks', a block is open exactly
// when it is the last block of an open file.
//
// fromImage trusts nothing: an image may be truncated, corrupted past its checksum, from
// another version or another shard. Every field is checked and a malformed image throws a
// plain Error saying what is wrong, before any state is handed out.

import { createEmptyState, blockIdOf, FIRST_BLOCK_SEQ, FIRST_GEN_STAMP, type BlockRecord, type FileMetaState, type FileRecord } from './state.js';
import type { FileMetaConfig } from './config.js';
import type { DatanodeRef, FileMetaAnswer } from './ops.js';
import type { RetryEntry } from '../replication/retry-cache.js';

export const FILE_META_IMAGE_VERSION = 2;
/** Version 1 images (before append and truncate) still load: every open file's last block is open, none truncating. */
const OLDEST_READABLE_VERSION = 1;

/** Bits of FileMetaImage.files.flags (version 2 on). */
const FLAG_LAST_BLOCK_OPEN = 1;
const FLAG_TRUNCATING = 2;

export interface FileMetaImage {
  version: number;
  shard: string;
  pools: number;
  ownedPools: number[];
  nextBlockSeq: number;
  nextGenStamp: number;
  /** Column i of every array describes file i; sorted by fileId. */
  files: {
    fileId: number[];
    pool: number[];
    replication: number[];
    blockSize: number[];
    /** The lease holder of an open file; null for a closed one. */
    holder: (string | null)[];
    blockCount: number[];
    /** FLAG_LAST_BLOCK_OPEN (an open file reopened by append has none until it adds a block), FLAG_TRUNCATING. */
    flags: number[];
  };
  /** The blocks of file 0, then of file 1, …, each file's in order. */
  blocks: { seq: number[]; genStamp: number[]; length: number[] };
  /** Retry cache entries in storage (eviction) order. */
  retry: { clientId: string[]; callId: number[]; time: number[]; value: FileMetaAnswer[] };
}

export function toImage(state: FileMetaState): FileMetaImage {
  const files: FileMetaImage['files'] = { fileId: [], pool: [], replication: [], blockSize: [], holder: [], blockCount: [], flags: [] };
  const blocks: FileMetaImage['blocks'] = { seq: [], genStamp: [], length: [] };
  const prefix = state.shard.length + 1;
  for (const fileId of [...state.files.keys()].sort((a, b) => a - b)) {
    const file = state.files.get(fileId)!;
    files.fileId.push(fileId);
    files.pool.push(file.pool);
    files.replication.push(file.replication);
    files.blockSize.push(file.blockSize);
    files.holder.push(file.holder);
    files.blockCount.push(file.blocks.length);
    const lastId = file.blocks[file.blocks.length - 1];
    const lastOpen = lastId !== undefined && state.blocks.get(lastId)!.state === 'open';
    files.flags.push((lastOpen ? FLAG_LAST_BLOCK_OPEN : 0) | (file.truncating ? FLAG_TRUNCATING : 0));
    for (const blockId of file.blocks) {
      const block = state.blocks.get(blockId)!;
      blocks.seq.push(Number(blockId.slice(prefix)));
      blocks.genStamp.push(block.genStamp);
      blocks.length.push(block.length);
    }
  }
  const retry: FileMetaImage['retry'] = { clientId: [], callId: [], time: [], value: [] };
  for (const entry of state.retryCache.list()) {
    retry.clientId.push(entry.clientId);
    retry.callId.push(entry.callId);
    retry.time.push(entry.time);
    retry.value.push(entry.value);
  }
  return {
    version: FILE_META_IMAGE_VERSION,
    shard: state.shard,
    pools: state.pools,
    ownedPools: [...state.ownedPools].sort((a, b) => a - b),
    nextBlockSeq: state.nextBlockSeq,
    nextGenStamp: state.nextGenStamp,
    files,
    blocks,
    retry,
  };
}

function malformed(what: string): never {
  throw new Error(`malformed file-metadata image: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function arrayField(record: Record<string, unknown>, field: string, where: string, length?: number): unknown[] {
  const value = record[field];
  if (!Array.isArray(value)) malformed(`${where}.${field} is not an array`);
  if (length !== undefined && value.length !== length) malformed(`${where}.${field} has ${value.length} entries, expected ${length}`);
  return value;
}

function integerAt(column: unknown[], index: number, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = column[index];
  if (!isInteger(value) || value < min || value > max) malformed(`${where}[${index}] is ${String(value)}, expected an integer in ${min}..${max}`);
  return value + 0;
}

function hasExactKeys(value: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
}

/** A fresh copy of a stored answer, or null when it is not one of the ops' answers. */
function copyAnswer(value: unknown): FileMetaAnswer | null {
  if (!isRecord(value)) return null;
  if (hasExactKeys(value, ['length'])) {
    return isInteger(value.length) && value.length >= 0 ? { length: value.length + 0 } : null;
  }
  if (hasExactKeys(value, ['replication', 'known'])) {
    return isInteger(value.replication) && value.replication >= 1 && typeof value.known === 'boolean' ? { replication: value.replication + 0, known: value.known } : null;
  }
  if (hasExactKeys(value, ['length', 'done', 'removed'])) {
    if (!(isInteger(value.length) && value.length >= 0) || typeof value.done !== 'boolean' || !Array.isArray(value.removed) || !value.removed.every(isString)) return null;
    return { length: value.length + 0, done: value.done, removed: [...(value.removed as string[])] };
  }
  if (hasExactKeys(value, ['deleted', 'blocks'])) {
    if (!(isInteger(value.deleted) && value.deleted >= 0) || !Array.isArray(value.blocks) || !value.blocks.every(isString)) return null;
    return { deleted: value.deleted + 0, blocks: [...(value.blocks as string[])] };
  }
  if (hasExactKeys(value, ['blockId', 'genStamp', 'targets'])) {
    if (!isString(value.blockId) || !isInteger(value.genStamp) || !Array.isArray(value.targets)) return null;
    const targets: DatanodeRef[] = [];
    for (const target of value.targets as unknown[]) {
      if (!isRecord(target) || !hasExactKeys(target, ['id', 'data']) || !isString(target.id) || !isString(target.data)) return null;
      targets.push({ id: target.id, data: target.data });
    }
    return { blockId: value.blockId, genStamp: value.genStamp + 0, targets };
  }
  return null;
}

export function fromImage(image: unknown, config: FileMetaConfig): FileMetaState {
  if (!isRecord(image)) malformed('it is not an object');
  const version = image.version;
  if (!isInteger(version) || version < OLDEST_READABLE_VERSION || version > FILE_META_IMAGE_VERSION) {
    malformed(`version is ${String(version)}, this build reads ${OLDEST_READABLE_VERSION}..${FILE_META_IMAGE_VERSION}`);
  }
  // Another shard's image would hand out another shard's block ids; other pools would move files.
  if (image.shard !== config.shard) malformed(`it belongs to shard ${JSON.stringify(image.shard)}, but this is shard ${JSON.stringify(config.shard)}`);
  if (image.pools !== config.pools) malformed(`it was written with pools=${String(image.pools)} but this shard is configured with pools=${config.pools}`);
  const ownedPools = arrayField(image, 'ownedPools', 'image');
  const expectedPools = [...config.ownedPools].sort((a, b) => a - b);
  if (ownedPools.length !== expectedPools.length || ownedPools.some((pool, i) => pool !== expectedPools[i])) {
    malformed(`it owns pools ${JSON.stringify(ownedPools)} but this shard is configured to own ${JSON.stringify(expectedPools)}`);
  }
  if (!isInteger(image.nextBlockSeq) || image.nextBlockSeq < FIRST_BLOCK_SEQ) malformed(`nextBlockSeq ${String(image.nextBlockSeq)} is not an integer ≥ ${FIRST_BLOCK_SEQ}`);
  if (!isInteger(image.nextGenStamp) || image.nextGenStamp < FIRST_GEN_STAMP) malformed(`nextGenStamp ${String(image.nextGenStamp)} is not an integer ≥ ${FIRST_GEN_STAMP}`);
  const nextBlockSeq = image.nextBlockSeq;
  const nextGenStamp = image.nextGenStamp;

  if (!isRecord(image.files)) malformed('files is not an object');
  const fileColumns = image.files;
  const fileId = arrayField(fileColumns, 'fileId', 'files');
  const fileCount = fileId.length;
  const pool = arrayField(fileColumns, 'pool', 'files', fileCount);
  const replication = arrayField(fileColumns, 'replication', 'files', fileCount);
  const blockSize = arrayField(fileColumns, 'blockSize', 'files', fileCount);
  const holder = arrayField(fileColumns, 'holder', 'files', fileCount);
  const blockCount = arrayField(fileColumns, 'blockCount', 'files', fileCount);
  const flags = version >= 2 ? arrayField(fileColumns, 'flags', 'files', fileCount) : null;
  if (!isRecord(image.blocks)) malformed('blocks is not an object');
  const seq = arrayField(image.blocks, 'seq', 'blocks');
  const genStamp = arrayField(image.blocks, 'genStamp', 'blocks', seq.length);
  const length = arrayField(image.blocks, 'length', 'blocks', seq.length);

  const state = createEmptyState(config);
  let nextBlock = 0;
  let previousFileId = 0;
  for (let i = 0; i < fileCount; i++) {
    const id = integerAt(fileId, i, 'files.fileId', previousFileId + 1);
    previousFileId = id;
    const filePool = integerAt(pool, i, 'files.pool', 0, config.pools - 1);
    if (!state.ownedPools.has(filePool)) malformed(`file ${id} is in pool ${filePool}, which this shard does not own`);
    const fileHolder = holder[i];
    if (fileHolder !== null && !isString(fileHolder)) malformed(`files.holder[${i}] is neither null nor a client id`);
    const file: FileRecord = {
      fileId: id,
      pool: filePool,
      replication: integerAt(replication, i, 'files.replication', 1),
      blockSize: integerAt(blockSize, i, 'files.blockSize', 1),
      blocks: [],
      state: fileHolder === null ? 'closed' : 'open',
      holder: fileHolder,
      length: 0,
      truncating: false,
    };
    const count = integerAt(blockCount, i, 'files.blockCount', 0, seq.length - nextBlock);
    const fileFlags = flags === null ? (fileHolder === null || count === 0 ? 0 : FLAG_LAST_BLOCK_OPEN) : integerAt(flags, i, 'files.flags', 0, FLAG_LAST_BLOCK_OPEN | FLAG_TRUNCATING);
    const lastOpen = (fileFlags & FLAG_LAST_BLOCK_OPEN) !== 0;
    file.truncating = (fileFlags & FLAG_TRUNCATING) !== 0;
    if (lastOpen && (fileHolder === null || count === 0)) malformed(`file ${id} has an open last block but is closed or has no block`);
    if (file.truncating && !lastOpen) malformed(`file ${id} is being truncated without an open last block`);
    for (let j = 0; j < count; j++, nextBlock++) {
      const blockId = blockIdOf(config.shard, integerAt(seq, nextBlock, 'blocks.seq', FIRST_BLOCK_SEQ, nextBlockSeq - 1));
      if (state.blocks.has(blockId)) malformed(`block ${blockId} appears twice`);
      const block: BlockRecord = {
        blockId,
        fileId: id,
        genStamp: integerAt(genStamp, nextBlock, 'blocks.genStamp', FIRST_GEN_STAMP, nextGenStamp - 1),
        length: integerAt(length, nextBlock, 'blocks.length', 0, file.blockSize),
        state: lastOpen && j === count - 1 ? 'open' : 'complete',
      };
      state.blocks.set(blockId, block);
      file.blocks.push(blockId);
      file.length += block.length;
    }
    state.files.set(id, file);
    if (file.state === 'open') state.openFiles.add(id);
  }
  if (nextBlock !== seq.length) malformed(`blocks holds ${seq.length} entries but the files own ${nextBlock}`);
  state.nextBlockSeq = nextBlockSeq;
  state.nextGenStamp = nextGenStamp;

  if (!isRecord(image.retry)) malformed('retry is not an object');
  const retry = image.retry;
  const clientId = arrayField(retry, 'clientId', 'retry');
  const callId = arrayField(retry, 'callId', 'retry', clientId.length);
  const time = arrayField(retry, 'time', 'retry', clientId.length);
  const value = arrayField(retry, 'value', 'retry', clientId.length);
  const entries: RetryEntry<FileMetaAnswer>[] = [];
  for (let i = 0; i < clientId.length; i++) {
    const client = clientId[i];
    if (typeof client !== 'string') malformed(`retry.clientId[${i}] is not a string`);
    const answer = copyAnswer(value[i]);
    if (answer === null) malformed(`retry.value[${i}] is not a file-metadata op's answer`);
    entries.push({
      clientId: client,
      callId: integerAt(callId, i, 'retry.callId', -Number.MAX_SAFE_INTEGER),
      time: integerAt(time, i, 'retry.time', -Number.MAX_SAFE_INTEGER),
      value: answer,
    });
  }
  try {
    state.retryCache.restore(entries);
  } catch (error) {
    malformed((error as Error).message);
  }
  return state;
}
