// Retention of old images and edit segments (DESIGN §3, "Images"): by age and by count,
// never deleting what the oldest kept image needs to be replayed up to the present.
//
// An image goes only if it is outside the imagesRetainedMin newest AND older than
// retentionAgeMs. A finalized segment goes only if every txid in it is covered by the
// oldest kept image AND it is older than retentionAgeMs. The in-progress segment is never
// touched, and with no image at all no segment is deleted (the edits are the only copy).

import { stat, unlink } from 'node:fs/promises';
import type { Logger } from '../util/log.js';
import { fsyncDirectory, listImages, listSegments } from './storage-layout.js';

export interface RetentionPolicy {
  retentionAgeMs: number;
  imagesRetainedMin: number;
  /** Wall-clock ms to measure ages against (injected; the caller owns the clock). */
  now: number;
}

export interface PurgeResult {
  /** File names deleted. */
  images: string[];
  segments: string[];
  /** Txid of the oldest image kept (what recovery can start from), null if there is none. */
  oldestKeptImageTxid: number | null;
}

export async function purgeOldStorage(dir: string, policy: RetentionPolicy, log: Logger): Promise<PurgeResult> {
  const cutoffMs = policy.now - policy.retentionAgeMs;
  const result: PurgeResult = { images: [], segments: [], oldestKeptImageTxid: null };

  const newestFirst = (await listImages(dir)).reverse();
  for (const [rank, image] of newestFirst.entries()) {
    const mtimeMs = (await stat(image.path)).mtimeMs;
    if (rank < policy.imagesRetainedMin || mtimeMs >= cutoffMs) {
      // Kept images need not be contiguous in txid order; the oldest one sets the floor.
      result.oldestKeptImageTxid = Math.min(result.oldestKeptImageTxid ?? image.txid, image.txid);
      continue;
    }
    await unlink(image.path);
    result.images.push(image.name);
    log.info({ file: image.name, txid: image.txid, mtimeMs }, `retention: deleted image ${image.name}`);
  }

  const floorTxid = result.oldestKeptImageTxid;
  if (floorTxid !== null) {
    for (const segment of await listSegments(dir)) {
      if (segment.inProgress || segment.lastTxid === null || segment.lastTxid > floorTxid) continue;
      const mtimeMs = (await stat(segment.path)).mtimeMs;
      if (mtimeMs >= cutoffMs) continue;
      await unlink(segment.path);
      result.segments.push(segment.name);
      log.info(
        { file: segment.name, lastTxid: segment.lastTxid, oldestKeptImageTxid: floorTxid },
        `retention: deleted edit segment ${segment.name}, covered by image at txid ${floorTxid}`,
      );
    }
  }

  if (result.images.length + result.segments.length > 0) await fsyncDirectory(dir);
  return result;
}
