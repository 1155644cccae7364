// Edits over HTTP: `GET /edits?from=<txid>` on an image server (finalized segments) and on
// a monitor (the dead master's segments, its in-progress one included: "sealed" by reading
// up to the last valid record, without writing to a directory the master may be restarted
// on). The body is the records in their journal encoding (u32 length | u32 crc32c |
// msgpack), so the receiver checks every CRC.

import { readFile } from 'node:fs/promises';
import { TandemError } from '../errors.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { internalGetError, internalHeaders } from '../security/http-auth.js';
import { encodeRecord, scanRecords, SEGMENT_HEADER_BYTES, skipRecords } from './record-codec.js';
import type { EditRecord } from './state-machine.js';
import { listSegments } from './storage-layout.js';

/**
 * Every whole, valid record with txid ≥ fromTxid in `dir`, in order, at most `recordsMax`.
 * The records of a segment before fromTxid are stepped over with their CRC checked but not
 * decoded: a standby taking over asks a monitor for the few records after its own last one,
 * and decoding the whole in-progress segment to find them took ~350 ms for 60k records —
 * most of a failover.
 */
export async function readEditsFrom(dir: string, fromTxid: number, opts: { includeInProgress: boolean; recordsMax: number }): Promise<EditRecord[]> {
  const out: EditRecord[] = [];
  for (const segment of await listSegments(dir)) {
    if (segment.inProgress ? !opts.includeInProgress : segment.lastTxid! < fromTxid) continue;
    const bytes = await readFile(segment.path);
    // A segment's records go up by one from its first txid.
    const skip = skipRecords(bytes, SEGMENT_HEADER_BYTES, Math.max(0, fromTxid - segment.firstTxid));
    const scan = skip.stop ? { records: [], stop: skip.stop } : scanRecords(bytes, { start: skip.offset, expectedFirstTxid: segment.firstTxid + skip.skipped });
    if (scan.stop && !segment.inProgress) {
      throw new TandemError('JOURNAL_CORRUPT', `${segment.path}: ${scan.stop.reason} at byte offset ${scan.stop.offset}`);
    }
    // In the in-progress segment, the first bad record is the torn end of what was written.
    for (const record of scan.records) {
      if (record.txid < fromTxid) continue;
      if (out.length > 0 && record.txid !== out.at(-1)!.txid + 1) {
        throw new TandemError('JOURNAL_GAP', `${dir}: txid ${record.txid} follows ${out.at(-1)!.txid}`);
      }
      out.push(record);
      if (out.length >= opts.recordsMax) return out;
    }
  }
  return out;
}

export function encodeRecords(records: readonly EditRecord[]): Buffer {
  return Buffer.concat(records.map(encodeRecord));
}

/** Fetches `GET http://<http>/edits?from=<txid>` and checks every record. */
export async function fetchEdits(http: string, fromTxid: number, timeoutMs: number, secret: ClusterSecret | null = null): Promise<EditRecord[]> {
  const url = `http://${http}/edits?from=${fromTxid}`;
  const response = await fetch(url, { headers: internalHeaders(secret, 'GET', url), signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw internalGetError(response.status, `GET ${url}`);
  const body = Buffer.from(await response.arrayBuffer());
  const scan = scanRecords(body, { expectedFirstTxid: fromTxid });
  if (scan.stop) throw new TandemError('JOURNAL_CORRUPT', `edits from ${http}: ${scan.stop.reason} at byte ${scan.stop.offset} (${scan.stop.detail})`);
  return scan.records;
}
