// Edits over HTTP: `GET /edits?from=<txid>` on an image server (finalized segments) and on
// a monitor (the dead master's segments, its in-progress one included: "sealed" by reading
// up to the last valid record, without writing to a directory the master may be restarted
// on). The body is the records in their journal encoding (u32 length | u32 crc32c |
// msgpack), so the receiver checks every CRC.
//
// And over RPC, `repl.tail {fromTxid}` → `{edits}`: a member taking over asks the other
// members of the in-sync set for the records they hold past its own last one (the dead active
// streamed them some records it never got), so that it starts its epoch after them instead
// of ordering those members to cut them — a cut reopens their storage (a replay of the
// journal, seconds), during which the new active's commits wait for them.

import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { Limits } from '../config/limits.js';
import { TandemError } from '../errors.js';
import { RpcConnection } from '../rpc/connection.js';
import { parseHostPort } from '../util/address.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { internalGetError, internalHeaders } from '../security/http-auth.js';
import { encodeRecord, recordsFitting, scanRecords, SEGMENT_HEADER_BYTES, skipRecords } from './record-codec.js';
import type { EditRecord } from './state-machine.js';
import { listSegments } from './storage-layout.js';

/**
 * Every whole, valid record with txid ≥ fromTxid in `dir`, in order, at most `recordsMax`.
 * The records of a segment before fromTxid are stepped over by their length fields
 * (skipRecords: neither CRC-checked nor decoded; what is returned is checked as ever): a
 * standby taking over asks a monitor for the few records after its own last one,
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

/** Encoded records back to back, as many of the first ones as fit in `bytesMax` (at least one). */
export function concatRecordsUpTo(encoded: readonly Buffer[], bytesMax: number): Buffer {
  const { count, bytes } = recordsFitting(encoded, 0, encoded.length, bytesMax);
  return Buffer.concat(encoded.slice(0, count), bytes);
}

/**
 * Asks the member at `rpc` (HOST:PORT) for the records its journal holds from `fromTxid` on
 * (`repl.tail`), within `timeoutMs` all told, and checks every record (CRC, shape, txids
 * going up by one from fromTxid).
 */
export async function fetchTailOverRpc(
  rpc: string,
  fromTxid: number,
  timeoutMs: number,
  opts: { limits: Limits; clientName: string; secret: ClusterSecret | null },
): Promise<EditRecord[]> {
  const deadlineAt = performance.now() + timeoutMs;
  const { host, port } = parseHostPort(rpc);
  const connection = await RpcConnection.connect(host, port, { limits: opts.limits, clientName: opts.clientName, secret: opts.secret, connectTimeoutMs: timeoutMs });
  try {
    const reply = await connection.call<{ edits?: unknown }>('repl.tail', { fromTxid }, { deadlineMs: Math.max(1, deadlineAt - performance.now()) });
    if (!(reply?.edits instanceof Uint8Array)) throw new TandemError('INVALID_ARGUMENT', `repl.tail from ${rpc}: no edits in the reply`);
    const edits = Buffer.from(reply.edits.buffer, reply.edits.byteOffset, reply.edits.byteLength);
    const scan = scanRecords(edits, { expectedFirstTxid: fromTxid, payloadBytesMax: opts.limits.frameBytesMax });
    if (scan.stop) throw new TandemError('JOURNAL_CORRUPT', `repl.tail from ${rpc}: ${scan.stop.reason} at byte ${scan.stop.offset} (${scan.stop.detail})`);
    return scan.records;
  } finally {
    connection.close();
  }
}

/**
 * Makes one throwaway request to `GET http://<http>/health` in the background. Node's fetch
 * builds its HTTP client on the first request (~80 ms here); a member's first request is
 * otherwise the one for the dead active's tail, in the middle of a takeover.
 */
export function warmUpHttpClient(http: string): void {
  fetch(`http://${http}/health`, { signal: AbortSignal.timeout(5_000) })
    .then((response) => response.arrayBuffer())
    .catch(() => undefined);
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
