// Read-only queries: getFileInfo, listStatus, contentSummary. They never change the
// logical state; the only thing they may build is a directory's sorted-name cache.

import { failure, quote, type Failure } from './failure.js';
import { childrenOf, sortedChildNames, type Inode } from './inode.js';
import { checkAccess, checkTraverse, EXECUTE, identify, permits, READ, type Identity } from './permissions.js';
import { parsePath } from './paths.js';
import { resolve, targetOf, type Resolution } from './resolve.js';
import type { NamespaceConfig, NamespaceState } from './state.js';
import type { Caller, ContentSummary, FileStatus, ListingPage, NameListingPage } from './ops.js';
import type { Outcome } from '../replication/state-machine.js';

/** A query's answer: Outcome with mutated always false, so callers handle one shape. */
export type QueryResult<T> = Outcome<T>;

function answer<T>(value: T): QueryResult<T> {
  return { ok: true, value, mutated: false };
}

export function fileStatusOf(inode: Inode, pools: number): FileStatus {
  const isDirectory = inode.children !== null;
  return {
    name: inode.name,
    type: isDirectory ? 'directory' : 'file',
    fileId: inode.id,
    permission: inode.permission,
    owner: inode.owner,
    group: inode.group,
    mtime: inode.mtime,
    atime: inode.atime,
    replication: inode.replication,
    blockSize: inode.blockSize,
    length: inode.length,
    // Pools hold file metadata only; a directory reports 0.
    pool: isDirectory ? 0 : inode.id % pools,
    underConstruction: inode.underConstruction,
    childrenCount: inode.children === null ? 0 : inode.children.size,
  };
}

function checkCaller(caller: Caller): Failure | null {
  const valid =
    caller !== null &&
    typeof caller === 'object' &&
    typeof caller.user === 'string' &&
    caller.user.length > 0 &&
    Array.isArray(caller.groups) &&
    caller.groups.every((group) => typeof group === 'string');
  return valid ? null : failure('INVALID_ARGUMENT', 'the caller must have a non-empty user and a list of group names');
}

type Located = { ok: true; resolution: Resolution; identity: Identity; path: string } | Failure;

function locate(state: NamespaceState, config: NamespaceConfig, path: unknown, caller: Caller): Located {
  const badCaller = checkCaller(caller);
  if (badCaller !== null) return badCaller;
  const parsed = parsePath(path, config);
  if (!parsed.ok) return parsed;
  const identity = identify(caller, config.superuser, config.supergroup);
  const resolution = resolve(state.root, parsed.components);
  const denied = checkTraverse(resolution.inodes, parsed.components, identity);
  if (denied !== null) return denied;
  return { ok: true, resolution, identity, path: path as string };
}

/** The status of the inode at `path`, or null when there is none. Needs search permission only. */
export function getFileInfo(state: NamespaceState, config: NamespaceConfig, path: string, caller: Caller): QueryResult<FileStatus | null> {
  const located = locate(state, config, path, caller);
  if (!located.ok) return located;
  const inode = targetOf(located.resolution);
  return answer(inode === null ? null : fileStatusOf(inode, state.pools));
}

