// Gathers a member's checkpoint figures from its storage directory: the newest image, its
// age, and how many edit segments lie past it (the alert's "distance", src/metrics/alerts.ts).
// Two directory listings and one stat: cheap enough for every scrape and admin.status.

import { stat } from 'node:fs/promises';
import { listImages, listSegments } from '../replication/storage-layout.js';
import type { CheckpointFigures } from './alerts.js';

export interface StorageFigures {
  newestImageTxid: number | null;
  /** ms since the newest image file was written (null without one, or if it vanished meanwhile). */
  newestImageAgeMs: number | null;
  segmentsSinceImage: number;
}

export async function storageFigures(dir: string, durableTxid: number, nowMs: number): Promise<StorageFigures> {
  const [images, segments] = await Promise.all([listImages(dir), listSegments(dir)]);
  const newest = images.at(-1) ?? null;
  const imageTxid = newest?.txid ?? 0;
  // A finalized segment counts if it ends past the image; the in-progress one if it holds a record.
  const segmentsSinceImage = segments.filter((s) => (s.inProgress ? durableTxid >= s.firstTxid && durableTxid > imageTxid : (s.lastTxid ?? 0) > imageTxid)).length;
  let newestImageAgeMs: number | null = null;
  if (newest) {
    const mtimeMs = await stat(newest.path).then((s) => s.mtimeMs, () => null);
    if (mtimeMs !== null) newestImageAgeMs = Math.max(0, nowMs - mtimeMs);
  }
  return { newestImageTxid: newest?.txid ?? null, newestImageAgeMs, segmentsSinceImage };
}

export function checkpointFiguresOf(
  storage: StorageFigures,
  engine: { durableTxid: number; checkpointPendingMs: number | null },
  limits: { alertSegmentsSinceImageMax: number; checkpointIntervalMs: number },
): CheckpointFigures & { newestImageAgeMs: number | null } {
  return {
    segmentsSinceImage: storage.segmentsSinceImage,
    segmentsMax: limits.alertSegmentsSinceImageMax,
    checkpointPendingMs: engine.checkpointPendingMs,
    checkpointIntervalMs: limits.checkpointIntervalMs,
    newestImageTxid: storage.newestImageTxid,
    newestImageAgeMs: storage.newestImageAgeMs,
    newestEditTxid: engine.durableTxid,
  };
}
