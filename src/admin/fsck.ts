// fsck's judgement (docs/data-path.md, "fsck"): pure functions from the namespace's file
// listing and every FMS shard's file listing to findings, from findings to what must be
// confirmed and what a repair does. The driver (fsck-driver.ts) does the calls.
//
// The listings are not one snapshot: they are paged, shard after shard, while the cluster
// works. So the two findings that join NS and FMS are only candidates until confirmed by
// id, in an order that rules out the races (see confirmFindings):
//   - orphan: a file an FMS shard knows and the namespace does not. A file being created
//     is in NS before its FMS hears of it (NS.create comes first), and a deleted file
//     waits in NS's pending-delete queue until its FMS deleted it — neither is an orphan;
//   - missing file: complete in NS with a length > 0, and its FMS shard knows no blocks
//     of it: its data is gone.
// Block findings (missing, corrupt, under- and over-replicated) are about the replica
// counts each shard's active knows now; they need no join and no confirmation.

import type { FileLookup, NamespaceFileEntry } from '../namespace/file-listing.js';
import type { ListedFile } from '../filemeta/file-listing.js';

/** One FMS shard's files, as its active listed them. */
export interface ShardListing {
  shard: string;
  /** The active is in safe mode: its replica counts are still incomplete. */
  safeMode: boolean;
  liveDatanodes: number;
  files: ListedFile[];
}

export interface FsckInput {
  /** Every file in the namespace (listed after the shards). */
  namespace: readonly NamespaceFileEntry[];
  shards: readonly ShardListing[];
  /** The pool map: which shard owns a pool. */
  shardOfPool: (pool: number) => string;
}

export interface MissingFile {
  fileId: number;
  path: string;
  pool: number;
  shard: string;
  length: number;
  /** Its shard knows nothing of it, or knows it without blocks. */
  reason: 'unknown to its FMS shard' | 'no blocks in its FMS shard';
}

export interface OrphanFile {
  fileId: number;
  shard: string;
  pool: number;
  state: 'open' | 'closed';
  length: number;
  blocks: number;
}

/** A file with blocks no replica of which can be read. */
export interface DamagedFile {
  fileId: number;
  path: string;
  shard: string;
  length: number;
  /** No replica known at all. */
  missingBlocks: string[];
  /** Only corrupt replicas known. */
  corruptBlocks: string[];
}

export interface ReplicationFinding {
  fileId: number;
  path: string;
  shard: string;
  replication: number;
  /** Its complete blocks with too few (or too many) good live replicas. */
  blocks: { blockId: string; live: number }[];
}

export interface LengthMismatch {
  fileId: number;
  path: string;
  shard: string;
  namespaceLength: number;
  fmsLength: number;
}

export type FsckStatus = 'HEALTHY' | 'CORRUPT';

export interface FsckTotals {
  /** Files in the namespace, of them under construction, and their bytes. */
  files: number;
  openFiles: number;
  bytes: number;
  /** Blocks of the namespace's files (as their shards list them). */
  blocks: number;
  missingFiles: number;
  orphanFiles: number;
  /** Files with a missing or corrupt block. */
  damagedFiles: number;
  missingBlocks: number;
  corruptBlocks: number;
  underReplicatedBlocks: number;
  underReplicatedFiles: number;
  overReplicatedBlocks: number;
  lengthMismatches: number;
}

export interface FsckFindings {
  /** CORRUPT when some data cannot be read or NS and FMS disagree; replication alone does not count (the FMS heals it). */
  status: FsckStatus;
  totals: FsckTotals;
  shards: { shard: string; files: number; blocks: number; safeMode: boolean; liveDatanodes: number }[];
  missingFiles: MissingFile[];
  orphans: OrphanFile[];
  damagedFiles: DamagedFile[];
  underReplicated: ReplicationFinding[];
  overReplicated: ReplicationFinding[];
  lengthMismatches: LengthMismatch[];
  /** What makes the findings less certain (a shard in safe mode, no live datanode). */
  warnings: string[];
}

/** Where fsck --repair moves files whose data is gone (as HDFS fsck -move). */
export const LOST_AND_FOUND = '/lost+found';

const byFileId = (a: { fileId: number }, b: { fileId: number }): number => a.fileId - b.fileId;

