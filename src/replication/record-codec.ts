// The on-disk form of edit records and of an edit segment's header (DESIGN §3, "Journal").
//
//   segment = header (16 bytes) record* zero*
//   header  = "TNDMEDIT" | u32be format version | u32be reserved (0)
//   record  = u32be payloadLength | u32be crc32c(payload) | payload
//   payload = msgpack {txid, epoch, op}                       (the map form)
//           | msgpack [txid, epoch, shape, value...]           (the compact form, version 2)
//
// The compact form carries an op of a known shape (OP_SHAPES) as its field values in the
// shape's order, nil for a field the op lacks: half the bytes of the map form, and ~4× faster
// to decode (no keys to read, no object built key by key), which a standby does for every
// record it is sent. Any other op (an unknown type, a field the shape does not name, a null
// value) takes the map form; both decode to the same {txid, epoch, op}.
//
// The zeros are space the writer preallocated in an in-progress segment (journal-writer.ts);
// a payload length is never 0, so a scan stops where they start. Finalized segments have none.
//
// The length comes first so a scanner can step from record to record; the CRC covers the
// payload only, so a torn or flipped length shows up as a CRC failure (or an impossible
// length) at that record, never as a silently accepted record. This module is pure: it
// encodes and walks buffers; reading, truncating and renaming files is recovery's job.

import { crc32c } from '@node-rs/crc32';
import { Packr } from 'msgpackr';
import type { EditRecord } from './state-machine.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import { appendValuesInOrder, assignValuesInOrder } from '../util/values-in-order.js';

/** Plain msgpack (no msgpackr record extension), so any msgpack reader can read the log. */
const packr = new Packr({ useRecords: false });

export const SEGMENT_MAGIC = 'TNDMEDIT';
/** Version 2 segments may hold compact records; version 1 ones hold map-form records only. */
export const SEGMENT_FORMAT_VERSION = 2;
const SEGMENT_FORMAT_VERSIONS_READ = [1, 2];
export const SEGMENT_HEADER_BYTES = 16;
/** u32be payload length + u32be crc32c. */
export const RECORD_HEADER_BYTES = 8;

/**
 * Default bound on one record's payload. A record travels to standbys inside one RPC frame,
 * so a record larger than a frame could never have been replicated: on disk it can only be
 * a corrupt length field.
 */
export const RECORD_PAYLOAD_BYTES_MAX_DEFAULT = DEFAULT_LIMITS.frameBytesMax;

export function encodeSegmentHeader(): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  header.write(SEGMENT_MAGIC, 0, 'ascii');
  header.writeUInt32BE(SEGMENT_FORMAT_VERSION, 8);
  header.writeUInt32BE(0, 12);
  return header;
}

/** Returns why the buffer does not start with a valid segment header, or null if it does. */
export function segmentHeaderProblem(buf: Buffer): string | null {
  if (buf.length < SEGMENT_HEADER_BYTES) return `header is ${buf.length} bytes, expected ${SEGMENT_HEADER_BYTES}`;
  if (buf.toString('ascii', 0, 8) !== SEGMENT_MAGIC) return 'bad magic (not a Tandem edit segment)';
  const version = buf.readUInt32BE(8);
  if (!SEGMENT_FORMAT_VERSIONS_READ.includes(version)) return `unsupported segment format version ${version}`;
  return null;
}

/**
 * The op shapes of the compact form: [type, field...]. A shape's index is written in every
 * record that uses it, so this table is part of the on-disk format: entries are appended,
 * never changed or reordered. The fields are those the namespace's RPC schemas give each op
 * (src/master/namespace-methods.ts) plus the active's `time`; an op with any other field
 * simply takes the map form (test/replication/record-codec.test.ts checks the hot ops fit).
 */
