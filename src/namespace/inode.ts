// One inode of the namespace tree, and the few operations that keep a directory's
// children and its derived fields consistent.
//
// Memory is the constraint here: a million-file namespace must fit well under 600 MB.
// Every inode is an instance of one class whose fields are all assigned in the
// constructor, in one order, so V8 gives all of them one hidden class and no dictionary
// mode; there are no per-inode closures; owner and group strings are interned by the
// state (state.ts), so a million files owned by one user share one string.

/** Inode ids as in HDFS: the root is 16385 and the first inode created gets 16386. */
export const ROOT_INODE_ID = 16385;
export const FIRST_INODE_ID = 16386;

export class Inode {
  /** Unique for the life of the namespace; never reused. Files call it their fileId. */
  id: number;
  /** Last path component; '' for the root only. Invariant: parent.children.get(name) === this. */
  name: string;
  /** null for the root only. */
  parent: Inode | null;
  /** Directories: name → child. Files: null. Invariant: non-null exactly for directories. */
  children: Map<string, Inode> | null;
  /**
   * Directories: children's names sorted with plain `<` (UTF-16 code units), built on the
   * first listing and dropped on any change to `children`. Files: always null.
   */
  sortedNames: string[] | null;
  /** POSIX mode bits, 0..0o7777. */
  permission: number;
  /** Interned through the state's string table. */
  owner: string;
  group: string;
  /** Milliseconds since the epoch, from op times. */
  mtime: number;
  atime: number;
  /** Files: bytes, 0 until complete. Directories: 0. */
  length: number;
  /** Files: replica count and block size in bytes. Directories: 0. */
  replication: number;
  blockSize: number;
  /** Files: created and not yet completed. Directories: always false. */
  underConstruction: boolean;

  constructor(
    id: number,
    name: string,
    children: Map<string, Inode> | null,
    permission: number,
    owner: string,
    group: string,
    mtime: number,
    atime: number,
    length: number,
    replication: number,
    blockSize: number,
    underConstruction: boolean,
  ) {
    this.id = id;
    this.name = name;
    this.parent = null;
    this.children = children;
    this.sortedNames = null;
    this.permission = permission;
    this.owner = owner;
    this.group = group;
    this.mtime = mtime;
    this.atime = atime;
    this.length = length;
    this.replication = replication;
    this.blockSize = blockSize;
    this.underConstruction = underConstruction;
  }

  isDirectory(): boolean {
    return this.children !== null;
  }
}

/**
 * A copy of a name that does not keep the string it was cut from alive. Path components
 * come from split(), and V8 makes a substring of 13 or more characters a view into its
 * source: each stored name would pin its whole op path (about 50 MB more per million
 * files). A JSON round trip is the cheapest pure way to get a flat copy.
 */
export function detachedName(name: string): string {
  return name.length < 13 ? name : (JSON.parse(JSON.stringify(name)) as string);
}

export function newDirectory(id: number, name: string, permission: number, owner: string, group: string, mtime: number): Inode {
  // atime 0 as in HDFS, which keeps no access time for directories (setTimes may set one).
  return new Inode(id, detachedName(name), new Map(), permission, owner, group, mtime, 0, 0, 0, 0, false);
}

export function newFile(
  id: number,
  name: string,
  permission: number,
  owner: string,
  group: string,
  time: number,
  replication: number,
  blockSize: number,
): Inode {
  return new Inode(id, detachedName(name), null, permission, owner, group, time, time, 0, replication, blockSize, true);
}

/** The children map of an inode known to be a directory. */
export function childrenOf(directory: Inode): Map<string, Inode> {
  const children = directory.children;
  if (children === null) throw new Error(`invariant broken: inode ${directory.id} is used as a directory but is a file`);
  return children;
}

export function addChild(directory: Inode, child: Inode): void {
  childrenOf(directory).set(child.name, child);
  child.parent = directory;
  directory.sortedNames = null;
}

export function removeChild(directory: Inode, child: Inode): void {
  childrenOf(directory).delete(child.name);
  child.parent = null;
  directory.sortedNames = null;
}

/** The directory's children's names in listing order; cached until the next change. */
export function sortedChildNames(directory: Inode): string[] {
  if (directory.sortedNames === null) directory.sortedNames = [...childrenOf(directory).keys()].sort();
  return directory.sortedNames;
}

/** The absolute path of an inode, by walking up. Only error messages need it. */
export function pathOf(inode: Inode): string {
  const names: string[] = [];
  for (let at: Inode | null = inode; at !== null && at.parent !== null; at = at.parent) names.push(at.name);
  return names.length === 0 ? '/' : `/${names.reverse().join('/')}`;
}

/** Calls visit on the inode and everything below it, depth first, without recursion. */
export function forEachInSubtree(top: Inode, visit: (inode: Inode) => void): void {
  const stack: Inode[] = [top];
  for (let inode = stack.pop(); inode !== undefined; inode = stack.pop()) {
    visit(inode);
    if (inode.children !== null) for (const child of inode.children.values()) stack.push(child);
  }
}