/** Joins the listings: every finding, the NS/FMS ones still candidates. */
export function reconcile(input: FsckInput): FsckFindings {
  const inShards = new Map<number, { shard: string; file: ListedFile }>();
  for (const listing of input.shards) for (const file of listing.files) inShards.set(file.fileId, { shard: listing.shard, file });

  const totals: ListedTotals = { files: 0, openFiles: 0, bytes: 0, blocks: 0 };
  const missingFiles: MissingFile[] = [];
  const damagedFiles: DamagedFile[] = [];
  const underReplicated: ReplicationFinding[] = [];
  const overReplicated: ReplicationFinding[] = [];
  const lengthMismatches: LengthMismatch[] = [];
  const inNamespace = new Set<number>();

  for (const entry of input.namespace) {
    if (inNamespace.has(entry.fileId)) continue; // a page walk may meet a renamed file twice
    inNamespace.add(entry.fileId);
    totals.files++;
    totals.bytes += entry.length;
    if (entry.underConstruction) totals.openFiles++;
    const shard = input.shardOfPool(entry.pool);
    const known = inShards.get(entry.fileId);
    const holdsData = !entry.underConstruction && entry.length > 0;
    if (known === undefined || known.file.blocks.length === 0) {
      if (holdsData) {
        const reason = known === undefined ? 'unknown to its FMS shard' : 'no blocks in its FMS shard';
        missingFiles.push({ fileId: entry.fileId, path: entry.path, pool: entry.pool, shard, length: entry.length, reason });
      }
      continue;
    }
    const { file } = known;
    totals.blocks += file.blocks.length;
    const where = { fileId: entry.fileId, path: entry.path, shard: known.shard };
    if (!entry.underConstruction && file.state === 'closed' && file.length !== entry.length) {
      lengthMismatches.push({ ...where, namespaceLength: entry.length, fmsLength: file.length });
    }
    const missingBlocks: string[] = [];
    const corruptBlocks: string[] = [];
    const under: { blockId: string; live: number }[] = [];
    const over: { blockId: string; live: number }[] = [];
    for (const block of file.blocks) {
      if (block.state !== 'complete') continue; // an open block is its writer's business
      if (block.live === 0) (block.corrupt > 0 ? corruptBlocks : missingBlocks).push(block.blockId);
      else if (block.live < file.replication) under.push({ blockId: block.blockId, live: block.live });
      else if (block.live > file.replication) over.push({ blockId: block.blockId, live: block.live });
    }
    if (missingBlocks.length + corruptBlocks.length > 0) damagedFiles.push({ ...where, length: entry.length, missingBlocks, corruptBlocks });
    if (under.length > 0) underReplicated.push({ ...where, replication: file.replication, blocks: under });
    if (over.length > 0) overReplicated.push({ ...where, replication: file.replication, blocks: over });
  }

  const orphans: OrphanFile[] = [];
  for (const [fileId, { shard, file }] of inShards) {
    if (!inNamespace.has(fileId)) orphans.push(orphanOf(shard, file));
  }

  const warnings: string[] = [];
  for (const listing of input.shards) {
    if (listing.safeMode) warnings.push(`${listing.shard} is in safe mode: its datanodes have not all reported, so replica counts are incomplete`);
    if (listing.liveDatanodes === 0) warnings.push(`${listing.shard} hears no live datanode: every block of it looks missing`);
  }

  return finish({
    totals,
    shards: input.shards.map((l) => ({ shard: l.shard, files: l.files.length, blocks: l.files.reduce((n, f) => n + f.blocks.length, 0), safeMode: l.safeMode, liveDatanodes: l.liveDatanodes })),
    missingFiles: missingFiles.sort(byFileId),
    orphans: orphans.sort(byFileId),
    damagedFiles: damagedFiles.sort(byFileId),
    underReplicated: underReplicated.sort(byFileId),
    overReplicated: overReplicated.sort(byFileId),
    lengthMismatches: lengthMismatches.sort(byFileId),
    warnings,
  });
}

function orphanOf(shard: string, file: ListedFile): OrphanFile {
  return { fileId: file.fileId, shard, pool: file.pool, state: file.state, length: file.length, blocks: file.blocks.length };
}

type ListedTotals = Pick<FsckTotals, 'files' | 'openFiles' | 'bytes' | 'blocks'>;

/** Counts and status from the lists. */
function finish(findings: Omit<FsckFindings, 'status' | 'totals'> & { totals: ListedTotals }): FsckFindings {
  const blocksOf = (list: ReplicationFinding[]): number => list.reduce((n, f) => n + f.blocks.length, 0);
  const totals: FsckTotals = {
    ...findings.totals,
    missingFiles: findings.missingFiles.length,
    orphanFiles: findings.orphans.length,
    damagedFiles: findings.damagedFiles.length,
    missingBlocks: findings.damagedFiles.reduce((n, f) => n + f.missingBlocks.length, 0),
    corruptBlocks: findings.damagedFiles.reduce((n, f) => n + f.corruptBlocks.length, 0),
    underReplicatedBlocks: blocksOf(findings.underReplicated),
    underReplicatedFiles: findings.underReplicated.length,
    overReplicatedBlocks: blocksOf(findings.overReplicated),
    lengthMismatches: findings.lengthMismatches.length,
  };
  const unhealthy = totals.missingFiles + totals.orphanFiles + totals.damagedFiles + totals.lengthMismatches > 0;
  return { status: unhealthy ? 'CORRUPT' : 'HEALTHY', ...findings, totals };
}

