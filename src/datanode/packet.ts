// The data transfer protocol's bytes (docs/data-path.md, "Data transfer protocol").
// Hand-written: it is a byte pipeline with per-chunk checksums and per-packet acks, and a
// packet's data must travel without msgpack or copies.
//
//   request/response = u32be length | msgpack {op, …} / {ok, …}     (length ≤ requestBytesMax)
//   packet           = u32be seq | u32be flags (1 = last) | u32be offsetHigh | u32be offsetLow
//                      | u32be dataBytes | u32be chunks | chunks × u32be CRC32C | data
//   ack              = u32be seq | u32be status | u32be okReplicas
//
// A connection carries one request, then packets one way and acks the other, so the reader
// of a stream always knows what comes next and asks the TransferDecoder for exactly that.
// The decoder never buffers more than one message beyond what its caller consumed, checks
// every length against the limits before buffering the body, and throws TandemError
// FRAME_TOO_LARGE / MALFORMED_FRAME (never anything else) on bad input.

import { z } from 'zod';
import { TandemError } from '../errors.js';
import { decodePayload, encodeFrame } from '../rpc/frame.js';
import { BLOCK_ID_BYTES_MAX, BLOCK_ID_RE } from './block-store.js';
import { CRC_BYTES, chunkCount } from './chunk-checksums.js';
import type { DatanodeConfig } from './config.js';

export const FRAME_LENGTH_BYTES = 4;
export const PACKET_HEADER_BYTES = 24;
export const ACK_BYTES = 12;
export const PACKET_FLAG_LAST = 1;
const OFFSET_HIGH_MAX = 2 ** 21; // offsets stay safe integers

/** Ack status: 0 = every node from here down has the packet. */
export const ACK_STATUS = {
  OK: 0,
  /** A node further down failed; okReplicas says how many from here down have the packet. */
  PIPELINE: 1,
  /** A chunk failed its CRC on some node (that node closes). */
  CHECKSUM: 2,
  /** This node could not store the packet (disk error, bad offset). */
  ERROR: 3,
} as const;

export interface Packet {
  seq: number;
  last: boolean;
  offset: number;
  /** One u32be CRC32C per chunk of data. */
  crcs: Buffer;
  data: Buffer;
}

/**
 * A packet whose data is the views of the socket reads it arrived in (`parts`, in order),
 * never copied into one buffer: a datanode checks, forwards and stores it part by part.
 */
export interface PacketParts {
  seq: number;
  last: boolean;
  offset: number;
  crcs: Buffer;
  parts: Buffer[];
  dataBytes: number;
}

export interface Ack {
  seq: number;
  status: number;
  okReplicas: number;
}

// ------------------------------------------------------------------ requests and responses

const blockId = z.string().max(BLOCK_ID_BYTES_MAX).regex(BLOCK_ID_RE);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const target = z.object({ id: z.string().min(1).max(256), data: z.string().min(3).max(300) });
export type PipelineTarget = z.infer<typeof target>;

function requestSchema(config: DatanodeConfig) {
  const blockBytes = count.max(config.blockBytesMax);
  const targets = z.array(target).max(config.pipelineTargetsMax);
  return z.discriminatedUnion('op', [
    z.object({
      op: z.literal('write'),
      blockId,
      genStamp: count,
      offset: blockBytes,
      targets,
      /** false: the last packet syncs the replica and leaves it in rbw/ (a copy during pipeline recovery). */
      finalize: z.boolean().default(true),
      /**
       * A copy of a complete block (an FMS `replicate`): a replica here at `genStamp` left in
       * rbw/ by a transfer that failed, with no writer open, is deleted and written anew. Such
       * a leftover is never resumed (the block is complete at that genStamp), and without this
       * every later copy here would be refused ("a replica already exists").
       */
      discardAbandoned: z.boolean().default(false),
    }),
    z.object({ op: z.literal('read'), blockId, genStamp: count, offset: blockBytes, length: blockBytes }),
    z.object({
      op: z.literal('copy'),
      blockId,
      genStamp: count,
      length: blockBytes,
      targets: targets.min(1),
      finalize: z.boolean().default(true),
      /**
       * Pipeline recovery: the source's replica may be at an older genStamp than `genStamp`
       * (a survivor not moved to the block's newest one yet, after a rebuild that failed);
       * its first `length` bytes are copied all the same, and the copies get `genStamp`.
       */
      recovery: z.boolean().default(false),
    }),
  ]);
}
export type TransferRequest = z.infer<ReturnType<typeof requestSchema>>;
export type WriteRequest = Extract<TransferRequest, { op: 'write' }>;
export type ReadRequest = Extract<TransferRequest, { op: 'read' }>;
export type CopyRequest = Extract<TransferRequest, { op: 'copy' }>;

