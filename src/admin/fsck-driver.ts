// `tandem admin fsck` against a running cluster (docs/data-path.md, "fsck"): lists every
// FMS shard's files, then the namespace's, judges them (fsck.ts, pure), confirms the
// NS/FMS candidates by id, and with --repair deletes the orphans through fms.deleteFiles
// and moves files whose data is gone to /lost+found.
//
// The order of the calls is part of the correctness argument in fsck.ts: the shards are
// listed before the namespace, and the confirmations run namespace (orphans) → shards →
// namespace (missing files).

import { TandemError } from '../errors.js';
import { shardOfPool } from '../election/pool-map.js';
import type { TandemClient } from '../client/tandem-client.js';
import type { FileListingPage, FileLookup, NamespaceFileEntry } from '../namespace/file-listing.js';
import type { FileMetaListingPage, ListedFile } from '../filemeta/file-listing.js';
import { candidatesOf, confirmFindings, LOST_AND_FOUND, planRepair, reconcile, type FsckFindings, type ShardListing } from './fsck.js';
import type { FsckReport, FsckRepairs } from './fsck-report.js';

export interface FsckOptions {
  repair?: boolean;
  /** Files (FMS) or inodes (NS) asked for per page; the servers cap it (1,000). */
  pageSize?: number;
}

/** Ids per findFiles / getFiles / deleteFiles call (the servers' caps). */
const IDS_PER_CALL_MAX = 1_000;

interface ShardPage extends FileMetaListingPage {
  shard: string;
  safeMode: boolean;
  liveDatanodes: number;
}

export async function runFsck(client: TandemClient, opts: FsckOptions = {}): Promise<FsckReport> {
  const poolMap = await client.pools();
  if (poolMap === null) throw new TandemError('INVALID_ARGUMENT', 'this cluster has no file-metadata shards (no pool map in ZooKeeper): there is no data to check');
  const who = { user: client.user, groups: client.groups };
  const pageSize = opts.pageSize ?? IDS_PER_CALL_MAX;

  // 1. Every shard's files, then 2. the namespace's (the order matters: see fsck.ts).
  const shards: ShardListing[] = [];
  for (const shard of poolMap.shards) shards.push(await listShard(client, shard, pageSize));
  const namespace = await listNamespace(client, pageSize);
  let findings = reconcile({ namespace, shards, shardOfPool: (pool) => shardOfPool(poolMap, pool) });

  // 3. Confirm the candidates by id: namespace (orphans) → shards (all) → namespace (missing).
  const candidates = candidatesOf(findings);
  if (candidates.orphans.size + candidates.missing.size > 0) {
    const orphanIds = [...candidates.orphans.values()].flat();
    const namespaceBefore = await findInNamespace(client, orphanIds);
    const shardsNow: { shard: string; file: ListedFile }[] = [];
    for (const shard of new Set([...candidates.orphans.keys(), ...candidates.missing.keys()])) {
      const ids = [...(candidates.orphans.get(shard) ?? []), ...(candidates.missing.get(shard) ?? [])];
      for (const batch of batches(ids)) {
        const page = await client.fmsShard(shard).call<ShardPage>('fms.getFiles', { fileIds: batch, ...who });
        for (const file of page.files) shardsNow.push({ shard, file });
      }
    }
    const namespaceAfter = await findInNamespace(client, [...candidates.missing.values()].flat());
    findings = confirmFindings(findings, { namespaceBefore, shardsNow, namespaceAfter });
  }
  if (!opts.repair) return findings;
  return { ...findings, repairs: await repair(client, findings) };
}

async function listShard(client: TandemClient, shard: string, limit: number): Promise<ShardListing> {
  const caller = client.fmsShard(shard);
  const files: ListedFile[] = [];
  let afterFileId = 0;
  for (;;) {
    const page = await caller.call<ShardPage>('fms.listFiles', { afterFileId, limit, user: client.user, groups: client.groups });
    for (const file of page.files) files.push(file);
    if (page.next === null) return { shard, safeMode: page.safeMode, liveDatanodes: page.liveDatanodes, files };
    if (!(page.next > afterFileId)) throw new TandemError('INTERNAL', `${shard}: fms.listFiles did not move forward (after ${afterFileId}, next ${page.next})`);
    afterFileId = page.next;
  }
}

async function listNamespace(client: TandemClient, limit: number): Promise<NamespaceFileEntry[]> {
  const files: NamespaceFileEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await client.call<FileListingPage>('ns.listFiles', { ...(after === undefined ? {} : { after }), limit, user: client.user, groups: client.groups });
    for (const file of page.files) files.push(file);
    if (page.next === null) return files;
    if (page.next === after) throw new TandemError('INTERNAL', `ns.listFiles did not move forward (after ${after})`);
    after = page.next;
  }
}

async function findInNamespace(client: TandemClient, fileIds: number[]): Promise<FileLookup[]> {
  const found: FileLookup[] = [];
  for (const batch of batches(fileIds)) {
    for (const lookup of await client.call<FileLookup[]>('ns.findFiles', { fileIds: batch, user: client.user, groups: client.groups })) found.push(lookup);
  }
  return found;
}

function batches(ids: number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_CALL_MAX) out.push(ids.slice(i, i + IDS_PER_CALL_MAX));
  return out;
}

async function repair(client: TandemClient, findings: FsckFindings): Promise<FsckRepairs> {
  const plan = planRepair(findings);
  const repairs: FsckRepairs = {
    orphansDeleted: [],
    movedToLostFound: [],
    skipped: [...plan.skipped],
    underReplicated:
      findings.totals.underReplicatedBlocks > 0
        ? 'each FMS active schedules copies of them on its own (throttled); fsck adds nothing'
        : 'none',
  };
  for (const [shard, fileIds] of plan.deleteOrphans) {
    for (const batch of batches(fileIds)) {
      const answer = await client.fmsShard(shard).call<{ deleted: number; blocks: number }>('fms.deleteFiles', { fileIds: batch, ...client.mutationEnvelope() });
      repairs.orphansDeleted.push({ shard, fileIds: batch, deleted: answer.deleted, blocks: answer.blocks });
    }
  }
  for (const move of plan.moves) {
    const outcome = await moveToLostFound(client, move);
    if (typeof outcome === 'string') repairs.skipped.push({ fileId: move.fileId, path: move.from, reason: outcome });
    else repairs.movedToLostFound.push(outcome);
  }
  return repairs;
}

/** Renames the file under /lost+found (its parents made first); answers why not when it did not. */
async function moveToLostFound(client: TandemClient, move: { fileId: number; from: string; to: string }): Promise<{ fileId: number; from: string; to: string } | string> {
  try {
    // The path may name another file by now (deleted and created again): move only this one.
    const info = await client.getFileInfo(move.from);
    if (info === null || info.fileId !== move.fileId) return `no longer at ${move.from}`;
    const parent = move.to.slice(0, move.to.lastIndexOf('/'));
    await client.mkdirs(parent === '' ? LOST_AND_FOUND : parent);
    // Something of that name is there from an earlier repair: keep both (renaming onto a
    // directory would move the file into it).
    for (const to of [move.to, `${move.to}.${move.fileId}`]) {
      if ((await client.getFileInfo(to)) === null && (await client.rename(move.from, to))) return { ...move, to };
    }
    return `could not rename it to ${move.to}: that name is taken`;
  } catch (err) {
    if (err instanceof TandemError) return `${err.code}: ${err.message}`;
    throw err;
  }
}
