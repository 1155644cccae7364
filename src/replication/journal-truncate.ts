// Cutting an uncommitted tail off a standby's storage (DESIGN §4, takeover step 4).
//
// After a failover, a standby may hold records the deposed active sent it but never
// committed (they were not on every in-sync member). The new active names the last txid on
// which their logs agree; the standby closes its engine, calls truncateStorageAfter, and
// opens it again (state = image + edits up to that txid). Those records were never
// acknowledged to any client, so dropping them loses nothing.
//
// Runs with the engine closed and the storage lock held by the caller's process.

import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { rename } from 'node:fs/promises';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { loadEpochHistory, saveEpochHistory } from './epoch-history.js';
import { scanRecords, SEGMENT_HEADER_BYTES } from './record-codec.js';
import { finalizedSegmentName, fsyncDirectory, listImages, listSegments, truncateFileSync } from './storage-layout.js';

export interface TruncateResult {
  segmentsDeleted: number;
  imagesDeleted: number;
  /** Records dropped from the segment that holds `txid`. */
  recordsDropped: number;
}

/** Deletes every record, image and epoch start after `txid`. */
export async function truncateStorageAfter(dir: string, txid: number, log: Logger): Promise<TruncateResult> {
  const result: TruncateResult = { segmentsDeleted: 0, imagesDeleted: 0, recordsDropped: 0 };
  for (const image of await listImages(dir)) {
    if (image.txid <= txid) continue;
    await unlink(image.path);
    result.imagesDeleted++;
  }
  for (const segment of await listSegments(dir)) {
    if (segment.firstTxid > txid) {
      await unlink(segment.path);
      result.segmentsDeleted++;
      continue;
    }
    if (segment.lastTxid !== null && segment.lastTxid <= txid) continue;
    // This segment holds `txid` and later records: cut it just after `txid`.
    const buf = await readFile(segment.path);
    const scan = scanRecords(buf, { start: SEGMENT_HEADER_BYTES, expectedFirstTxid: segment.firstTxid });
    const keep = scan.records.findIndex((r) => r.txid === txid);
    if (keep === -1) {
      throw new TandemError('JOURNAL_CORRUPT', `${segment.path}: cannot truncate after txid ${txid}, the segment does not hold it whole`);
    }
    let offset = SEGMENT_HEADER_BYTES;
    const kept = scan.records.slice(0, keep + 1);
    // Re-derive the byte offset just past `txid` by walking the record lengths.
    for (let i = 0; i < kept.length; i++) offset += 8 + buf.readUInt32BE(offset);
    result.recordsDropped += scan.records.length - kept.length;
    truncateFileSync(segment.path, offset);
    const finalName = finalizedSegmentName(segment.firstTxid, txid);
    if (join(dir, finalName) !== segment.path) await rename(segment.path, join(dir, finalName));
  }
  const history = await loadEpochHistory(dir);
  history.truncateAfter(txid);
  await saveEpochHistory(dir, history);
  await fsyncDirectory(dir);
  log.warn(
    { txid, ...result },
    `truncated the uncommitted tail after txid ${txid}: ${result.recordsDropped} records cut, ${result.segmentsDeleted} segments and ${result.imagesDeleted} images deleted`,
  );
  return result;
}
