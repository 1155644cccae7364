// A deterministic plain-object rendering of the whole logical state, for equality checks
// (replay(image, edits) equals live state; two replicas agree). Children are sorted by
// name, so the order in which they were inserted does not show; the retry cache keeps its
// storage order, which is logical state because eviction follows it.

import { childrenOf, sortedChildNames, type Inode } from './inode.js';
import type { NamespaceState } from './state.js';

export interface InodeDump {
  name: string;
  type: 'file' | 'directory';
  id: number;
  permission: number;
  owner: string;
  group: string;
  mtime: number;
  atime: number;
  length: number;
  replication: number;
  blockSize: number;
  underConstruction: boolean;
  children?: InodeDump[];
}

export interface NamespaceDump {
  nextFileId: number;
  inodeCount: number;
  pools: number;
  root: InodeDump;
  retryCache: { clientId: string; callId: number; time: number; value: unknown }[];
  /** [fileId, pool], oldest first. */
  pendingDeletes: [number, number][];
}

function dumpInode(inode: Inode): InodeDump {
  const dump: InodeDump = {
    name: inode.name,
    type: inode.isDirectory() ? 'directory' : 'file',
    id: inode.id,
    permission: inode.permission,
    owner: inode.owner,
    group: inode.group,
    mtime: inode.mtime,
    atime: inode.atime,
    length: inode.length,
    replication: inode.replication,
    blockSize: inode.blockSize,
    underConstruction: inode.underConstruction,
  };
  if (inode.isDirectory()) {
    const children = childrenOf(inode);
    dump.children = sortedChildNames(inode).map((name) => dumpInode(children.get(name)!));
  }
  return dump;
}

export function canonicalDump(state: NamespaceState): NamespaceDump {
  return {
    nextFileId: state.nextFileId,
    inodeCount: state.inodeCount,
    pools: state.pools,
    root: dumpInode(state.root),
    retryCache: state.retryCache.list().map(({ clientId, callId, time, value }) => ({ clientId, callId, time, value })),
    pendingDeletes: [...state.pendingDeletes],
  };
}

/** Inodes in the namespace, the root included. O(1): kept up to date by every mutation. */
export function inodeCount(state: NamespaceState): number {
  return state.inodeCount;
}
