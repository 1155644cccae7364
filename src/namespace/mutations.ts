// The namespace mutations, with HDFS semantics (setReplication, append, truncate and
// concat are in file-mutations.ts). Each handler first validates
// everything — arguments, path, existence, permissions — and only then changes the
// tree, so a handler that returns a Failure has changed nothing (the StateMachine
// contract). One order of checks for every op: arguments, path syntax, search permission
// down the path, then refusals that no permission could lift (missing, exists, is a
// directory, not empty, not open), and last the op's own access check.

import { failure, quote, type Failure } from './failure.js';
import { addChild, childrenOf, detachedName, newDirectory, newFile, pathOf, removeChild, sortedChildNames, type Inode } from './inode.js';
import { checkAccess, checkOwner, checkTraverse, EXECUTE, permits, WRITE, type Identity } from './permissions.js';
import { parsePath, pathOfComponents, utf8ByteLength } from './paths.js';
import { blockingFileOf, deepestExistingAncestorOf, resolve, targetOf, type Resolution } from './resolve.js';
import { intern, type MutationValue, type NamespaceConfig, type NamespaceState } from './state.js';
import type { NamespaceMutation } from './ops.js';
import { append, concat, setReplication, truncate } from './file-mutations.js';

export type Applied = { ok: true; value: MutationValue } | Failure;

/** Everything a handler needs besides the op: all of it fixed before the handler runs. */
export interface MutationContext {
  state: NamespaceState;
  config: NamespaceConfig;
  identity: Identity;
  time: number;
}

export type OpOf<Type extends NamespaceMutation['type']> = Extract<NamespaceMutation, { type: Type }>;

export const DEFAULT_DIRECTORY_PERMISSION = 0o755;
export const DEFAULT_FILE_PERMISSION = 0o644;
export const DEFAULT_REPLICATION = 3;
export const DEFAULT_BLOCK_SIZE_BYTES = 128 * 1024 * 1024;
/** HDFS stores replication in a short. */
export const REPLICATION_MAX = 32767;
/** mkdirs gives the directories it creates on the way u+wx, as HDFS does, so the creator can fill them. */
const OWNER_WRITE_EXECUTE = 0o300;

export function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

export function badArgument(op: { type: string }, field: string, value: unknown, expected: string): Failure {
  return failure('INVALID_ARGUMENT', `${op.type}: ${field} must be ${expected}, got ${quote(String(value))}`);
}

/** Mode bits or why not; -0 and the like never reach the state. */
function checkMode(op: { type: string }, value: unknown): Failure | null {
  return isInteger(value) && value >= 0 && value <= 0o7777 ? null : badArgument(op, 'permission', value, 'an integer in 0..0o7777');
}

/** A user or group name that can be stored: non-empty, and with a UTF-8 form (see utf8ByteLength). */
export function isValidPrincipal(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && !value.includes('\u0000') && utf8ByteLength(value) >= 0;
}

export type Located = { ok: true; resolution: Resolution; path: string } | Failure;

/** Parses and resolves a path and checks search permission down to it. */
export function locate(context: MutationContext, path: unknown): Located {
  const parsed = parsePath(path, context.config);
  if (!parsed.ok) return parsed;
  const resolution = resolve(context.state.root, parsed.components);
  const denied = checkTraverse(resolution.inodes, parsed.components, context.identity);
  if (denied !== null) return denied;
  return { ok: true, resolution, path: path as string };
}

function parentNotDirectory(path: string, file: Inode): Failure {
  return failure('PARENT_NOT_DIRECTORY', `cannot create ${quote(path)}: ${quote(pathOf(file))} is a file, not a directory`);
}

/** Creates the directories named by components[from..to) under `parent`; returns the last (or `parent`). */
function createDirectories(
  context: MutationContext,
  parent: Inode,
  components: readonly string[],
  from: number,
  to: number,
  permissionOf: (index: number) => number,
): Inode {
  const { state } = context;
  const owner = intern(state, context.identity.user);
  // BSD rule, as HDFS: a new inode takes its parent's group, whoever creates it.
  const group = parent.group;
  let at = parent;
  for (let i = from; i < to; i++) {
    const directory = newDirectory(state.nextFileId++, components[i]!, permissionOf(i), owner, group, context.time);
    addChild(at, directory);
    state.inodeCount++;
    at = directory;
  }
  return at;
}