/** Index of the first name strictly greater than `after` in a sorted array. */
export function firstAfter(names: readonly string[], after: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (names[middle]! <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * One page of a directory listing, sorted by name: the children strictly after
 * `startAfter`, at most min(limit, listPageEntriesMax), each turned into an entry by
 * `entryOf`. A file lists as itself. Needs read and search permission on the directory.
 */
function listPage<Entry>(
  what: 'listStatus' | 'listNames',
  entryOf: (inode: Inode) => Entry,
  /** When set, a page of names maps to entries in one step (no lookup of each child). */
  entriesOfNames: ((names: string[]) => Entry[]) | null,
  state: NamespaceState,
  config: NamespaceConfig,
  path: string,
  startAfter: string | undefined,
  limit: number | undefined,
  caller: Caller,
): QueryResult<{ entries: Entry[]; remaining: number }> {
  if (startAfter !== undefined && typeof startAfter !== 'string') {
    return failure('INVALID_ARGUMENT', `${what}: startAfter must be a string, got ${quote(String(startAfter))}`);
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
    return failure('INVALID_ARGUMENT', `${what}: limit must be a positive integer, got ${quote(String(limit))}`);
  }
  const located = locate(state, config, path, caller);
  if (!located.ok) return located;
  const inode = targetOf(located.resolution);
  if (inode === null) return failure('NOT_FOUND', `${what}: ${quote(located.path)} does not exist`);
  if (inode.children === null) return answer({ entries: [entryOf(inode)], remaining: 0 });
  const denied = checkAccess(inode, located.identity, READ | EXECUTE, located.path);
  if (denied !== null) return denied;

  const names = sortedChildNames(inode);
  const start = startAfter === undefined ? 0 : firstAfter(names, startAfter);
  const pageSize = Math.min(limit ?? config.listPageEntriesMax, config.listPageEntriesMax);
  const end = Math.min(start + pageSize, names.length);
  if (entriesOfNames !== null) {
    // A whole listing hands out the directory's cached array itself (no copy): callers
    // treat query results as read-only, and the master keys its wire encoding on it.
    const page = start === 0 && end === names.length ? names : names.slice(start, end);
    return answer({ entries: entriesOfNames(page), remaining: names.length - end });
  }
  const entries: Entry[] = [];
  for (let i = start; i < end; i++) entries.push(entryOf(inode.children.get(names[i]!)!));
  return answer({ entries, remaining: names.length - end });
}

/** One page of a directory listing with the full status of each entry (HDFS listStatus). */
export function listStatus(
  state: NamespaceState,
  config: NamespaceConfig,
  path: string,
  startAfter: string | undefined,
  limit: number | undefined,
  caller: Caller,
): QueryResult<ListingPage> {
  return listPage('listStatus', (inode) => fileStatusOf(inode, state.pools), null, state, config, path, startAfter, limit, caller);
}

/**
 * One page of a directory's names only (POSIX readdir, ZooKeeper getChildren): what a
 * client that does not need every inode's attributes should ask for — an order of
 * magnitude less to encode and send than listStatus.
 */
export function listNames(
  state: NamespaceState,
  config: NamespaceConfig,
  path: string,
  startAfter: string | undefined,
  limit: number | undefined,
  caller: Caller,
): QueryResult<NameListingPage> {
  const page = listPage('listNames', (inode) => inode.name, (names) => names, state, config, path, startAfter, limit, caller);
  if (!page.ok) return page;
  return answer({ names: page.value.entries, remaining: page.value.remaining });
}

/**
 * Totals over the subtree at `path`; directoryCount counts the directory itself, as HDFS.
 * Needs read and search permission on every directory of the subtree. A caller who can
 * be denied walks in sorted order, so the same tree always names the same directory.
 */
export function contentSummary(state: NamespaceState, config: NamespaceConfig, path: string, caller: Caller): QueryResult<ContentSummary> {
  const located = locate(state, config, path, caller);
  if (!located.ok) return located;
  const top = targetOf(located.resolution);
  if (top === null) return failure('NOT_FOUND', `contentSummary: ${quote(located.path)} does not exist`);
  const { identity } = located;
  const summary: ContentSummary = { length: 0, fileCount: 0, directoryCount: 0 };
  const stack: Inode[] = [top];
  for (let inode = stack.pop(); inode !== undefined; inode = stack.pop()) {
    if (inode.children === null) {
      summary.fileCount++;
      summary.length += inode.length;
      continue;
    }
    summary.directoryCount++;
    if (identity.isSuperuser) {
      for (const child of inode.children.values()) stack.push(child);
      continue;
    }
    if (!permits(inode, identity, READ | EXECUTE)) return checkAccess(inode, identity, READ | EXECUTE)!;
    const children = childrenOf(inode);
    const names = sortedChildNames(inode);
    for (let i = names.length - 1; i >= 0; i--) stack.push(children.get(names[i]!)!);
  }
  return answer(summary);
}
