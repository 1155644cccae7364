// The namespace side of the file operations WebHDFS needs beyond create: setReplication,
// append, truncate and concat, with HDFS semantics (Hadoop's FileSystem specification).
// Each validates everything first and changes nothing on a failure; the order of checks
// is the one of mutations.ts: arguments, path, search permission, refusals no permission
// could lift (missing, a directory, open for writing, a bad length or source), then the
// op's own access check.
//
// The bytes live in the FMS shard of the file's pool, which the client reaches next with
// what these ops answer (docs/data-path.md, "Append, truncate, concat, setReplication"):
// append, truncate (unless there is nothing to cut) and concat leave the file under
// construction, in the open-file index, and the client completes it once the FMS is done;
// if the client dies first, the namespace's lease round closes it at the FMS's length.

import { failure, quote, type Failure } from './failure.js';
import { removeChild, type Inode } from './inode.js';
import { checkAccess, READ, WRITE, EXECUTE } from './permissions.js';
import { badArgument, findTarget, isInteger, REPLICATION_MAX, type Applied, type MutationContext, type OpOf } from './mutations.js';
import type { FileHandle } from './ops.js';

/** Sources one concat may name (HDFS has no limit; ours bounds the op and its answer). */
export const CONCAT_SOURCES_MAX = 1_024;

function handleOf(context: MutationContext, file: Inode): FileHandle {
  return {
    fileId: file.id,
    pool: file.id % context.state.pools,
    length: file.length,
    replication: file.replication,
    blockSize: file.blockSize,
    underConstruction: file.underConstruction,
  };
}

/** Takes a closed file into construction: the open-file index, and mtime as the start of its lease clock. */
function reopen(context: MutationContext, file: Inode): void {
  file.underConstruction = true;
  file.mtime = context.time;
  context.state.openFiles.set(file.id, file);
}

function alreadyOpen(op: { type: string }, path: string): Failure {
  return failure('ALREADY_BEING_CREATED', `${op.type}: ${quote(path)} is open for writing (being written, appended, truncated or concatenated)`);
}

/** The closed file at op.path, or why not. */
function closedFile(context: MutationContext, op: { type: string; path: unknown }): { ok: true; file: Inode; path: string } | Failure {
  const found = findTarget(context, op);
  if (!found.ok) return found;
  if (found.inode.isDirectory()) return failure('IS_DIRECTORY', `${op.type}: ${quote(found.path)} is a directory, not a file`);
  if (found.inode.underConstruction) return alreadyOpen(op, found.path);
  return { ok: true, file: found.inode, path: found.path };
}

/** HDFS: write access on the file; false for a directory; an open file may change too (its next blocks follow). */
export function setReplication(context: MutationContext, op: OpOf<'setReplication'>): Applied {
  if (!(isInteger(op.replication) && op.replication >= 1 && op.replication <= REPLICATION_MAX)) {
    return badArgument(op, 'replication', op.replication, `an integer in 1..${REPLICATION_MAX}`);
  }
  const found = findTarget(context, op);
  if (!found.ok) return found;
  if (found.inode.isDirectory()) return { ok: true, value: false };
  const denied = checkAccess(found.inode, context.identity, WRITE, found.path);
  if (denied !== null) return denied;
  found.inode.replication = op.replication | 0;
  return { ok: true, value: handleOf(context, found.inode) };
}

export function append(context: MutationContext, op: OpOf<'append'>): Applied {
  const found = closedFile(context, op);
  if (!found.ok) return found;
  const denied = checkAccess(found.file, context.identity, WRITE, found.path);
  if (denied !== null) return denied;
  reopen(context, found.file);
  return { ok: true, value: handleOf(context, found.file) };
}

/**
 * To the current length: nothing to do, answered with underConstruction false (HDFS
 * returns true). Shorter: the inode takes the new length at once and stays under
 * construction until the FMS has cut the blocks (at a block boundary at once, mid-block
 * after the datanodes cut the last one).
 */