function mkdirs(context: MutationContext, op: OpOf<'mkdirs'>): Applied {
  const requested = op.permission ?? DEFAULT_DIRECTORY_PERMISSION;
  const badMode = checkMode(op, requested);
  if (badMode !== null) return badMode;
  const permission = requested | 0; // |0 turns a -0 into 0, which msgpack would not round-trip
  const located = locate(context, op.path);
  if (!located.ok) return located;
  const { resolution, path } = located;
  const blocking = blockingFileOf(resolution);
  if (blocking !== null) return parentNotDirectory(path, blocking);
  const target = targetOf(resolution);
  if (target !== null) {
    if (!target.isDirectory()) return failure('FILE_EXISTS', `cannot create directory ${quote(path)}: it exists and is a file`);
    return { ok: true, value: true };
  }
  const { inodes, components } = resolution;
  const ancestor = inodes[inodes.length - 1]!;
  const denied = checkAccess(ancestor, context.identity, WRITE | EXECUTE);
  if (denied !== null) return denied;

  const last = components.length - 1;
  createDirectories(context, ancestor, components, inodes.length - 1, components.length, (index) =>
    index === last ? permission : permission | OWNER_WRITE_EXECUTE,
  );
  ancestor.mtime = context.time;
  return { ok: true, value: true };
}

function create(context: MutationContext, op: OpOf<'create'>): Applied {
  const requested = op.permission ?? DEFAULT_FILE_PERMISSION;
  const replication = op.replication ?? DEFAULT_REPLICATION;
  const blockSize = op.blockSize ?? DEFAULT_BLOCK_SIZE_BYTES;
  const badMode = checkMode(op, requested);
  if (badMode !== null) return badMode;
  if (!(isInteger(replication) && replication >= 1 && replication <= REPLICATION_MAX)) {
    return badArgument(op, 'replication', replication, `an integer in 1..${REPLICATION_MAX}`);
  }
  if (!(isInteger(blockSize) && blockSize > 0)) return badArgument(op, 'blockSize', blockSize, 'a positive integer');
  if (typeof op.overwrite !== 'boolean') return badArgument(op, 'overwrite', op.overwrite, 'a boolean');
  const permission = requested | 0; // -0 → 0, see mkdirs
  const located = locate(context, op.path);
  if (!located.ok) return located;
  const { resolution, path } = located;
  const { inodes, components } = resolution;
  if (components.length === 0) return failure('IS_DIRECTORY', `cannot create file ${quote(path)}: it is the root directory`);
  const blocking = blockingFileOf(resolution);
  if (blocking !== null) return parentNotDirectory(path, blocking);
  // Refusals that no permission could lift come first, as in mkdirs: they tell the
  // caller more, and traversal already let them see that the path exists.
  const existing = targetOf(resolution);
  if (existing !== null) {
    if (existing.isDirectory()) return failure('IS_DIRECTORY', `cannot create file ${quote(path)}: it is a directory`);
    if (!op.overwrite) return failure('FILE_EXISTS', `cannot create file ${quote(path)}: it exists and overwrite is false`);
  }
  const ancestor = deepestExistingAncestorOf(resolution);
  const denied = checkAccess(ancestor, context.identity, WRITE | EXECUTE);
  if (denied !== null) return denied;

  const { state } = context;
  const last = components.length - 1;
  const parent =
    existing !== null
      ? ancestor
      : createDirectories(context, ancestor, components, inodes.length - 1, last, () => DEFAULT_DIRECTORY_PERMISSION);
  if (existing !== null) {
    // The overwritten file's inode goes away; the new file gets a new id, so a writer
    // still holding the old id can no longer complete it.
    removeChild(parent, existing);
    state.inodeCount--;
    state.openFiles.delete(existing.id);
    deleteQueue(context)?.set(existing.id, existing.id % state.pools);
  }
  const fileId = state.nextFileId++;
  const file = newFile(
    fileId,
    components[last]!,
    permission,
    intern(state, context.identity.user),
    parent.group,
    context.time,
    replication | 0,
    blockSize + 0,
  );
  addChild(parent, file);
  state.openFiles.set(fileId, file);
  state.inodeCount++;
  parent.mtime = context.time;
  ancestor.mtime = context.time;
  return { ok: true, value: { fileId, pool: fileId % state.pools } };
}