const schemas = new WeakMap<DatanodeConfig, ReturnType<typeof requestSchema>>();

/** Checks a decoded request frame; INVALID_ARGUMENT names the first bad field. */
export function parseRequest(value: unknown, config: DatanodeConfig): TransferRequest {
  let schema = schemas.get(config);
  if (schema === undefined) {
    schema = requestSchema(config);
    schemas.set(config, schema);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new TandemError('INVALID_ARGUMENT', `bad transfer request: ${issue ? `${issue.path.join('.') || '(request)'}: ${issue.message}` : 'invalid'}`);
  }
  return result.data;
}

export type TransferResponse =
  | { ok: true; length?: number }
  | { ok: false; code: string; message: string; failedIndex?: number };

const responseSchema = z.union([
  z.object({ ok: z.literal(true), length: count.optional() }),
  z.object({ ok: z.literal(false), code: z.string().max(64), message: z.string().max(4096), failedIndex: count.optional() }),
]);

export function parseResponse(value: unknown): TransferResponse {
  const result = responseSchema.safeParse(value);
  if (!result.success) throw new TandemError('MALFORMED_FRAME', 'the datanode answered with a malformed response');
  return result.data;
}

/** `u32 length | msgpack` of a request or response; FRAME_TOO_LARGE over requestBytesMax. */
export function encodeMessage(value: TransferRequest | TransferResponse | Record<string, unknown>, requestBytesMax: number): Buffer {
  return encodeFrame(value, requestBytesMax);
}

export function errorResponse(err: unknown, failedIndex?: number): TransferResponse {
  const tandem = err instanceof TandemError ? err : new TandemError('INTERNAL', err instanceof Error ? err.message : String(err));
  return failedIndex === undefined
    ? { ok: false, code: tandem.code, message: tandem.message }
    : { ok: false, code: tandem.code, message: tandem.message, failedIndex };
}

// ------------------------------------------------------------------ packets and acks

/**
 * The packet header followed by its CRCs, in one buffer: the data goes to the socket as a
 * second write, so it is never copied to sit behind the header.
 */
export function encodePacketHead(seq: number, last: boolean, offset: number, dataBytes: number, crcs: Buffer): Buffer {
  const head = Buffer.allocUnsafe(PACKET_HEADER_BYTES + crcs.length);
  writePacketHeader(head, seq, last, offset, dataBytes, crcs.length / CRC_BYTES);
  crcs.copy(head, PACKET_HEADER_BYTES);
  return head;
}

/** Writes a packet header into the first 24 bytes of `buf` (its CRCs and data follow there). */
export function writePacketHeader(buf: Buffer, seq: number, last: boolean, offset: number, dataBytes: number, chunks: number): void {
  buf.writeUInt32BE(seq >>> 0, 0);
  buf.writeUInt32BE(last ? PACKET_FLAG_LAST : 0, 4);
  buf.writeUInt32BE(Math.floor(offset / 2 ** 32), 8);
  buf.writeUInt32BE(offset % 2 ** 32, 12);
  buf.writeUInt32BE(dataBytes, 16);
  buf.writeUInt32BE(chunks, 20);
}