/** The ids to look up again, by shard: orphan candidates and missing-file candidates. */
export function candidatesOf(findings: FsckFindings): { orphans: Map<string, number[]>; missing: Map<string, number[]> } {
  const group = (list: { fileId: number; shard: string }[]): Map<string, number[]> => {
    const byShard = new Map<string, number[]>();
    for (const { fileId, shard } of list) byShard.set(shard, [...(byShard.get(shard) ?? []), fileId]);
    return byShard;
  };
  return { orphans: group(findings.orphans), missing: group(findings.missingFiles) };
}

export interface Confirmation {
  /** The namespace asked about the orphan candidates, after both listings. */
  namespaceBefore: readonly FileLookup[];
  /** The shards asked about every candidate, after namespaceBefore. */
  shardsNow: readonly { shard: string; file: ListedFile }[];
  /** The namespace asked about the missing-file candidates, after shardsNow. */
  namespaceAfter: readonly FileLookup[];
}

/**
 * Keeps the candidates that are real. The order of the three lookups is what makes each
 * rule sound (ids are never reused):
 *   - an orphan candidate was in its shard's listing (so NS had created it before that);
 *     NS knowing it neither live nor pending delete afterwards means NS deleted it and its
 *     shard acknowledged the delete — so if the shard still has it later, it truly is an
 *     orphan (e.g. a writer's late addBlock recreated it after the delete);
 *   - a missing candidate was complete in NS; if the shard lacks it and NS still has it,
 *     complete, after that, no delete is on its way (NS removes a name before FMS hears),
 *     so its blocks are gone (FMS completes a file before NS does).
 */
export function confirmFindings(findings: FsckFindings, confirmation: Confirmation): FsckFindings {
  const knownBefore = new Set(confirmation.namespaceBefore.map((l) => l.fileId));
  const now = new Map(confirmation.shardsNow.map((entry) => [entry.file.fileId, entry]));
  const liveAfter = new Map<number, NamespaceFileEntry>();
  for (const lookup of confirmation.namespaceAfter) if (lookup.status === 'live') liveAfter.set(lookup.fileId, lookup.file);

  const orphans = findings.orphans.flatMap((orphan) => {
    const current = now.get(orphan.fileId);
    return knownBefore.has(orphan.fileId) || current === undefined ? [] : [orphanOf(current.shard, current.file)];
  });
  const missingFiles = findings.missingFiles.flatMap((missing): MissingFile[] => {
    const inShard = now.get(missing.fileId);
    const entry = liveAfter.get(missing.fileId);
    if ((inShard !== undefined && inShard.file.blocks.length > 0) || entry === undefined) return [];
    if (entry.underConstruction || entry.length === 0) return [];
    return [{ ...missing, path: entry.path, length: entry.length }];
  });
  const { status: _status, ...rest } = findings;
  return finish({ ...rest, orphans, missingFiles });
}

export interface RepairPlan {
  /** Orphans to delete through fms.deleteFiles, by shard. */
  deleteOrphans: Map<string, number[]>;
  /** Files whose data is gone (missing, or with a block no replica of which can be read), to move under /lost+found. */
  moves: { fileId: number; from: string; to: string }[];
  /** Files left where they are, and why. */
  skipped: { fileId: number; path: string; reason: string }[];
}

/** What --repair does. Under-replicated blocks are not in it: the FMS active re-replicates them on its own. */
export function planRepair(findings: FsckFindings): RepairPlan {
  const deleteOrphans = new Map<string, number[]>();
  for (const orphan of findings.orphans) deleteOrphans.set(orphan.shard, [...(deleteOrphans.get(orphan.shard) ?? []), orphan.fileId]);
  const moves: RepairPlan['moves'] = [];
  const skipped: RepairPlan['skipped'] = [];
  const seen = new Set<number>();
  for (const { fileId, path } of [...findings.missingFiles, ...findings.damagedFiles].sort(byFileId)) {
    if (seen.has(fileId)) continue;
    seen.add(fileId);
    if (path === LOST_AND_FOUND || path.startsWith(`${LOST_AND_FOUND}/`)) skipped.push({ fileId, path, reason: `already in ${LOST_AND_FOUND}` });
    else moves.push({ fileId, from: path, to: `${LOST_AND_FOUND}${path}` });
  }
  return { deleteOrphans, moves, skipped };
}
