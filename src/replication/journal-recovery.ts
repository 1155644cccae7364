// Startup recovery of the edit log (DESIGN §3, "Journal"), and reading edits back for replay.
//
// The rule: a torn tail is truncated, damage in the middle is never skipped. A crash in
// the middle of a group commit can only leave the *last* write of the *in-progress*
// segment incomplete, so an invalid record there is a torn tail exactly when no valid
// record follows it. Zeros after the last record are space the writer preallocated: cut
// off quietly, they are no damage. If a valid record (txid above the last good one) starts anywhere
// after the damage, the damage is in the middle and recovery stops with JOURNAL_CORRUPT:
// silently dropping it would lose acknowledged edits and replay later ones on a wrong state.
// Finalized segments were fsynced before their rename, so any damage in them is corruption.
//
// Recovery uses sync fs calls: it runs once, before the process serves anything.

import { existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import {
  findValidRecordAfter,
  isPadding,
  RECORD_PAYLOAD_BYTES_MAX_DEFAULT,
  scanRecords,
  SEGMENT_HEADER_BYTES,
  segmentHeaderProblem,
  skipRecords,
} from './record-codec.js';
import type { EditRecord } from './state-machine.js';
import { finalizedSegmentName, fsyncDirectory, listSegments, truncateFileSync, type SegmentFile } from './storage-layout.js';

export interface RecoveryOptions {
  /**
   * Txid covered by the image the state was loaded from. Segments entirely at or below it
   * may have been purged by retention, so contiguity is only required from afterTxid+1 on,
   * and only the segments holding later txids are read.
   */
  afterTxid?: number;
  /** Largest sane record payload; frameBytesMax by default (see record-codec). */
  payloadBytesMax?: number;
}

export interface RecoveryResult {
  /** Highest txid in the journal, or afterTxid if the image is ahead of every segment. */
  lastTxid: number;
  /** Epoch of the last record in the journal; 0 if the journal is empty. */
  lastEpoch: number;
  /** First txid of the oldest segment present (null if none): 1 unless old edits were purged. */
  firstTxid: number | null;
  /** Set when a torn tail was cut off the in-progress segment. */
  truncated?: { file: string; offset: number; bytesDropped: number };
}

/** Truncates any torn tail, finalizes the in-progress segment and checks the log is whole. */
export async function recoverJournal(dir: string, log: Logger, options: RecoveryOptions = {}): Promise<RecoveryResult> {
  const payloadBytesMax = options.payloadBytesMax ?? RECORD_PAYLOAD_BYTES_MAX_DEFAULT;
  let truncated: RecoveryResult['truncated'];
  // Segments just scanned while finalizing; no need to read them twice.
  const verified = new Map<string, EditRecord[]>();

  for (const segment of await listSegments(dir)) {
    if (!segment.inProgress) continue;
    const outcome = recoverInProgress(dir, segment, payloadBytesMax, log);
    if (outcome.truncated) truncated = outcome.truncated;
    if (outcome.finalizedName) verified.set(outcome.finalizedName, outcome.records);
  }
  await fsyncDirectory(dir);

  const segments = await listSegments(dir);
  checkChain(segments, options.afterTxid);

  const afterTxid = options.afterTxid ?? 0;
  const needed = segments.filter((s) => options.afterTxid === undefined || lastOf(s) > afterTxid);
  // With no needed segment, still read the newest one: its last record carries the epoch.
  const newest = segments.at(-1);
  const toRead = needed.length > 0 || newest === undefined ? needed : [newest];
  let lastEpoch = 0;
  for (const segment of toRead) {
    const records = verified.get(segment.name) ?? verifyFinalized(segment, readFileSync(segment.path), payloadBytesMax, segment.firstTxid);
    const last = records.at(-1);
    if (last) lastEpoch = last.epoch;
  }

  const result: RecoveryResult = {
    lastTxid: Math.max(afterTxid, newest ? lastOf(newest) : 0),
    lastEpoch,
    firstTxid: segments[0]?.firstTxid ?? null,
  };
  if (truncated) result.truncated = truncated;
  log.info(
    { lastTxid: result.lastTxid, lastEpoch, segments: segments.length, read: toRead.length },
    `journal recovered up to txid ${result.lastTxid} (epoch ${lastEpoch}), ${segments.length} segments`,
  );
  return result;
}

/**
 * Yields every record with txid ≥ fromTxid from the finalized segments, in order (an async
 * generator: each segment is read with one readFile). Run recoverJournal first: the
 * in-progress segment is not read. JOURNAL_GAP if the log resumes after fromTxid or skips
 * a range; JOURNAL_CORRUPT if a segment is damaged.
 *
 * `stepOverEarlier`: the records of a segment before fromTxid are stepped over by their
 * length fields (skipRecords), not CRC-checked nor decoded — for an active feeding a standby
 * a few records behind its in-memory tail, which otherwise decoded a whole 64 MB segment
 * (~300 ms for 50k records) to send it two records, right after a failover. What is sent is
 * checked as ever, and so is the segment's end against its name.
 */
export async function* readEdits(
  dir: string,
  fromTxid: number,
  options: { payloadBytesMax?: number; stepOverEarlier?: boolean } = {},
): AsyncGenerator<EditRecord> {
  const payloadBytesMax = options.payloadBytesMax ?? RECORD_PAYLOAD_BYTES_MAX_DEFAULT;
  const segments = (await listSegments(dir)).filter((s) => !s.inProgress && lastOf(s) >= fromTxid);
  let expected = fromTxid;
  for (const segment of segments) {
    if (segment.firstTxid > expected) {
      throw new TandemError(
        'JOURNAL_GAP',
        `edits ${expected}..${segment.firstTxid - 1} are missing: after txid ${expected - 1} the log resumes at ${segment.path}`,
      );
    }
    const records = verifyFinalized(segment, await readFile(segment.path), payloadBytesMax, options.stepOverEarlier ? expected : segment.firstTxid);
    for (const record of records) {
      if (record.txid < expected) continue;
      yield record;
      expected = record.txid + 1;
    }
  }
}

function lastOf(segment: SegmentFile): number {
  if (segment.lastTxid === null) throw new Error(`invariant broken: ${segment.name} is still in progress`);
  return segment.lastTxid;
}

function corrupt(file: string, offset: number, what: string): TandemError {
  return new TandemError('JOURNAL_CORRUPT', `${file}: ${what} at byte offset ${offset}`);
}

/** Finalized segments must not overlap, and must chain without gaps from afterTxid+1 on. */
function checkChain(segments: readonly SegmentFile[], afterTxid: number | undefined): void {
  let previous: SegmentFile | undefined;
  for (const segment of segments) {
    const last = lastOf(segment);
    if (last < segment.firstTxid) throw corrupt(segment.path, 0, `segment name ends (${last}) before it starts`);
    if (previous) {
      const expected = lastOf(previous) + 1;
      if (segment.firstTxid < expected) {
        throw new TandemError('JOURNAL_CORRUPT', `${segment.path} overlaps ${previous.path}: both hold txid ${segment.firstTxid}`);
      }
      // Below the image, purged segments leave legitimate holes.
      const mattersForReplay = afterTxid === undefined || segment.firstTxid > afterTxid + 1;
      if (segment.firstTxid > expected && mattersForReplay) {
        throw new TandemError(
          'JOURNAL_GAP',
          `edits ${Math.max(expected, (afterTxid ?? 0) + 1)}..${segment.firstTxid - 1} are missing between ${previous.path} and ${segment.path}`,
        );
      }
    } else if (afterTxid !== undefined && segment.firstTxid > afterTxid + 1) {
      throw new TandemError(
        'JOURNAL_GAP',
        `edits ${afterTxid + 1}..${segment.firstTxid - 1} are missing: the image covers up to ${afterTxid}, the oldest segment is ${segment.path}`,
      );
    }
    previous = segment;
  }
}

/** A finalized segment must be wholly valid and hold exactly the txids its name says. */
/** The records of a finalized segment from `fromTxid` on (those before are stepped over by their lengths), checked against its name. */
function verifyFinalized(segment: SegmentFile, buf: Buffer, payloadBytesMax: number, fromTxid: number): EditRecord[] {
  const headerProblem = segmentHeaderProblem(buf);
  if (headerProblem) throw corrupt(segment.path, 0, headerProblem);
  const skip = skipRecords(buf, SEGMENT_HEADER_BYTES, Math.max(0, fromTxid - segment.firstTxid), payloadBytesMax);
  if (skip.stop) throw corrupt(segment.path, skip.stop.offset, `${skip.stop.reason}: ${skip.stop.detail}`);
  const scan = scanRecords(buf, { start: skip.offset, expectedFirstTxid: segment.firstTxid + skip.skipped, payloadBytesMax });
  if (scan.stop) throw corrupt(segment.path, scan.stop.offset, `${scan.stop.reason}: ${scan.stop.detail}`);
  const last = scan.records.at(-1)?.txid ?? segment.firstTxid + skip.skipped - 1;
  if (last !== segment.lastTxid) {
    throw corrupt(segment.path, scan.endOffset, `segment ends at txid ${last}, its name says ${segment.lastTxid}`);
  }
  return scan.records;
}

interface InProgressOutcome {
  finalizedName: string | null;
  records: EditRecord[];
  truncated?: { file: string; offset: number; bytesDropped: number };
}

function recoverInProgress(dir: string, segment: SegmentFile, payloadBytesMax: number, log: Logger): InProgressOutcome {
  const buf = readFileSync(segment.path);
  const headerProblem = segmentHeaderProblem(buf);
  if (headerProblem) {
    // The writer fsyncs the header before any record: a bad header followed by more bytes
    // is not a torn header write.
    if (buf.length > SEGMENT_HEADER_BYTES) throw corrupt(segment.path, 0, headerProblem);
    unlinkSync(segment.path);
    log.warn({ file: segment.path, bytes: buf.length }, `torn segment header in ${segment.path} (${headerProblem}), file deleted`);
    return { finalizedName: null, records: [] };
  }

  const scan = scanRecords(buf, { start: SEGMENT_HEADER_BYTES, expectedFirstTxid: segment.firstTxid, payloadBytesMax });
  let truncated: InProgressOutcome['truncated'];
  if (scan.stop && isPadding(buf, scan.stop.offset)) {
    truncateFileSync(segment.path, scan.stop.offset);
    log.info(
      { file: segment.path, offset: scan.stop.offset, bytes: buf.length - scan.stop.offset },
      `cut ${buf.length - scan.stop.offset} bytes of preallocated space off ${segment.path} at byte offset ${scan.stop.offset}`,
    );
  } else if (scan.stop) {
    const { offset, reason, detail } = scan.stop;
    // A whole record with a valid CRC but the wrong txid is never produced by a torn write.
    if (reason === 'txid-order') throw corrupt(segment.path, offset, `record out of order (${detail})`);
    const lastGoodTxid = scan.records.at(-1)?.txid ?? segment.firstTxid - 1;
    const later = findValidRecordAfter(buf, offset + 1, lastGoodTxid, payloadBytesMax);
    if (later) {
      throw corrupt(
        segment.path,
        offset,
        `invalid record (${reason}: ${detail}) followed by a valid record (txid ${later.txid} at byte offset ${later.offset}), ` +
          'corruption in the middle of the log rather than a torn tail,',
      );
    }
    truncateFileSync(segment.path, offset);
    truncated = { file: segment.path, offset, bytesDropped: buf.length - offset };
    log.warn(
      { file: segment.path, offset, bytesDropped: truncated.bytesDropped, reason, lastGoodTxid },
      `torn tail in ${segment.path}: truncated at byte offset ${offset}, dropped ${truncated.bytesDropped} bytes (${reason}); last good txid ${lastGoodTxid}`,
    );
  }

  const lastRecord = scan.records.at(-1);
  if (!lastRecord) {
    unlinkSync(segment.path);
    log.info({ file: segment.path }, `in-progress segment ${segment.path} holds no records, deleted`);
    return truncated ? { finalizedName: null, records: [], truncated } : { finalizedName: null, records: [] };
  }
  const finalizedName = finalizedSegmentName(segment.firstTxid, lastRecord.txid);
  const finalizedPath = join(dir, finalizedName);
  if (existsSync(finalizedPath)) {
    throw new TandemError('JOURNAL_CORRUPT', `${segment.path} and ${finalizedPath} both exist and hold the same txids`);
  }
  renameSync(segment.path, finalizedPath);
  log.info(
    { file: segment.path, segment: finalizedName, records: scan.records.length },
    `finalized leftover in-progress segment as ${finalizedName}`,
  );
  return truncated
    ? { finalizedName, records: scan.records, truncated }
    : { finalizedName, records: scan.records };
}
