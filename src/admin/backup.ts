// `tandem admin backup --to DIR` and `tandem admin restore --from DIR --to CLUSTER_DIR`
// (Peta2's operations: every edit kept, plus images).
//
// A backup directory holds, per shard, the newest image the active had at each run and
// every committed edit since the first run, re-framed into segments of its own
// (`edits_<first>-<last>`, the journal's encoding, so every record keeps its CRC): members
// roll their segments at different txids, so copying their files would not chain across a
// failover, while records fetched `from` the last backed-up txid always do. Each run copies
// only what is new — an image it does not have, edits after the last txid it has — checks
// every CRC on the way in, and records each file's SHA-256 in `manifest.json`, which restore
// checks before it writes anything.
//
// Restore writes, into each member directory of every shard (empty: restore makes a new
// cluster's storage, it never merges), the newest image and every segment after it, and an
// epoch history (epochs.json) saying which epoch wrote which txids and promising the newest,
// so the restored members' first takeover picks a higher epoch.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import type { PoolMap } from '../election/pool-map.js';
import { EpochHistory, saveEpochHistory, type EpochStart } from '../replication/epoch-history.js';
import { fetchEdits } from '../replication/edits-transfer.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { internalHeaders } from '../security/http-auth.js';
import { checkImageBytes } from '../replication/image-store.js';
import { fetchImage, type ImageListing } from '../replication/image-server.js';
import { encodeRecord, encodeSegmentHeader, scanRecords, SEGMENT_HEADER_BYTES } from '../replication/record-codec.js';
import type { EditRecord } from '../replication/state-machine.js';
import { finalizedSegmentName, imageName, writeFileDurably } from '../replication/storage-layout.js';

export const MANIFEST_FILE = 'manifest.json';
const MANIFEST_VERSION = 1;
/** Records in one backed-up segment file (a run with more writes several). */
const SEGMENT_RECORDS_MAX = 500_000;
const HTTP_TIMEOUT_MS = 600_000;

export interface BackupFile {
  name: string;
  kind: 'image' | 'edits';
  bytes: number;
  sha256: string;
  /** Image: its txid (first = last). Edits: the range it holds. */
  firstTxid: number;
  lastTxid: number;
}

export interface ShardBackup {
  files: BackupFile[];
  /** Newest txid whose edit is backed up (0: none yet). */
  lastTxid: number;
  /** epoch → first txid, from every record backed up (for the restored epoch history). */
  epochs: EpochStart[];
}

export interface Manifest {
  version: number;
  poolMap: PoolMap | null;
  shards: Record<string, ShardBackup>;
  runs: Array<{ at: string; shards: Record<string, { imagesCopied: number; recordsCopied: number; bytesCopied: number; lastTxid: number }> }>;
}

/** What a backup needs of one shard's active: roll its edits, and its image server. */
export interface ShardSource {
  shard: string;
  /** Finalizes the in-progress segment; answers the committed txid (records past it are not copied). */
  rollEdits(): Promise<{ committedTxid: number }>;
  /** host:port of the active's image server. */
  http: string;
}

export async function readManifest(dir: string): Promise<Manifest | null> {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return null;
  const manifest = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  if (manifest.version !== MANIFEST_VERSION) throw new TandemError('INVALID_ARGUMENT', `${path}: manifest version ${manifest.version}, this tandem reads ${MANIFEST_VERSION}`);
  return manifest;
}

function sha256(buffers: Buffer | readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const b of Buffer.isBuffer(buffers) ? [buffers] : buffers) hash.update(b);
  return hash.digest('hex');
}

