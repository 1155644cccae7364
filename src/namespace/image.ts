// The namespace image: the whole state as one msgpack-encodable value, the payload of an
// fsimage file. Inodes are stored as columns (one array per field) in sorted pre-order,
// each with the index of its parent, which is compact in msgpack and makes two replicas
// with the same logical state write the same image. Owner and group names go through a
// string table built from the tree, so the image does not depend on interning history.
//
// fromImage trusts nothing: an image may be truncated, corrupted past its checksum, or
// from another version. Every field is checked and a malformed image throws a plain Error
// saying what is wrong, before any state is handed out.

import { childrenOf, Inode, ROOT_INODE_ID, sortedChildNames } from './inode.js';
import { nameProblem } from './paths.js';
import { createEmptyState, intern, type MutationValue, type NamespaceConfig, type NamespaceState } from './state.js';
import type { RetryEntry } from '../replication/retry-cache.js';

export const NAMESPACE_IMAGE_VERSION = 2;
/** Version 1 images (before the pending-delete queue) still load, with an empty queue. */
const OLDEST_READABLE_VERSION = 1;

/** Flag bits of NamespaceImage.inodes.flags. */
const FLAG_DIRECTORY = 1;
const FLAG_UNDER_CONSTRUCTION = 2;

export interface NamespaceImage {
  version: number;
  nextFileId: number;
  pools: number;
  /** Owner and group names; inodes refer to them by index. */
  strings: string[];
  /** Column i of every array describes inode i. Inode 0 is the root; parent[i] < i. */
  inodes: {
    parent: number[];
    name: string[];
    flags: number[];
    id: number[];
    permission: number[];
    owner: number[];
    group: number[];
    mtime: number[];
    atime: number[];
    length: number[];
    replication: number[];
    blockSize: number[];
  };
  /** Retry cache entries in storage (eviction) order. */
  retry: { clientId: string[]; callId: number[]; time: number[]; value: MutationValue[] };
  /** The pending-delete queue, oldest first (version 2 on). */
  pendingDeletes: { fileId: number[]; pool: number[] };
}