const OP_SHAPES: readonly (readonly string[])[] = [
  ['create', 'user', 'groups', 'clientId', 'callId', 'time', 'path', 'overwrite', 'permission', 'replication', 'blockSize'],
  ['mkdirs', 'user', 'groups', 'clientId', 'callId', 'time', 'path', 'permission'],
  ['delete', 'user', 'groups', 'clientId', 'callId', 'time', 'path', 'recursive'],
  ['rename', 'user', 'groups', 'clientId', 'callId', 'time', 'src', 'dst'],
  ['complete', 'user', 'groups', 'clientId', 'callId', 'time', 'path', 'fileId', 'length'],
];
const SHAPE_OF_TYPE = new Map(OP_SHAPES.map((shape, index) => [shape[0]!, index]));

/** [txid, epoch, shape, value...] for an op of a known shape, or null (it takes the map form). */
function compactForm(record: EditRecord): unknown[] | null {
  const op = record.op as Record<string, unknown> | null;
  if (typeof op !== 'object' || op === null || Array.isArray(op)) return null;
  const index = SHAPE_OF_TYPE.get(op.type as string);
  if (index === undefined) return null;
  // `type` is the shape's, and counted here.
  return appendValuesInOrder([record.txid, record.epoch, index], op, OP_SHAPES[index]!, 1, 1);
}

/** The record a compact payload stands for, or why it is malformed. */
function fromCompactForm(fields: unknown[]): EditRecord | string {
  const txid = fields[0];
  const epoch = fields[1];
  const index = fields[2];
  if (!isCount(txid, 1) || !isCount(epoch, 0)) return 'compact record: txid and epoch must be counts';
  const shape = typeof index === 'number' ? OP_SHAPES[index] : undefined;
  if (shape === undefined) return `compact record: unknown op shape ${String(index)} (written by a newer Tandem?)`;
  if (fields.length > shape.length + 2) return `compact record: ${fields.length - 3} values for the ${shape.length - 1} fields of ${shape[0]}`;
  return { txid, epoch, op: assignValuesInOrder({ type: shape[0] }, fields, 3, shape, 1) };
}

/**
 * How many of the encoded records list[start..end) fit in `bytesMax` bytes, taken in order,
 * and their bytes: at least one (even one larger than the limit) when the range is not empty.
 * A group commit, a replication batch and a `repl.tail` answer are all cut this way.
 */
export function recordsFitting(list: readonly Buffer[], start: number, end: number, bytesMax: number): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (let i = start; i < end; i++) {
    const length = list[i]!.length;
    if (count > 0 && bytes + length > bytesMax) break;
    bytes += length;
    count++;
  }
  return { count, bytes };
}

/** Encodes one record, header included, into a fresh Buffer (safe to keep and concatenate). */
export function encodeRecord(record: EditRecord): Buffer {
  const payload = packr.pack(compactForm(record) ?? { txid: record.txid, epoch: record.epoch, op: record.op });
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32c(payload), 4);
  payload.copy(out, RECORD_HEADER_BYTES);
  return out;
}

/** True when every byte from `offset` to the end of `buf` is zero: preallocated space, not a record. */
export function isPadding(buf: Buffer, offset: number): boolean {
  for (let at = offset; at < buf.length; at += ZEROS.length) {
    const end = Math.min(buf.length, at + ZEROS.length);
    if (buf.compare(ZEROS, 0, end - at, at, end) !== 0) return false;
  }
  return true;
}

const ZEROS = Buffer.alloc(64 * 1024);

export type ScanStopReason = 'torn' | 'crc' | 'length' | 'txid-order' | 'decode';

/** Outcome of decoding the record that starts at one offset, without any ordering check. */
export type RecordAt =
  | { ok: true; record: EditRecord; bytes: number }
  | { ok: false; reason: Exclude<ScanStopReason, 'txid-order'>; detail: string };

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

