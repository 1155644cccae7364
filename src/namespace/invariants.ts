// Structural invariants of the namespace tree, checked in full. Too slow for every op in
// production (it walks everything); tests and the cluster simulation run it after every
// step, and a loader may run it once after an image. A broken invariant throws.

import { invariant } from '../errors.js';
import { ROOT_INODE_ID, type Inode } from './inode.js';
import type { NamespaceState } from './state.js';

export function assertNamespaceInvariants(state: NamespaceState): void {
  const { root } = state;
  invariant(root.parent === null && root.name === '' && root.id === ROOT_INODE_ID, 'the root is parentless, unnamed, id 16385');
  invariant(root.children !== null, 'the root is a directory');
  const seenIds = new Set<number>();
  let count = 0;
  let openSeen = 0;
  const stack: Inode[] = [root];
  for (let inode = stack.pop(); inode !== undefined; inode = stack.pop()) {
    count++;
    invariant(!seenIds.has(inode.id), `inode id ${inode.id} is unique`);
    seenIds.add(inode.id);
    invariant(inode.id < state.nextFileId, `inode id ${inode.id} is below nextFileId ${state.nextFileId}`);
    invariant(Number.isInteger(inode.permission) && inode.permission >= 0 && inode.permission <= 0o7777, `inode ${inode.id} has mode bits`);
    invariant(state.strings.get(inode.owner) === inode.owner && state.strings.get(inode.group) === inode.group, `inode ${inode.id} owner and group are interned`);
    if (inode.children === null) {
      invariant(inode.sortedNames === null, `file ${inode.id} has no sorted-name cache`);
      if (inode.underConstruction) {
        openSeen++;
        invariant(state.openFiles.get(inode.id) === inode, `open file ${inode.id} is in the open-file index`);
      }
      continue;
    }
    invariant(!inode.underConstruction && inode.length === 0, `directory ${inode.id} is not under construction and has no length`);
    for (const [name, child] of inode.children) {
      invariant(child.parent === inode, `inode ${child.id} points back to its parent ${inode.id}`);
      invariant(child.name === name, `inode ${child.id} is filed under its own name`);
      invariant(name.length > 0 && !name.includes('/'), `inode ${child.id} has a valid name`);
      stack.push(child);
    }
    if (inode.sortedNames !== null) {
      const expected = [...inode.children.keys()].sort();
      invariant(
        inode.sortedNames.length === expected.length && inode.sortedNames.every((name, i) => name === expected[i]),
        `directory ${inode.id} sorted-name cache matches its children`,
      );
    }
  }
  invariant(count === state.inodeCount, `inodeCount ${state.inodeCount} equals the ${count} reachable inodes`);
  invariant(openSeen === state.openFiles.size, `the open-file index holds the ${openSeen} open files and nothing else (it holds ${state.openFiles.size})`);
}
