// Structural invariants of the file-metadata state, checked in full (O(files + blocks)).
// Tests and the simulation run it after every step; a loader may run it after an image.
// A broken invariant throws.

import { invariant } from '../errors.js';
import { parseBlockId, type FileMetaState } from './state.js';

export function assertFileMetaInvariants(state: FileMetaState): void {
  let listed = 0;
  let open = 0;
  for (const [fileId, file] of state.files) {
    invariant(file.fileId === fileId, `file ${fileId} is filed under its own id`);
    invariant(state.ownedPools.has(file.pool), `file ${fileId} is in pool ${file.pool}, owned by this shard`);
    invariant((file.state === 'open') === (file.holder !== null), `file ${fileId} has a holder exactly when open`);
    invariant((file.state === 'open') === state.openFiles.has(fileId), `file ${fileId} is in the open-file index exactly when open`);
    if (file.state === 'open') open++;
    invariant(!file.truncating || (file.state === 'open' && file.blocks.length > 0), `file ${fileId} is being truncated only while open, with a block to cut`);
    let length = 0;
    file.blocks.forEach((blockId, index) => {
      const block = state.blocks.get(blockId);
      invariant(block !== undefined, `block ${blockId} of file ${fileId} exists`);
      invariant(block.fileId === fileId, `block ${blockId} points back to file ${fileId}`);
      const parsed = parseBlockId(blockId);
      invariant(parsed !== null && parsed.shard === state.shard && parsed.seq < state.nextBlockSeq, `block ${blockId} has an id of this shard below nextBlockSeq`);
      invariant(block.genStamp < state.nextGenStamp, `block ${blockId} genStamp ${block.genStamp} is below nextGenStamp`);
      invariant(block.length >= 0 && block.length <= file.blockSize, `block ${blockId} length ${block.length} is within the block size`);
      const lastOfOpen = file.state === 'open' && index === file.blocks.length - 1;
      // The last block of an open file may be complete: reopened by append, no block added yet.
      invariant(block.state === 'complete' || lastOfOpen, `block ${blockId} is complete unless it is the last block of an open file`);
      if (file.truncating && lastOfOpen) invariant(block.state === 'open', `the last block ${blockId} of file ${fileId}, being truncated, is open`);
      length += block.length;
    });
    invariant(length === file.length, `file ${fileId} length ${file.length} is the sum of its blocks' ${length}`);
    listed += file.blocks.length;
  }
  invariant(listed === state.blocks.size, `every one of the ${state.blocks.size} blocks is listed by its file (${listed} listed)`);
  invariant(open === state.openFiles.size, `the open-file index holds only open files`);
}