/** Decodes the record at `offset` if it is whole, has a sane length, a good CRC and a sane shape. */
export function decodeRecordAt(
  buf: Buffer,
  offset: number,
  payloadBytesMax: number = RECORD_PAYLOAD_BYTES_MAX_DEFAULT,
): RecordAt {
  const remaining = buf.length - offset;
  if (remaining < RECORD_HEADER_BYTES) {
    return { ok: false, reason: 'torn', detail: `${remaining} bytes left, a record header needs ${RECORD_HEADER_BYTES}` };
  }
  const payloadLength = buf.readUInt32BE(offset);
  if (payloadLength === 0 || payloadLength > payloadBytesMax) {
    return { ok: false, reason: 'length', detail: `payload length ${payloadLength} outside 1..${payloadBytesMax}` };
  }
  if (remaining < RECORD_HEADER_BYTES + payloadLength) {
    return {
      ok: false,
      reason: 'torn',
      detail: `record needs ${RECORD_HEADER_BYTES + payloadLength} bytes, ${remaining} left`,
    };
  }
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + payloadLength);
  const expectedCrc = buf.readUInt32BE(offset + 4);
  const actualCrc = crc32c(payload);
  if (expectedCrc !== actualCrc) {
    return { ok: false, reason: 'crc', detail: `crc32c ${actualCrc.toString(16)} != stored ${expectedCrc.toString(16)}` };
  }
  let decoded: unknown;
  try {
    decoded = packr.unpack(payload);
  } catch (err) {
    return { ok: false, reason: 'decode', detail: `msgpack: ${(err as Error).message}` };
  }
  if (Array.isArray(decoded)) {
    const record = fromCompactForm(decoded);
    if (typeof record === 'string') return { ok: false, reason: 'decode', detail: record };
    return { ok: true, record, bytes: RECORD_HEADER_BYTES + payloadLength };
  }
  const fields = decoded as Partial<EditRecord> | null;
  if (
    typeof fields !== 'object' ||
    fields === null ||
    !isCount(fields.txid, 1) ||
    !isCount(fields.epoch, 0) ||
    !Object.hasOwn(fields, 'op')
  ) {
    return { ok: false, reason: 'decode', detail: 'payload is not a {txid, epoch, op} map' };
  }
  return {
    ok: true,
    record: { txid: fields.txid, epoch: fields.epoch, op: fields.op },
    bytes: RECORD_HEADER_BYTES + payloadLength,
  };
}

export interface ScanOptions {
  /** Where the first record starts (SEGMENT_HEADER_BYTES for a whole segment file). */
  start?: number;
  /** If given, the first record must carry this txid; records always go up by one. */
  expectedFirstTxid?: number;
  payloadBytesMax?: number;
}

export interface ScanResult {
  /** Every valid, in-order record before the stop point. */
  records: EditRecord[];
  /** Offset just past the last valid record: where a truncation would cut. */
  endOffset: number;
  /** Set when the scan stopped before the end of the buffer. */
  stop?: { offset: number; reason: ScanStopReason; detail: string };
}

/**
 * Steps over up to `count` records from `start` by their length fields alone: each must be
 * sane (1..payloadBytesMax) and whole in the buffer, but the CRC is not checked nor the
 * payload decoded. A reader that wants only a segment's last records skips the rest this way:
 * a CRC call per record cost ~1 µs (60 ms for 60k records), a decode ~5 µs. A damaged length
 * throws the walk off its frames; the record it lands on then fails its CRC or txid check
 * (scanRecords), so the damage is found there, never served as a record.
 */
