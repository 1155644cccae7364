// The shard's files as `tandem admin fsck` reads them (docs/data-path.md, "fsck"): each
// file with its blocks and, per block, how many good live and corrupt replicas this
// member's block map knows — a bounded page at a time, in fileId order. Pure: the replica
// counts come in through `health` (the block map's soft state), so this sees no clock.
//
// The files map is kept in insertion order, not fileId order, so a page scans every file
// once and keeps the `limit` smallest ids after the cursor in a bounded max-heap:
// O(files · log limit) per page, no extra state between pages, and a file created or
// deleted between pages is simply seen or not.

import type { BlockRecord, FileMetaState, FileRecord } from './state.js';

export interface ReplicaHealth {
  /** Live datanodes holding a good replica (the block's genStamp; a complete block's full length, finalized). */
  live: number;
  /** Replicas marked corrupt (a bad checksum on read, or a wrong length). */
  corrupt: number;
}

export interface ListedBlock extends ReplicaHealth {
  blockId: string;
  genStamp: number;
  length: number;
  state: 'open' | 'complete';
}

export interface ListedFile {
  fileId: number;
  pool: number;
  replication: number;
  state: 'open' | 'closed';
  length: number;
  blocks: ListedBlock[];
}

export interface FileMetaListingPage {
  files: ListedFile[];
  /** Pass as `afterFileId` for the next page; null when no file is left. */
  next: number | null;
}

export function listedFile(state: FileMetaState, file: FileRecord, health: (block: BlockRecord) => ReplicaHealth): ListedFile {
  const blocks = file.blocks.map((blockId) => {
    const block = state.blocks.get(blockId)!;
    return { blockId, genStamp: block.genStamp, length: block.length, state: block.state, ...health(block) };
  });
  return { fileId: file.fileId, pool: file.pool, replication: file.replication, state: file.state, length: file.length, blocks };
}

/**
 * The files with the `limit` smallest ids above `afterFileId`, in id order, cut short once
 * the blocks listed reach `blocksMax` (a page always holds at least one file, so a file
 * with more blocks than that still lists, whole).
 */
export function listFilePage(
  state: FileMetaState,
  afterFileId: number,
  limit: number,
  blocksMax: number,
  health: (block: BlockRecord) => ReplicaHealth,
): FileMetaListingPage {
  if (!(Number.isSafeInteger(limit) && limit > 0 && Number.isSafeInteger(blocksMax) && blocksMax > 0)) {
    throw new Error(`listFilePage: limit and blocksMax must be positive integers, got ${limit} and ${blocksMax}`);
  }
  const heap = new MaxHeap(limit);
  for (const fileId of state.files.keys()) if (fileId > afterFileId) heap.offer(fileId);
  const chosen = heap.sortedAscending();
  const files: ListedFile[] = [];
  let blocks = 0;
  for (const fileId of chosen) {
    if (files.length > 0 && blocks >= blocksMax) return { files, next: files[files.length - 1]!.fileId };
    const listed = listedFile(state, state.files.get(fileId)!, health);
    files.push(listed);
    blocks += listed.blocks.length;
  }
  // A full page may have more after it; a short one is the end.
  return { files, next: chosen.length === limit ? chosen[chosen.length - 1]! : null };
}

/** These files, those the shard knows (unknown ids are left out), in the order asked. */
export function describeFiles(state: FileMetaState, fileIds: readonly number[], health: (block: BlockRecord) => ReplicaHealth): ListedFile[] {
  const listed: ListedFile[] = [];
  for (const fileId of new Set(fileIds)) {
    const file = state.files.get(fileId);
    if (file !== undefined) listed.push(listedFile(state, file, health));
  }
  return listed;
}

/** The `capacity` smallest numbers offered, kept in a binary max-heap (the largest on top, evicted first). */
class MaxHeap {
  private readonly items: number[] = [];

  constructor(private readonly capacity: number) {}

  offer(value: number): void {
    const items = this.items;
    if (items.length < this.capacity) {
      items.push(value);
      this.siftUp(items.length - 1);
    } else if (value < items[0]!) {
      items[0] = value;
      this.siftDown(0);
    }
  }

  sortedAscending(): number[] {
    return [...this.items].sort((a, b) => a - b);
  }

  private siftUp(index: number): void {
    const items = this.items;
    while (index > 0) {
      const parent = (index - 1) >>> 1;
      if (items[parent]! >= items[index]!) return;
      [items[parent], items[index]] = [items[index]!, items[parent]!];
      index = parent;
    }
  }

  private siftDown(index: number): void {
    const items = this.items;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let largest = index;
      if (left < items.length && items[left]! > items[largest]!) largest = left;
      if (right < items.length && items[right]! > items[largest]!) largest = right;
      if (largest === index) return;
      [items[largest], items[index]] = [items[index]!, items[largest]!];
      index = largest;
    }
  }
}