export function toImage(state: NamespaceState): NamespaceImage {
  const stringIndex = new Map<string, number>();
  const strings: string[] = [];
  const indexOf = (text: string): number => {
    let index = stringIndex.get(text);
    if (index === undefined) {
      index = strings.length;
      strings.push(text);
      stringIndex.set(text, index);
    }
    return index;
  };
  const inodes: NamespaceImage['inodes'] = {
    parent: [],
    name: [],
    flags: [],
    id: [],
    permission: [],
    owner: [],
    group: [],
    mtime: [],
    atime: [],
    length: [],
    replication: [],
    blockSize: [],
  };
  // Sorted pre-order without recursion: paths may be deeper than the stack likes.
  const stack: { inode: Inode; parent: number }[] = [{ inode: state.root, parent: -1 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { inode } = item;
    const index = inodes.id.length;
    inodes.parent.push(item.parent);
    inodes.name.push(inode.name);
    inodes.flags.push((inode.isDirectory() ? FLAG_DIRECTORY : 0) | (inode.underConstruction ? FLAG_UNDER_CONSTRUCTION : 0));
    inodes.id.push(inode.id);
    inodes.permission.push(inode.permission);
    inodes.owner.push(indexOf(inode.owner));
    inodes.group.push(indexOf(inode.group));
    inodes.mtime.push(inode.mtime);
    inodes.atime.push(inode.atime);
    inodes.length.push(inode.length);
    inodes.replication.push(inode.replication);
    inodes.blockSize.push(inode.blockSize);
    if (inode.isDirectory()) {
      const children = childrenOf(inode);
      const names = sortedChildNames(inode);
      for (let i = names.length - 1; i >= 0; i--) stack.push({ inode: children.get(names[i]!)!, parent: index });
    }
  }
  const retry: NamespaceImage['retry'] = { clientId: [], callId: [], time: [], value: [] };
  for (const entry of state.retryCache.list()) {
    retry.clientId.push(entry.clientId);
    retry.callId.push(entry.callId);
    retry.time.push(entry.time);
    retry.value.push(entry.value);
  }
  const pendingDeletes: NamespaceImage['pendingDeletes'] = { fileId: [...state.pendingDeletes.keys()], pool: [...state.pendingDeletes.values()] };
  return { version: NAMESPACE_IMAGE_VERSION, nextFileId: state.nextFileId, pools: state.pools, strings, inodes, retry, pendingDeletes };
}

function malformed(what: string): never {
  throw new Error(`malformed namespace image: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
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

function hasExactKeys(value: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
}

const FILE_HANDLE_KEYS = ['fileId', 'pool', 'length', 'replication', 'blockSize', 'underConstruction'] as const;

/**
 * A fresh copy of a stored answer (the decoder's object may carry other keys' order or a
 * foreign prototype), or undefined when it is not one of the ops' answers.
 */
function copyMutationValue(value: unknown): MutationValue | undefined {
  if (value === null || typeof value === 'boolean' || isInteger(value)) return value;
  if (!isRecord(value)) return undefined;
  if (hasExactKeys(value, ['fileId', 'pool'])) {
    return isInteger(value.fileId) && isInteger(value.pool) ? { fileId: value.fileId, pool: value.pool } : undefined;
  }
  if (hasExactKeys(value, FILE_HANDLE_KEYS)) {
    const { fileId, pool, length, replication, blockSize, underConstruction } = value;
    if (![fileId, pool, length, replication, blockSize].every(isInteger) || typeof underConstruction !== 'boolean') return undefined;
    return { fileId: fileId as number, pool: pool as number, length: length as number, replication: replication as number, blockSize: blockSize as number, underConstruction };
  }
  if (hasExactKeys(value, ['fileId', 'pool', 'length', 'replication', 'blockSize', 'sources'])) {
    const { fileId, pool, length, replication, blockSize, sources } = value;
    if (![fileId, pool, length, replication, blockSize].every(isInteger) || !Array.isArray(sources) || !sources.every(isInteger)) return undefined;
    return { fileId: fileId as number, pool: pool as number, length: length as number, replication: replication as number, blockSize: blockSize as number, sources: [...(sources as number[])] };
  }
  return undefined;
}

export function fromImage(image: unknown, config: NamespaceConfig): NamespaceState {
  if (!isRecord(image)) malformed('it is not an object');
  if (!isInteger(image.version) || image.version < OLDEST_READABLE_VERSION || image.version > NAMESPACE_IMAGE_VERSION) {
    malformed(`version is ${String(image.version)}, this build reads ${OLDEST_READABLE_VERSION}..${NAMESPACE_IMAGE_VERSION}`);
  }
  if (!isInteger(image.nextFileId) || image.nextFileId <= ROOT_INODE_ID) malformed(`nextFileId ${String(image.nextFileId)} is not an integer above the root id`);
  if (image.pools !== config.pools) {
    // Pools are fixed at format: a different count would move existing files between pools.
    malformed(`it was written with pools=${String(image.pools)} but this namespace is configured with pools=${config.pools}`);
  }
  const nextFileId = image.nextFileId;
  const strings = arrayField(image, 'strings', 'image');
  strings.forEach((text, index) => {
    if (typeof text !== 'string' || text.length === 0) malformed(`strings[${index}] is not a non-empty string`);
  });
  if (!isRecord(image.inodes)) malformed('inodes is not an object');
  const columns = image.inodes;
  const parent = arrayField(columns, 'parent', 'inodes');
  const count = parent.length;
  if (count === 0) malformed('it has no root inode');
  const name = arrayField(columns, 'name', 'inodes', count);
  const flags = arrayField(columns, 'flags', 'inodes', count);
  const id = arrayField(columns, 'id', 'inodes', count);
  const permission = arrayField(columns, 'permission', 'inodes', count);
  const owner = arrayField(columns, 'owner', 'inodes', count);
  const group = arrayField(columns, 'group', 'inodes', count);
  const mtime = arrayField(columns, 'mtime', 'inodes', count);
  const atime = arrayField(columns, 'atime', 'inodes', count);
  const length = arrayField(columns, 'length', 'inodes', count);
  const replication = arrayField(columns, 'replication', 'inodes', count);
  const blockSize = arrayField(columns, 'blockSize', 'inodes', count);

  const state = createEmptyState(config);
  const built: Inode[] = [];
  const seenIds = new Set<number>();
  const lastString = strings.length - 1;
  for (let i = 0; i < count; i++) {
    const parentIndex = integerAt(parent, i, 'inodes.parent', -1, i - 1);
    if ((parentIndex === -1) !== (i === 0)) malformed(`inodes.parent[${i}] is ${parentIndex}: only inode 0, the root, has no parent`);
    const inodeName = name[i];
    if (typeof inodeName !== 'string') malformed(`inodes.name[${i}] is not a string`);
    if (i === 0 && inodeName !== '') malformed('the root inode has a name');
    if (i > 0) {
      // Structure only, not today's length limits: a name that was valid when written stays loadable.
      const problem = nameProblem(inodeName, Number.MAX_SAFE_INTEGER);
      if (problem !== null) malformed(`inodes.name[${i}]: ${problem}`);
    }
    const inodeFlags = integerAt(flags, i, 'inodes.flags', 0, FLAG_DIRECTORY | FLAG_UNDER_CONSTRUCTION);
    const isDirectory = (inodeFlags & FLAG_DIRECTORY) !== 0;
    if (isDirectory && inodeFlags & FLAG_UNDER_CONSTRUCTION) malformed(`inode ${i} is a directory under construction`);
    if (i === 0 && !isDirectory) malformed('the root inode is not a directory');
    const inodeId = integerAt(id, i, 'inodes.id', ROOT_INODE_ID, nextFileId - 1);
    if (i === 0 && inodeId !== ROOT_INODE_ID) malformed(`the root inode has id ${inodeId}, expected ${ROOT_INODE_ID}`);
    if (seenIds.has(inodeId)) malformed(`inode id ${inodeId} appears twice`);
    seenIds.add(inodeId);
    const inode = new Inode(
      inodeId,
      inodeName,
      isDirectory ? new Map() : null,
      integerAt(permission, i, 'inodes.permission', 0, 0o7777),
      intern(state, strings[integerAt(owner, i, 'inodes.owner', 0, lastString)] as string),
      intern(state, strings[integerAt(group, i, 'inodes.group', 0, lastString)] as string),
      integerAt(mtime, i, 'inodes.mtime', -Number.MAX_SAFE_INTEGER),
      integerAt(atime, i, 'inodes.atime', -Number.MAX_SAFE_INTEGER),
      integerAt(length, i, 'inodes.length', 0),
      integerAt(replication, i, 'inodes.replication', 0),
      integerAt(blockSize, i, 'inodes.blockSize', 0),
      (inodeFlags & FLAG_UNDER_CONSTRUCTION) !== 0,
    );
    if (inode.underConstruction) state.openFiles.set(inodeId, inode);
    if (i > 0) {
      const parentInode = built[parentIndex]!;
      const siblings = parentInode.children;
      if (siblings === null) malformed(`inode ${i} has a file (inode ${parentIndex}) as its parent`);
      if (siblings.has(inodeName)) malformed(`inode ${parentIndex} has two children named ${JSON.stringify(inodeName)}`);
      siblings.set(inodeName, inode);
      inode.parent = parentInode;
    }
    built.push(inode);
  }
  state.root = built[0]!;
  state.inodeCount = count;
  state.nextFileId = nextFileId;

  if (!isRecord(image.retry)) malformed('retry is not an object');
  const retry = image.retry;
  const clientId = arrayField(retry, 'clientId', 'retry');
  const callId = arrayField(retry, 'callId', 'retry', clientId.length);
  const time = arrayField(retry, 'time', 'retry', clientId.length);
  const value = arrayField(retry, 'value', 'retry', clientId.length);
  const entries: RetryEntry<MutationValue>[] = [];
  for (let i = 0; i < clientId.length; i++) {
    const client = clientId[i];
    if (typeof client !== 'string') malformed(`retry.clientId[${i}] is not a string`);
    const answer = copyMutationValue(value[i]);
    if (answer === undefined) malformed(`retry.value[${i}] is not a namespace op's answer`);
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
  if (image.version >= 2) {
    if (!isRecord(image.pendingDeletes)) malformed('pendingDeletes is not an object');
    const fileIds = arrayField(image.pendingDeletes, 'fileId', 'pendingDeletes');
    const pools = arrayField(image.pendingDeletes, 'pool', 'pendingDeletes', fileIds.length);
    for (let i = 0; i < fileIds.length; i++) {
      const fileId = integerAt(fileIds, i, 'pendingDeletes.fileId', ROOT_INODE_ID + 1, nextFileId - 1);
      if (state.pendingDeletes.has(fileId)) malformed(`pendingDeletes lists file ${fileId} twice`);
      state.pendingDeletes.set(fileId, integerAt(pools, i, 'pendingDeletes.pool', 0, state.pools - 1));
    }
  }
  return state;
}