export function encodeAck(ack: Ack): Buffer {
  const buf = Buffer.allocUnsafe(ACK_BYTES);
  buf.writeUInt32BE(ack.seq >>> 0, 0);
  buf.writeUInt32BE(ack.status, 4);
  buf.writeUInt32BE(ack.okReplicas, 8);
  return buf;
}

export interface DecoderLimits {
  requestBytesMax: number;
  packetDataBytesMax: number;
  chunkBytes: number;
}

export interface PacketHeader {
  seq: number;
  last: boolean;
  offset: number;
  dataBytes: number;
  crcBytes: number;
}

/** Reads and checks a 24-byte packet header; FRAME_TOO_LARGE / MALFORMED_FRAME when it breaks the limits. */
export function decodePacketHeader(head: Buffer, limits: DecoderLimits): PacketHeader {
  const seq = head.readUInt32BE(0);
  const flags = head.readUInt32BE(4);
  const offsetHigh = head.readUInt32BE(8);
  const offsetLow = head.readUInt32BE(12);
  const dataBytes = head.readUInt32BE(16);
  const chunks = head.readUInt32BE(20);
  if ((flags & ~PACKET_FLAG_LAST) !== 0) throw new TandemError('MALFORMED_FRAME', `packet ${seq} has unknown flags ${flags}`);
  if (offsetHigh >= OFFSET_HIGH_MAX) throw new TandemError('MALFORMED_FRAME', `packet ${seq} has an offset past 2^53`);
  if (dataBytes > limits.packetDataBytesMax) {
    throw new TandemError('FRAME_TOO_LARGE', `packet ${seq} carries ${dataBytes} bytes, over the limit of ${limits.packetDataBytesMax}`);
  }
  if (chunks !== chunkCount(dataBytes, limits.chunkBytes)) {
    throw new TandemError('MALFORMED_FRAME', `packet ${seq} has ${chunks} CRCs for ${dataBytes} bytes (chunks of ${limits.chunkBytes})`);
  }
  return { seq, last: flags === PACKET_FLAG_LAST, offset: offsetHigh * 2 ** 32 + offsetLow, dataBytes, crcBytes: chunks * CRC_BYTES };
}

/**
 * Turns socket chunks into whole requests, packets or acks. Push every chunk, then ask
 * for the message the protocol expects next until it returns undefined. A message inside
 * one chunk is returned as a view of it; one spanning chunks is copied once. After a
 * throw the decoder keeps throwing the same error and holds no bytes.
 */
export class TransferDecoder {
  private readonly chunks: Buffer[] = [];
  private headOffset = 0;
  private bufferedBytes = 0;
  /** Body length of the frame whose length was read; -1 before. */
  private frameBytes = -1;
  private packetHeader: PacketHeader | null = null;
  private failed: TandemError | null = null;

  constructor(private readonly limits: DecoderLimits) {}

  /** Bytes received and not yet returned. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  push(chunk: Buffer): void {
    if (this.failed !== null || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  private fail(code: 'FRAME_TOO_LARGE' | 'MALFORMED_FRAME', message: string): never {
    this.failed = new TandemError(code, message);
    this.chunks.length = 0;
    this.bufferedBytes = 0;
    this.headOffset = 0;
    throw this.failed;
  }

  /** The next decoded request/response frame (msgpack value), or undefined until it is whole. */
  nextFrame(): unknown {
    if (this.failed !== null) throw this.failed;
    if (this.frameBytes < 0) {
      if (this.bufferedBytes < FRAME_LENGTH_BYTES) return undefined;
      const bytes = this.take(FRAME_LENGTH_BYTES).readUInt32BE(0);
      if (bytes > this.limits.requestBytesMax) this.fail('FRAME_TOO_LARGE', `a request of ${bytes} bytes exceeds the limit of ${this.limits.requestBytesMax}`);
      if (bytes === 0) this.fail('MALFORMED_FRAME', 'an empty request frame');
      this.frameBytes = bytes;
    }
    if (this.bufferedBytes < this.frameBytes) return undefined;
    const payload = this.take(this.frameBytes);
    this.frameBytes = -1;
    try {
      return decodePayload(payload);
    } catch (err) {
      this.fail('MALFORMED_FRAME', err instanceof Error ? err.message : 'undecodable frame');
    }
  }