function complete(context: MutationContext, op: OpOf<'complete'>): Applied {
  if (!isInteger(op.fileId)) return badArgument(op, 'fileId', op.fileId, 'an integer');
  if (!(isInteger(op.length) && op.length >= 0)) return badArgument(op, 'length', op.length, 'a non-negative integer');
  const located = locate(context, op.path);
  if (!located.ok) return located;
  const { resolution, path } = located;
  const file = targetOf(resolution);
  if (file === null) return failure('NOT_FOUND', `cannot complete ${quote(path)}: no such file`);
  if (file.isDirectory()) return failure('NOT_FOUND', `cannot complete ${quote(path)}: it is a directory, not a file`);
  if (file.id !== op.fileId) {
    return failure('NOT_FOUND', `cannot complete ${quote(path)}: it is file ${file.id}, not ${op.fileId} (overwritten or replaced)`);
  }
  if (!file.underConstruction) return failure('FILE_NOT_OPEN', `cannot complete ${quote(path)}: it is not under construction`);
  const denied = checkAccess(file, context.identity, WRITE, path);
  if (denied !== null) return denied;

  file.length = op.length + 0;
  file.underConstruction = false;
  file.mtime = context.time;
  context.state.openFiles.delete(file.id);
  return { ok: true, value: true };
}

/** Closes a file whose writer is gone, by id. False when it is not open (completed, deleted, overwritten): a repeat is harmless. */
function recoverLease(context: MutationContext, op: OpOf<'recoverLease'>): Applied {
  if (!isInteger(op.fileId)) return badArgument(op, 'fileId', op.fileId, 'an integer');
  if (!(isInteger(op.length) && op.length >= 0)) return badArgument(op, 'length', op.length, 'a non-negative integer');
  if (!context.identity.isSuperuser) return failure('PERMISSION_DENIED', `recoverLease: ${context.identity.user} is not the superuser`);
  const file = context.state.openFiles.get(op.fileId);
  if (file === undefined) return { ok: true, value: false };
  file.length = op.length + 0;
  file.underConstruction = false;
  file.mtime = context.time;
  context.state.openFiles.delete(file.id);
  return { ok: true, value: true };
}

/**
 * For a recursive delete: write and search permission on every non-empty directory of
 * the subtree, visited in sorted pre-order so that the same tree always reports the same
 * directory whatever order its children were inserted in.
 */
function checkSubtreeDeletable(top: Inode, identity: Identity): Failure | null {
  const stack: Inode[] = [top];
  for (let directory = stack.pop(); directory !== undefined; directory = stack.pop()) {
    const children = childrenOf(directory);
    if (children.size === 0) continue;
    if (!permits(directory, identity, WRITE | EXECUTE)) return checkAccess(directory, identity, WRITE | EXECUTE);
    const names = sortedChildNames(directory);
    for (let i = names.length - 1; i >= 0; i--) {
      const child = children.get(names[i]!)!;
      if (child.isDirectory()) stack.push(child);
    }
  }
  return null;
}

/**
 * Inodes in the subtree, which is going away: its open files leave the open-file index,
 * and with `deleted` each file's id goes to the pending-delete queue.
 */
function subtreeSize(top: Inode, openFiles: Map<number, Inode>, deleted: Map<number, number> | null, pools: number): number {
  let count = 0;
  const stack: Inode[] = [top];
  for (let inode = stack.pop(); inode !== undefined; inode = stack.pop()) {
    count++;
    if (inode.children !== null) {
      for (const child of inode.children.values()) stack.push(child);
      continue;
    }
    if (inode.underConstruction) openFiles.delete(inode.id);
    if (deleted !== null) deleted.set(inode.id, inode.id % pools);
  }
  return count;
}

/** The queue of deleted files for FMS shards, or null when the cluster has none. */
function deleteQueue(context: MutationContext): Map<number, number> | null {
  return context.config.trackDeletes ? context.state.pendingDeletes : null;
}

function deletesDelivered(context: MutationContext, op: OpOf<'deletesDelivered'>): Applied {
  if (!Array.isArray(op.fileIds) || op.fileIds.length > DELIVERED_IDS_MAX || !op.fileIds.every(isInteger)) {
    return badArgument(op, 'fileIds', op.fileIds, `a list of at most ${DELIVERED_IDS_MAX} file ids`);
  }
  if (!context.identity.isSuperuser) return failure('PERMISSION_DENIED', `deletesDelivered: ${context.identity.user} is not the superuser`);
  let removed = 0;
  for (const fileId of op.fileIds) if (context.state.pendingDeletes.delete(fileId)) removed++;
  // Nothing removed: a repeat. Still ok and journaled (the retry cache records the answer).
  return { ok: true, value: removed };
}

