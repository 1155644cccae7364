// Whole-namespace views for `tandem admin fsck` (docs/data-path.md, "fsck"): every file
// with its id, pool, path and length, one bounded page at a time, and a lookup of files by
// id that also knows the pending-delete queue. Superuser only: they show every path.
//
// The namespace keeps no fileId → inode index (a Map entry per inode would add ~40 bytes
// to each of the ~255 bytes a file costs), so the listing walks the tree in path order —
// depth first, children in sorted-name order, which is the lexicographic order of the
// paths' component lists — and its cursor is the path of the last inode a page visited.
// A page resumes from where that path sorts, whether or not the inode is still there, so
// the walk needs no state between pages and costs O(page + depth · log(width)). Renames
// during a walk can make it miss or repeat a file; fsck confirms what it finds by id
// (findFiles) before it reports or repairs anything.

import { failure, quote, type Failure } from './failure.js';
import { forEachInSubtree, pathOf, sortedChildNames, type Inode } from './inode.js';
import { identify } from './permissions.js';
import { parsePath, pathOfComponents } from './paths.js';
import type { NamespaceConfig, NamespaceState } from './state.js';
import type { Caller } from './ops.js';
import { firstAfter, type QueryResult } from './queries.js';

/** One file as fsck sees it in the namespace. */
export interface NamespaceFileEntry {
  fileId: number;
  pool: number;
  path: string;
  /** Bytes; 0 until complete. */
  length: number;
  replication: number;
  underConstruction: boolean;
}

export interface FileListingPage {
  files: NamespaceFileEntry[];
  /** Pass as `after` for the next page; null when the walk has visited everything. */
  next: string | null;
}

/** What findFiles knows of one id; ids it knows nothing of are left out. */
export type FileLookup =
  | { fileId: number; status: 'live'; file: NamespaceFileEntry }
  /** Deleted in the namespace, not yet handed to (acknowledged by) its FMS shard. */
  | { fileId: number; status: 'pendingDelete'; pool: number };

function answer<T>(value: T): QueryResult<T> {
  return { ok: true, value, mutated: false };
}

function onlySuperuser(what: string, caller: Caller, config: NamespaceConfig): Failure | null {
  const valid = caller !== null && typeof caller === 'object' && typeof caller.user === 'string' && Array.isArray(caller.groups);
  if (!valid) return failure('INVALID_ARGUMENT', `${what}: the caller must have a user and a list of group names`);
  if (identify(caller, config.superuser, config.supergroup).isSuperuser) return null;
  return failure('PERMISSION_DENIED', `${what}: only the superuser (${config.superuser} or group ${config.supergroup}) may list every file; ${quote(caller.user)} is not`);
}

function entryOf(inode: Inode, path: string, pools: number): NamespaceFileEntry {
  return { fileId: inode.id, pool: inode.id % pools, path, length: inode.length, replication: inode.replication, underConstruction: inode.underConstruction };
}

/** A directory being walked: its names (a consistent snapshot within one query) and the next to visit. */
interface Frame {
  directory: Inode;
  components: string[];
  names: readonly string[];
  index: number;
}

function frameOf(directory: Inode, components: string[], index: number): Frame {
  return { directory, components, names: sortedChildNames(directory), index };
}

/** The walk's stack positioned just after `cursor` (a path's components) in path order. */
function resumeAfter(root: Inode, cursor: readonly string[]): Frame[] {
  const stack: Frame[] = [];
  let directory = root;
  let components: string[] = [];
  if (cursor.length === 0) return [frameOf(root, [], 0)];
  for (let i = 0; i < cursor.length; i++) {
    const name = cursor[i]!;
    const frame = frameOf(directory, components, 0);
    frame.index = firstAfter(frame.names, name);
    stack.push(frame);
    const child = directory.children!.get(name);
    // A missing name or a file: everything after it starts with a greater name here.
    if (child === undefined || child.children === null) break;
    components = [...components, name];
    directory = child;
    // The cursor is this directory itself: all of its subtree sorts after it.
    if (i === cursor.length - 1) stack.push(frameOf(directory, components, 0));
  }
  return stack;
}

/**
 * One page of every file in the namespace, in path order: at most min(limit,
 * listPageEntriesMax) inodes visited (directories count, so a page of empty directories
 * still ends), the files among them listed. `after` is the previous page's `next`.
 */
export function listFiles(state: NamespaceState, config: NamespaceConfig, after: string | undefined, limit: number | undefined, caller: Caller): QueryResult<FileListingPage> {
  const denied = onlySuperuser('listFiles', caller, config);
  if (denied !== null) return denied;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
    return failure('INVALID_ARGUMENT', `listFiles: limit must be a positive integer, got ${quote(String(limit))}`);
  }
  let cursor: string[] = [];
  if (after !== undefined) {
    const parsed = parsePath(after, config);
    if (!parsed.ok) return parsed;
    cursor = parsed.components;
  }
  const visitsMax = Math.min(limit ?? config.listPageEntriesMax, config.listPageEntriesMax);
  const stack = resumeAfter(state.root, cursor);
  const files: NamespaceFileEntry[] = [];
  let last: string | null = null;
  let visits = 0;
  for (;;) {
    const top = stack[stack.length - 1];
    if (top === undefined) return answer({ files, next: null });
    if (top.index >= top.names.length) {
      stack.pop();
      continue;
    }
    // The page is full and something is left to visit.
    if (visits >= visitsMax) return answer({ files, next: last });
    const name = top.names[top.index++]!;
    const inode = top.directory.children!.get(name)!;
    const components = [...top.components, name];
    last = pathOfComponents(components);
    visits++;
    if (inode.children === null) files.push(entryOf(inode, last, state.pools));
    else stack.push(frameOf(inode, components, 0));
  }
}

/**
 * What the namespace knows of each id now: a live file (with its path), a deleted file
 * still in the pending-delete queue, or nothing (left out). One walk of the whole tree,
 * O(inodes), so callers batch their ids (at most listPageEntriesMax per call).
 */
export function findFiles(state: NamespaceState, config: NamespaceConfig, fileIds: readonly number[], caller: Caller): QueryResult<FileLookup[]> {
  const denied = onlySuperuser('findFiles', caller, config);
  if (denied !== null) return denied;
  if (!Array.isArray(fileIds) || !fileIds.every((id) => Number.isSafeInteger(id) && id > 0)) {
    return failure('INVALID_ARGUMENT', 'findFiles: fileIds must be a list of positive integers');
  }
  if (fileIds.length > config.listPageEntriesMax) {
    return failure('INVALID_ARGUMENT', `findFiles: at most ${config.listPageEntriesMax} ids per call, got ${fileIds.length}`);
  }
  const wanted = new Set(fileIds);
  const live = new Map<number, Inode>();
  if (wanted.size > 0) {
    forEachInSubtree(state.root, (inode) => {
      if (inode.children === null && wanted.has(inode.id)) live.set(inode.id, inode);
    });
  }
  const found: FileLookup[] = [];
  for (const fileId of wanted) {
    const inode = live.get(fileId);
    if (inode !== undefined) {
      found.push({ fileId, status: 'live', file: entryOf(inode, pathOf(inode), state.pools) });
      continue;
    }
    const pool = state.pendingDeletes.get(fileId);
    if (pool !== undefined) found.push({ fileId, status: 'pendingDelete', pool });
  }
  return answer(found);
}