  /** The next whole packet with its data in one buffer (a view when it arrived in one chunk, else a copy), or undefined until it is whole. */
  nextPacket(): Packet | undefined {
    const packet = this.nextPacketParts();
    if (packet === undefined) return undefined;
    const { parts } = packet;
    const data = parts.length === 1 ? parts[0]! : parts.length === 0 ? Buffer.alloc(0) : Buffer.concat(parts, packet.dataBytes);
    return { seq: packet.seq, last: packet.last, offset: packet.offset, crcs: packet.crcs, data };
  }

  /** The next whole packet with its data as views of the pushed chunks (no copy), or undefined until it is whole. */
  nextPacketParts(): PacketParts | undefined {
    if (this.failed !== null) throw this.failed;
    if (this.packetHeader === null) {
      if (this.bufferedBytes < PACKET_HEADER_BYTES) return undefined;
      this.packetHeader = this.parsePacketHeader(this.take(PACKET_HEADER_BYTES));
    }
    const header = this.packetHeader;
    if (this.bufferedBytes < header.crcBytes + header.dataBytes) return undefined;
    this.packetHeader = null;
    const crcs = this.take(header.crcBytes);
    const parts = this.takeParts(header.dataBytes);
    return { seq: header.seq, last: header.last, offset: header.offset, crcs, parts, dataBytes: header.dataBytes };
  }

  private parsePacketHeader(head: Buffer): PacketHeader {
    try {
      return decodePacketHeader(head, this.limits);
    } catch (err) {
      const e = err as TandemError;
      this.fail(e.code === 'FRAME_TOO_LARGE' ? 'FRAME_TOO_LARGE' : 'MALFORMED_FRAME', e.message);
    }
  }

  /** The next ack, or undefined until 12 bytes are here. */
  nextAck(): Ack | undefined {
    if (this.failed !== null) throw this.failed;
    if (this.bufferedBytes < ACK_BYTES) return undefined;
    const buf = this.take(ACK_BYTES);
    return { seq: buf.readUInt32BE(0), status: buf.readUInt32BE(4), okReplicas: buf.readUInt32BE(8) };
  }

  /** Removes the next `byteCount` bytes and returns them as views of the chunks holding them; the caller checked they are buffered. */
  private takeParts(byteCount: number): Buffer[] {
    const parts: Buffer[] = [];
    this.bufferedBytes -= byteCount;
    for (let left = byteCount; left > 0; ) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new Error('invariant broken: TransferDecoder took more bytes than buffered');
      const end = Math.min(chunk.length, this.headOffset + left);
      parts.push(this.headOffset === 0 && end === chunk.length ? chunk : chunk.subarray(this.headOffset, end));
      left -= end - this.headOffset;
      this.headOffset = end;
      if (this.headOffset === chunk.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
    }
    return parts;
  }

  /** Removes and returns the next `byteCount` bytes; the caller checked they are buffered. */
  private take(byteCount: number): Buffer {
    if (byteCount === 0) return Buffer.alloc(0);
    const head = this.chunks[0];
    if (head === undefined) throw new Error('invariant broken: TransferDecoder took bytes it does not hold');
    this.bufferedBytes -= byteCount;
    if (byteCount <= head.length - this.headOffset) {
      const bytes = head.subarray(this.headOffset, this.headOffset + byteCount);
      this.headOffset += byteCount;
      if (this.headOffset === head.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
      return bytes;
    }
    const bytes = Buffer.allocUnsafe(byteCount);
    let written = 0;
    while (written < byteCount) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new Error('invariant broken: TransferDecoder took more bytes than buffered');
      const copied = chunk.copy(bytes, written, this.headOffset, Math.min(chunk.length, this.headOffset + byteCount - written));
      written += copied;
      this.headOffset += copied;
      if (this.headOffset === chunk.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
    }
    return bytes;
  }
}