/** File ids one deletesDelivered op may carry. */
export const DELIVERED_IDS_MAX = 10_000;

function remove(context: MutationContext, op: OpOf<'delete'>): Applied {
  if (typeof op.recursive !== 'boolean') return badArgument(op, 'recursive', op.recursive, 'a boolean');
  const located = locate(context, op.path);
  if (!located.ok) return located;
  const { resolution, path } = located;
  if (resolution.components.length === 0) return failure('ROOT_NOT_DELETABLE', 'cannot delete "/": it is the root directory');
  const target = targetOf(resolution);
  if (target === null) return { ok: true, value: false };
  const parent = target.parent!;
  const isNonEmptyDirectory = target.children !== null && target.children.size > 0;
  if (isNonEmptyDirectory && !op.recursive) {
    return failure('DIRECTORY_NOT_EMPTY', `cannot delete ${quote(path)}: the directory is not empty and recursive is false`);
  }
  const parentDenied = checkAccess(parent, context.identity, WRITE | EXECUTE);
  if (parentDenied !== null) return parentDenied;
  if (isNonEmptyDirectory && !context.identity.isSuperuser) {
    const subtreeDenied = checkSubtreeDeletable(target, context.identity);
    if (subtreeDenied !== null) return subtreeDenied;
  }

  const removed = subtreeSize(target, context.state.openFiles, deleteQueue(context), context.state.pools);
  removeChild(parent, target);
  context.state.inodeCount -= removed;
  parent.mtime = context.time;
  return { ok: true, value: true };
}

function isStrictPrefix(prefix: readonly string[], components: readonly string[]): boolean {
  if (prefix.length >= components.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== components[i]) return false;
  return true;
}