/** One backup run over `sources`; returns the updated manifest (also written to DIR). */
/** `secret`: the cluster's, which the active's image server asks of every request (src/security/http-auth.ts). */
export async function backup(dir: string, sources: readonly ShardSource[], poolMap: PoolMap | null, secret: ClusterSecret | null = null): Promise<Manifest> {
  await mkdir(dir, { recursive: true });
  const manifest: Manifest = (await readManifest(dir)) ?? { version: MANIFEST_VERSION, poolMap, shards: {}, runs: [] };
  if (manifest.poolMap && poolMap && JSON.stringify(manifest.poolMap) !== JSON.stringify(poolMap)) {
    throw new TandemError('INVALID_ARGUMENT', `${dir} holds a backup of a cluster with another pool map (${JSON.stringify(manifest.poolMap)})`);
  }
  const run: Manifest['runs'][number] = { at: new Date().toISOString(), shards: {} };
  for (const source of sources) {
    const shardDir = join(dir, source.shard);
    await mkdir(shardDir, { recursive: true });
    const entry: ShardBackup = (manifest.shards[source.shard] ??= { files: [], lastTxid: 0, epochs: [] });
    const counts = { imagesCopied: 0, recordsCopied: 0, bytesCopied: 0, lastTxid: entry.lastTxid };
    const { committedTxid } = await source.rollEdits();

    // The newest image, unless this backup has it already.
    const listingUrl = `http://${source.http}/images`;
    const response = await fetch(listingUrl, { headers: internalHeaders(secret, 'GET', listingUrl), signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    if (!response.ok) throw new TandemError('NOT_FOUND', `GET http://${source.http}/images: HTTP ${response.status}`);
    const listing = (await response.json()) as ImageListing;
    const newest = listing.images.at(-1);
    if (newest && !entry.files.some((f) => f.kind === 'image' && f.firstTxid === newest.txid)) {
      const bytes = await fetchImage(source.http, newest.txid, secret, HTTP_TIMEOUT_MS); // header and CRC checked
      const name = imageName(newest.txid);
      await writeFileDurably(shardDir, name, bytes);
      entry.files.push({ name, kind: 'image', bytes: bytes.length, sha256: sha256(bytes), firstTxid: newest.txid, lastTxid: newest.txid });
      counts.imagesCopied++;
      counts.bytesCopied += bytes.length;
    }

    // Every committed edit after the last one backed up, in segments of our own.
    let from = entry.lastTxid + 1;
    let batch: EditRecord[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const first = batch[0]!.txid;
      const last = batch.at(-1)!.txid;
      const buffers = [encodeSegmentHeader(), ...batch.map(encodeRecord)];
      const name = finalizedSegmentName(first, last);
      const bytes = await writeFileDurably(shardDir, name, buffers);
      entry.files.push({ name, kind: 'edits', bytes, sha256: sha256(buffers), firstTxid: first, lastTxid: last });
      for (const record of batch) {
        if (record.epoch > (entry.epochs.at(-1)?.epoch ?? 0)) entry.epochs.push({ epoch: record.epoch, firstTxid: record.txid });
      }
      entry.lastTxid = last;
      counts.recordsCopied += batch.length;
      counts.bytesCopied += bytes;
      batch = [];
    };
    while (from <= committedTxid) {
      const records = (await fetchEdits(source.http, from, HTTP_TIMEOUT_MS, secret)).filter((r) => r.txid <= committedTxid);
      if (records.length === 0) break;
      const firstTxid = records[0]!.txid;
      if (firstTxid !== from && entry.lastTxid > 0) {
        // The active purged edits this backup never copied: the chain restarts at an image.
        await flush();
        if (!entry.files.some((f) => f.kind === 'image' && f.firstTxid >= firstTxid - 1)) {
          throw new TandemError('JOURNAL_GAP', `shard ${source.shard}: the backup ends at txid ${entry.lastTxid}, the active's edits now start at ${firstTxid}, and no backed-up image covers the gap (back up more often than edits are purged)`);
        }
      }
      batch.push(...records);
      from = records.at(-1)!.txid + 1;
      if (batch.length >= SEGMENT_RECORDS_MAX) await flush();
    }
    await flush();
    counts.lastTxid = entry.lastTxid;
    run.shards[source.shard] = counts;
    await writeManifest(dir, manifest);
  }
  manifest.runs.push(run);
  await writeManifest(dir, manifest);
  return manifest;
}

async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFileDurably(dir, MANIFEST_FILE, Buffer.from(JSON.stringify(manifest, null, 2) + '\n'));
}

/** Reads a backed-up file and checks its SHA-256 and its own checksums (image CRC, every record's CRC). */
async function readVerified(dir: string, shard: string, file: BackupFile): Promise<Buffer> {
  const bytes = await readFile(join(dir, shard, file.name));
  if (bytes.length !== file.bytes || sha256(bytes) !== file.sha256) {
    throw new TandemError(file.kind === 'image' ? 'IMAGE_CORRUPT' : 'JOURNAL_CORRUPT', `${join(dir, shard, file.name)}: its SHA-256 does not match the manifest`);
  }
  if (file.kind === 'image') {
    const checked = checkImageBytes(bytes, file.firstTxid);
    if (!checked.ok) throw new TandemError('IMAGE_CORRUPT', `${join(dir, shard, file.name)}: ${checked.why}`);
  } else {
    const scan = scanRecords(bytes, { start: SEGMENT_HEADER_BYTES, expectedFirstTxid: file.firstTxid });
    if (scan.stop || scan.records.length !== file.lastTxid - file.firstTxid + 1) {
      throw new TandemError('JOURNAL_CORRUPT', `${join(dir, shard, file.name)}: ${scan.stop ? `${scan.stop.reason} at byte ${scan.stop.offset}` : 'wrong record count'}`);
    }
  }
  return bytes;
}

/** What restore chooses for one shard: the newest image and the contiguous segments after it. */
export function restorePlan(entry: ShardBackup): { image: BackupFile | null; edits: BackupFile[] } {
  const image = entry.files.filter((f) => f.kind === 'image').sort((a, b) => a.firstTxid - b.firstTxid).at(-1) ?? null;
  const after = image?.firstTxid ?? 0;
  const segments = entry.files.filter((f) => f.kind === 'edits' && f.lastTxid > after).sort((a, b) => a.firstTxid - b.firstTxid);
  const edits: BackupFile[] = [];
  let next = after + 1;
  for (const s of segments) {
    if (s.firstTxid > next) throw new TandemError('JOURNAL_GAP', `the backup lacks txids ${next}..${s.firstTxid - 1} after image ${after}`);
    edits.push(s);
    next = s.lastTxid + 1;
  }
  return { image, edits };
}

/**
 * Writes every shard's restore set into each of its member directories (`targets`: shard →
 * member dirs). Each must hold no image or edits yet. Returns per shard the txid restored to.
 */
export async function restore(fromDir: string, targets: Record<string, string[]>): Promise<Record<string, { imageTxid: number | null; lastTxid: number; members: number }>> {
  const manifest = await readManifest(fromDir);
  if (!manifest) throw new TandemError('INVALID_ARGUMENT', `${fromDir} holds no ${MANIFEST_FILE}: not a backup`);
  const missing = Object.keys(manifest.shards).filter((s) => !targets[s] || targets[s].length === 0);
  if (missing.length > 0) throw new TandemError('INVALID_ARGUMENT', `no member directories given for shard(s) ${missing.join(', ')}`);
  // Check everything before writing anything.
  const plans = new Map<string, { files: Array<{ file: BackupFile; bytes: Buffer }>; lastTxid: number; imageTxid: number | null }>();
  for (const [shard, entry] of Object.entries(manifest.shards)) {
    const plan = restorePlan(entry);
    const files: Array<{ file: BackupFile; bytes: Buffer }> = [];
    for (const file of [...(plan.image ? [plan.image] : []), ...plan.edits]) files.push({ file, bytes: await readVerified(fromDir, shard, file) });
    plans.set(shard, { files, lastTxid: Math.max(plan.image?.lastTxid ?? 0, plan.edits.at(-1)?.lastTxid ?? 0), imageTxid: plan.image?.firstTxid ?? null });
    for (const dir of targets[shard]!) {
      const names = existsSync(dir) ? await readdir(dir) : [];
      const used = names.filter((n) => n.startsWith('fsimage_') || n.startsWith('edits_'));
      if (used.length > 0) throw new TandemError('INVALID_ARGUMENT', `${dir} already holds ${used.length} image or edit files: restore only into empty storage`);
    }
  }
  const out: Record<string, { imageTxid: number | null; lastTxid: number; members: number }> = {};
  for (const [shard, plan] of plans) {
    const entry = manifest.shards[shard]!;
    const maxEpoch = entry.epochs.at(-1)?.epoch ?? 0;
    for (const dir of targets[shard]!) {
      await mkdir(dir, { recursive: true });
      for (const { file, bytes } of plan.files) await writeFileDurably(dir, file.name, bytes);
      // Which epoch wrote which txids, and a promise no lower than the newest: the restored
      // shard's first takeover (with a fresh ZooKeeper's epoch counter at 0) picks a higher one.
      await saveEpochHistory(dir, new EpochHistory(entry.epochs, maxEpoch));
    }
    out[shard] = { imageTxid: plan.imageTxid, lastTxid: plan.lastTxid, members: targets[shard]!.length };
  }
  return out;
}