export function truncate(context: MutationContext, op: OpOf<'truncate'>): Applied {
  if (!(isInteger(op.newLength) && op.newLength >= 0)) return badArgument(op, 'newLength', op.newLength, 'a non-negative integer');
  const found = closedFile(context, op);
  if (!found.ok) return found;
  const { file, path } = found;
  if (op.newLength > file.length) {
    return failure('INVALID_ARGUMENT', `truncate: cannot truncate ${quote(path)} to ${op.newLength} bytes, it only has ${file.length}`);
  }
  const denied = checkAccess(file, context.identity, WRITE, path);
  if (denied !== null) return denied;
  if (op.newLength === file.length) return { ok: true, value: handleOf(context, file) };
  file.length = op.newLength + 0;
  reopen(context, file);
  return { ok: true, value: handleOf(context, file) };
}

/**
 * HDFS's checks (FSDirConcatOp): the target and every source are existing, closed files;
 * the sources are distinct and not the target; every source has the target's block size
 * (so moved blocks fit the target's); write access on the target, read on each source and
 * write on each source's directory (its name goes). Not required, unlike HDFS: sources in
 * the target's directory, and a non-empty source (an empty one just goes away). Ours
 * only: every file in the same FMS shard (CONCAT_ACROSS_SHARDS).
 *
 * The sources' names go at once and their ids do NOT go to the pending-delete queue (their
 * blocks move to the target); the target takes the summed length and stays under
 * construction until its FMS shard has moved the blocks.
 */
export function concat(context: MutationContext, op: OpOf<'concat'>): Applied {
  if (!Array.isArray(op.sources) || op.sources.length === 0 || op.sources.length > CONCAT_SOURCES_MAX) {
    return badArgument(op, 'sources', Array.isArray(op.sources) ? `${op.sources.length} paths` : op.sources, `a list of 1..${CONCAT_SOURCES_MAX} paths`);
  }
  const target = closedFile(context, { type: op.type, path: op.target });
  if (!target.ok) return target;
  const { state, config, identity } = context;
  const shardOf = (file: Inode): string => (config.poolShards.length === 0 ? '' : config.poolShards[file.id % state.pools]!);
  const sources: Inode[] = [];
  for (const path of op.sources) {
    const source = closedFile(context, { type: op.type, path });
    if (!source.ok) return source;
    const file = source.file;
    if (file === target.file) return failure('INVALID_ARGUMENT', `concat: source ${quote(source.path)} is the target`);
    if (sources.includes(file)) return failure('INVALID_ARGUMENT', `concat: source ${quote(source.path)} is named twice`);
    if (file.blockSize !== target.file.blockSize) {
      return failure('INVALID_ARGUMENT', `concat: source ${quote(source.path)} has block size ${file.blockSize}, the target ${quote(target.path)} ${target.file.blockSize}`);
    }
    if (shardOf(file) !== shardOf(target.file)) {
      return failure(
        'CONCAT_ACROSS_SHARDS',
        `concat: source ${quote(source.path)} is in pool ${file.id % state.pools} of ${shardOf(file)}, the target ${quote(target.path)} in pool ${target.file.id % state.pools} of ${shardOf(target.file)}`,
      );
    }
    sources.push(file);
  }
  const denied = checkAccess(target.file, identity, WRITE, target.path);
  if (denied !== null) return denied;
  for (const file of sources) {
    const readDenied = checkAccess(file, identity, READ);
    if (readDenied !== null) return readDenied;
    const parentDenied = checkAccess(file.parent!, identity, WRITE | EXECUTE);
    if (parentDenied !== null) return parentDenied;
  }

  let length = target.file.length;
  for (const file of sources) {
    length += file.length;
    const parent = file.parent!;
    removeChild(parent, file);
    parent.mtime = context.time;
    state.inodeCount--;
  }
  target.file.length = length;
  reopen(context, target.file);
  const { replication, blockSize } = target.file;
  return { ok: true, value: { fileId: target.file.id, pool: target.file.id % state.pools, length, replication, blockSize, sources: sources.map((file) => file.id) } };
}
