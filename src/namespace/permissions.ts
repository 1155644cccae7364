// POSIX permission checks as HDFS's FSPermissionChecker makes them: the owner's bits if
// the caller owns the inode, else the group's bits if the caller is in its group, else
// the others' bits. The superuser, and every member of the supergroup, passes them all.

import { failure, type Failure } from './failure.js';
import { pathOf, type Inode } from './inode.js';
import { pathOfComponents } from './paths.js';
import type { Caller } from './ops.js';

/** Access bits, as in a mode's rwx triplet. Combine with `|`. */
export const READ = 4;
export const WRITE = 2;
export const EXECUTE = 1;

/** HDFS's FsAction names, so denials read as an HDFS user expects. */
const ACCESS_NAMES = ['NONE', 'EXECUTE', 'WRITE', 'WRITE_EXECUTE', 'READ', 'READ_EXECUTE', 'READ_WRITE', 'ALL'];

/** A caller, resolved once per op against the superuser settings. */
export interface Identity {
  user: string;
  groups: readonly string[];
  isSuperuser: boolean;
}

export function identify(caller: Caller, superuser: string, supergroup: string): Identity {
  return {
    user: caller.user,
    groups: caller.groups,
    isSuperuser: caller.user === superuser || caller.groups.includes(supergroup),
  };
}

export function permits(inode: Inode, identity: Identity, access: number): boolean {
  if (identity.isSuperuser) return true;
  const mode = inode.permission;
  let bits: number;
  if (inode.owner === identity.user) bits = (mode >> 6) & 7;
  else if (identity.groups.includes(inode.group)) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  return (bits & access) === access;
}

/** "drwxr-xr-x", as `ls` and HDFS show a mode (the sticky bit as t/T). */
export function modeString(inode: Inode): string {
  const mode = inode.permission;
  let text = inode.isDirectory() ? 'd' : '-';
  for (const shift of [6, 3, 0]) {
    text += mode & (4 << shift) ? 'r' : '-';
    text += mode & (2 << shift) ? 'w' : '-';
    const execute = (mode & (1 << shift)) !== 0;
    if (shift === 0 && mode & 0o1000) text += execute ? 't' : 'T';
    else text += execute ? 'x' : '-';
  }
  return text;
}

function denied(identity: Identity, access: number, inode: Inode, path: string): Failure {
  return failure(
    'PERMISSION_DENIED',
    `Permission denied: user=${identity.user}, access=${ACCESS_NAMES[access] ?? String(access)}, ` +
      `inode="${path}":${inode.owner}:${inode.group}:${modeString(inode)}`,
  );
}

/**
 * PERMISSION_DENIED unless the caller has `access` on the inode. `path` defaults to the
 * inode's own, computed only for a refusal: leave it out unless it differs (computing it
 * on every call was ~1 µs of each create).
 */
export function checkAccess(inode: Inode, identity: Identity, access: number, path?: string): Failure | null {
  if (permits(inode, identity, access)) return null;
  return denied(identity, access, inode, path ?? pathOf(inode));
}

/**
 * Search permission on every existing directory above the path: `inodes[i]` is the inode
 * named by the first i components (inodes[0] the root), as resolve() returns them. The
 * walk stops at a file, which is a resolution error for the caller to report.
 */
export function checkTraverse(inodes: readonly Inode[], components: readonly string[], identity: Identity): Failure | null {
  if (identity.isSuperuser) return null;
  const ancestors = Math.min(inodes.length, components.length);
  for (let i = 0; i < ancestors; i++) {
    const inode = inodes[i]!;
    if (!inode.isDirectory()) break;
    if (!permits(inode, identity, EXECUTE)) return denied(identity, EXECUTE, inode, pathOfComponents(components, i));
  }
  return null;
}

/** setPermission/setTimes/setOwner need the caller to own the inode (or be the superuser). */
export function checkOwner(inode: Inode, identity: Identity, path: string): Failure | null {
  if (identity.isSuperuser || inode.owner === identity.user) return null;
  return failure('PERMISSION_DENIED', `Permission denied: user=${identity.user} is not the owner of inode="${path}"`);
}