function sameComponents(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * HDFS rename v1 (FileSystem.rename): most refusals are the value false, not an error.
 * A directory destination means "move into it, keeping the name".
 */
function rename(context: MutationContext, op: OpOf<'rename'>): Applied {
  const sourceLocated = locate(context, op.src);
  if (!sourceLocated.ok) return sourceLocated;
  const destinationLocated = locate(context, op.dst);
  if (!destinationLocated.ok) return destinationLocated;
  const sourceComponents = sourceLocated.resolution.components;
  const source = targetOf(sourceLocated.resolution);
  if (source === null || source.parent === null) return { ok: true, value: false };

  const destination = destinationLocated.resolution;
  const destinationTarget = targetOf(destination);
  let finalComponents: string[];
  let finalParent: Inode | null;
  if (destinationTarget !== null && destinationTarget.isDirectory()) {
    finalComponents = [...destination.components, source.name];
    finalParent = destinationTarget;
  } else {
    finalComponents = destination.components;
    // The destination is not the root here (the root is a directory), so it has a parent slot.
    const parentIndex = finalComponents.length - 1;
    finalParent = destination.inodes.length > parentIndex ? destination.inodes[parentIndex]! : null;
  }
  if (sameComponents(finalComponents, sourceComponents)) return { ok: true, value: true };
  if (source.isDirectory() && isStrictPrefix(sourceComponents, finalComponents)) {
    return failure('RENAME_INTO_SELF', `cannot rename ${quote(op.src)} to ${quote(pathOfComponents(finalComponents))}: it is inside the source`);
  }
  if (destinationTarget !== null && !destinationTarget.isDirectory()) return { ok: true, value: false };
  if (finalParent === null || !finalParent.isDirectory()) return { ok: true, value: false };
  const finalName = finalComponents[finalComponents.length - 1]!;
  if (childrenOf(finalParent).has(finalName)) return { ok: true, value: false };
  const finalPath = pathOfComponents(finalComponents);
  const { pathBytesMax, pathDepthMax } = context.config;
  if (finalComponents.length > pathDepthMax || utf8ByteLength(finalPath) > pathBytesMax) {
    return failure('INVALID_PATH', `cannot rename ${quote(op.src)} to ${quote(finalPath)}: the target path is longer or deeper than the limits`);
  }
  const sourceParent = source.parent;
  const sourceDenied = checkAccess(sourceParent, context.identity, WRITE | EXECUTE);
  if (sourceDenied !== null) return sourceDenied;
  const targetDenied = checkAccess(finalParent, context.identity, WRITE | EXECUTE);
  if (targetDenied !== null) return targetDenied;

  removeChild(sourceParent, source);
  source.name = detachedName(finalName);
  addChild(finalParent, source);
  sourceParent.mtime = context.time;
  finalParent.mtime = context.time;
  return { ok: true, value: true };
}

export type Found = { ok: true; inode: Inode; path: string } | Failure;

/** The existing inode at a path, for the ops where a missing target is NOT_FOUND. */
export function findTarget(context: MutationContext, op: { type: string; path: unknown }): Found {
  const located = locate(context, op.path);
  if (!located.ok) return located;
  const inode = targetOf(located.resolution);
  if (inode === null) return failure('NOT_FOUND', `${op.type}: ${quote(located.path)} does not exist`);
  return { ok: true, inode, path: located.path };
}

function setPermission(context: MutationContext, op: OpOf<'setPermission'>): Applied {
  const badMode = checkMode(op, op.permission);
  if (badMode !== null) return badMode;
  const found = findTarget(context, op);
  if (!found.ok) return found;
  const denied = checkOwner(found.inode, context.identity, found.path);
  if (denied !== null) return denied;
  found.inode.permission = op.permission | 0;
  return { ok: true, value: null };
}

function setOwner(context: MutationContext, op: OpOf<'setOwner'>): Applied {
  const { owner, group } = op;
  if (owner === undefined && group === undefined) return failure('INVALID_ARGUMENT', 'setOwner: give an owner, a group, or both');
  if (owner !== undefined && !isValidPrincipal(owner)) return badArgument(op, 'owner', owner, 'a non-empty user name');
  if (group !== undefined && !isValidPrincipal(group)) return badArgument(op, 'group', group, 'a non-empty group name');
  const found = findTarget(context, op);
  if (!found.ok) return found;
  const { identity } = context;
  const notOwner = checkOwner(found.inode, identity, found.path);
  if (notOwner !== null) return notOwner;
  if (!identity.isSuperuser) {
    if (owner !== undefined && owner !== identity.user) {
      return failure('PERMISSION_DENIED', `Permission denied: user=${identity.user} is not the superuser and cannot change the owner of "${found.path}"`);
    }
    if (group !== undefined && !identity.groups.includes(group)) {
      return failure('PERMISSION_DENIED', `Permission denied: user=${identity.user} does not belong to group ${group}`);
    }
  }
  if (owner !== undefined) found.inode.owner = intern(context.state, owner);
  if (group !== undefined) found.inode.group = intern(context.state, group);
  return { ok: true, value: null };
}

function setTimes(context: MutationContext, op: OpOf<'setTimes'>): Applied {
  for (const field of ['mtime', 'atime'] as const) {
    const value = op[field];
    if (value !== undefined && !(isInteger(value) && value >= -1)) return badArgument(op, field, value, 'an integer ≥ -1 (-1: unchanged)');
  }
  const found = findTarget(context, op);
  if (!found.ok) return found;
  const denied = checkOwner(found.inode, context.identity, found.path);
  if (denied !== null) return denied;
  if (op.mtime !== undefined && op.mtime !== -1) found.inode.mtime = op.mtime + 0;
  if (op.atime !== undefined && op.atime !== -1) found.inode.atime = op.atime + 0;
  return { ok: true, value: null };
}

/** Dispatches on the op type. The op's envelope (caller, retry key, time) is already checked. */
export function applyMutation(context: MutationContext, op: NamespaceMutation): Applied {
  switch (op.type) {
    case 'mkdirs':
      return mkdirs(context, op);
    case 'create':
      return create(context, op);
    case 'complete':
      return complete(context, op);
    case 'delete':
      return remove(context, op);
    case 'rename':
      return rename(context, op);
    case 'setPermission':
      return setPermission(context, op);
    case 'setOwner':
      return setOwner(context, op);
    case 'setTimes':
      return setTimes(context, op);
    case 'deletesDelivered':
      return deletesDelivered(context, op);
    case 'recoverLease':
      return recoverLease(context, op);
    case 'setReplication':
      return setReplication(context, op);
    case 'append':
      return append(context, op);
    case 'truncate':
      return truncate(context, op);
    case 'concat':
      return concat(context, op);
    default:
      return failure('INVALID_ARGUMENT', `unknown namespace op type ${quote(String((op as { type: unknown }).type))}`);
  }
}