export function skipRecords(
  buf: Buffer,
  start: number,
  count: number,
  payloadBytesMax: number = RECORD_PAYLOAD_BYTES_MAX_DEFAULT,
): { offset: number; skipped: number; stop?: { offset: number; reason: ScanStopReason; detail: string } } {
  let offset = start;
  let skipped = 0;
  while (skipped < count && offset < buf.length) {
    const remaining = buf.length - offset;
    if (remaining < RECORD_HEADER_BYTES) return { offset, skipped, stop: { offset, reason: 'torn', detail: `${remaining} bytes left, a record header needs ${RECORD_HEADER_BYTES}` } };
    const payloadLength = buf.readUInt32BE(offset);
    if (payloadLength === 0 || payloadLength > payloadBytesMax) {
      return { offset, skipped, stop: { offset, reason: 'length', detail: `payload length ${payloadLength} outside 1..${payloadBytesMax}` } };
    }
    if (remaining < RECORD_HEADER_BYTES + payloadLength) {
      return { offset, skipped, stop: { offset, reason: 'torn', detail: `record needs ${RECORD_HEADER_BYTES + payloadLength} bytes, ${remaining} left` } };
    }
    offset += RECORD_HEADER_BYTES + payloadLength;
    skipped++;
  }
  return { offset, skipped };
}

/** Walks records from `start` until the end of the buffer or the first invalid record. */
export function scanRecords(buf: Buffer, options: ScanOptions = {}): ScanResult {
  const payloadBytesMax = options.payloadBytesMax ?? RECORD_PAYLOAD_BYTES_MAX_DEFAULT;
  const records: EditRecord[] = [];
  let offset = options.start ?? 0;
  // The txid the next record must carry; undefined until the first record fixes it.
  let nextTxid = options.expectedFirstTxid;
  while (offset < buf.length) {
    const at = decodeRecordAt(buf, offset, payloadBytesMax);
    if (!at.ok) return { records, endOffset: offset, stop: { offset, reason: at.reason, detail: at.detail } };
    if (nextTxid !== undefined && at.record.txid !== nextTxid) {
      return {
        records,
        endOffset: offset,
        stop: { offset, reason: 'txid-order', detail: `txid ${at.record.txid}, expected ${nextTxid}` },
      };
    }
    records.push(at.record);
    nextTxid = at.record.txid + 1;
    offset += at.bytes;
  }
  return { records, endOffset: offset };
}

/**
 * A batch of encoded records as one active sends them to a standby (repl.append): records
 * back to back, each exactly as the journal stores it. Returns every record decoded, with
 * its bytes (a view of `buf`, which the standby journals as they are: a record is encoded
 * once, on the active), or why the batch is bad: the first record that is torn, fails its
 * CRC, does not decode, or does not follow the previous one's txid.
 */
export function decodeRecordBatch(
  buf: Buffer,
  payloadBytesMax: number = RECORD_PAYLOAD_BYTES_MAX_DEFAULT,
): { ok: true; records: EditRecord[]; encoded: Buffer[] } | { ok: false; offset: number; reason: ScanStopReason; detail: string } {
  const scan = scanRecords(buf, { payloadBytesMax });
  if (scan.stop) return { ok: false, ...scan.stop };
  // Every record checked out: its bytes are its header's length away from the previous one's.
  const encoded: Buffer[] = [];
  for (let offset = 0; offset < scan.endOffset; ) {
    const bytes = RECORD_HEADER_BYTES + buf.readUInt32BE(offset);
    encoded.push(buf.subarray(offset, offset + bytes));
    offset += bytes;
  }
  return { ok: true, records: scan.records, encoded };
}

/**
 * Looks for any offset after `from` where a fully valid record with a txid above
 * `txidAbove` starts. Finding one means the damage at `from` is followed by good data:
 * corruption in the middle, not a torn tail.
 */
export function findValidRecordAfter(
  buf: Buffer,
  from: number,
  txidAbove: number,
  payloadBytesMax: number = RECORD_PAYLOAD_BYTES_MAX_DEFAULT,
): { offset: number; txid: number } | null {
  for (let offset = from; offset + RECORD_HEADER_BYTES < buf.length; offset++) {
    const at = decodeRecordAt(buf, offset, payloadBytesMax);
    if (at.ok && at.record.txid > txidAbove) return { offset, txid: at.record.txid };
  }
  return null;
}
