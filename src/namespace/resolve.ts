// Walking a parsed path down the tree.

import { pathOfComponents } from './paths.js';
import type { Inode } from './inode.js';

export interface Resolution {
  components: string[];
  /**
   * inodes[i] is the inode named by the first i components; inodes[0] is the root. The
   * walk stops after the last component, at the first missing component (inodes then
   * ends with the deepest existing directory), or at a file that is not the last
   * component (inodes then ends with that file).
   */
  inodes: Inode[];
}

export function resolve(root: Inode, components: string[]): Resolution {
  const inodes: Inode[] = [root];
  let at = root;
  for (const name of components) {
    if (at.children === null) break;
    const child = at.children.get(name);
    if (child === undefined) break;
    inodes.push(child);
    at = child;
  }
  return { components, inodes };
}

/** The inode the whole path names, or null when some component is missing. */
export function targetOf(resolution: Resolution): Inode | null {
  const { inodes, components } = resolution;
  return inodes.length === components.length + 1 ? inodes[inodes.length - 1]! : null;
}

/** The file that stands where a directory is needed above the target, or null. */
export function blockingFileOf(resolution: Resolution): Inode | null {
  const { inodes, components } = resolution;
  const last = inodes[inodes.length - 1]!;
  return inodes.length <= components.length && !last.isDirectory() ? last : null;
}

/** The existing directory nearest the target among its proper ancestors (the parent when it exists). */
export function deepestExistingAncestorOf(resolution: Resolution): Inode {
  const { inodes, components } = resolution;
  const index = Math.min(inodes.length - 1, components.length - 1);
  return inodes[Math.max(index, 0)]!;
}

export function pathOfResolution(resolution: Resolution, count?: number): string {
  return pathOfComponents(resolution.components, count);
}
