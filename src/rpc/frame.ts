// Framing of the RPC byte stream: `u32be payload length | msgpack payload` (DESIGN.md §7).
// Three pieces, used by both ends of a connection:
//   encodeFrame  — value → one frame, refusing payloads over frameBytesMax;
//   FrameDecoder — socket chunks → payloads, refusing an oversized length as soon as the
//                  4 length bytes arrive, before any of the body is buffered;
//   FrameOutbox  — frames queued during one event-loop turn → one socket write.
import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { TandemError } from '../errors.js';

export const FRAME_HEADER_BYTES = 4;

// Plain msgpack (no msgpackr records), so peers in other languages can speak the protocol.
// undefined has no msgpack type; msgpackr would otherwise write a private extension for it.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

/**
 * Encodes `value` as one complete frame. msgpackr writes the payload after 4 reserved bytes,
 * so the length goes in front without copying the payload. The returned buffer is a view
 * of msgpackr's working buffer that later encodes do not overwrite.
 * Throws TandemError FRAME_TOO_LARGE when the payload exceeds `frameBytesMax`; whatever
 * msgpackr throws for a value it cannot encode passes through.
 */
export function encodeFrame(value: unknown, frameBytesMax: number): Buffer {
  const frame = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  const payloadBytes = frame.length - FRAME_HEADER_BYTES;
  if (payloadBytes > frameBytesMax) {
    throw new TandemError('FRAME_TOO_LARGE', `a frame of ${payloadBytes} bytes exceeds the limit of ${frameBytesMax}`);
  }
  frame.writeUInt32BE(payloadBytes, 0);
  return frame;
}

/** Decodes one payload. Throws TandemError MALFORMED_FRAME when it is not exactly one msgpack value. */
export function decodePayload(payload: Buffer): unknown {
  try {
    return packr.unpack(payload);
  } catch (err) {
    // msgpackr's message names the byte offset, which helps whoever debugs the peer.
    const detail = err instanceof Error ? err.message.slice(0, 200) : 'undecodable';
    throw new TandemError('MALFORMED_FRAME', `the frame is not valid msgpack: ${detail}`);
  }
}

/**
 * Turns socket chunks into frame payloads. Push every chunk, then call next() until it
 * returns undefined. A payload that lies inside one chunk is returned as a view of that
 * chunk; only a payload spanning chunks is copied, once.
 */
export class FrameDecoder {
  /** Received bytes not yet returned; the first `headOffset` bytes of chunks[0] are consumed. */
  private readonly chunks: Buffer[] = [];
  private headOffset = 0;
  /** Unconsumed bytes across `chunks`. Invariant: ≤ FRAME_HEADER_BYTES + frameBytesMax + one chunk. */
  private bufferedBytes = 0;
  /** Payload length of the frame being assembled, once its header is read; -1 before. */
  private payloadBytes = -1;
  private failed: TandemError | undefined;

  constructor(private readonly frameBytesMax: number) {}

  /** Bytes received and not yet returned as payloads. */
  get buffered(): number {
    return this.bufferedBytes;
  }

  push(chunk: Buffer): void {
    if (this.failed !== undefined || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /**
   * The next complete payload, or undefined until more bytes arrive. Throws TandemError
   * FRAME_TOO_LARGE (and keeps throwing it) once a length over frameBytesMax is read.
   */
  next(): Buffer | undefined {
    if (this.failed !== undefined) throw this.failed;
    if (this.payloadBytes < 0) {
      if (this.bufferedBytes < FRAME_HEADER_BYTES) return undefined;
      const payloadBytes = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
      if (payloadBytes > this.frameBytesMax) {
        this.failed = new TandemError(
          'FRAME_TOO_LARGE',
          `a frame of ${payloadBytes} bytes exceeds the limit of ${this.frameBytesMax}`,
        );
        // Nothing more will be decoded, so keep nothing.
        this.chunks.length = 0;
        this.bufferedBytes = 0;
        throw this.failed;
      }
      this.payloadBytes = payloadBytes;
    }
    if (this.bufferedBytes < this.payloadBytes) return undefined;
    const payload = this.take(this.payloadBytes);
    this.payloadBytes = -1;
    return payload;
  }

  /** Removes and returns the next `byteCount` bytes; the caller checked they are buffered. */
  private take(byteCount: number): Buffer {
    const head = this.chunks[0];
    if (head === undefined) return Buffer.alloc(0);
    this.bufferedBytes -= byteCount;
    const headAvailable = head.length - this.headOffset;
    if (byteCount <= headAvailable) {
      const bytes = head.subarray(this.headOffset, this.headOffset + byteCount);
      this.headOffset += byteCount;
      if (this.headOffset === head.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
      return bytes;
    }
    // The bytes span chunks: copy them into one buffer.
    const bytes = Buffer.allocUnsafe(byteCount);
    let written = 0;
    while (written < byteCount) {
      const chunk = this.chunks[0];
      if (chunk === undefined) throw new Error('invariant broken: FrameDecoder took more bytes than buffered');
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

/**
 * Collects the frames one side produces during an event-loop turn and hands them to `write`
 * as one buffer in the check phase (setImmediate) of the same loop iteration. By then every
 * frame read in this poll phase has been handled, including replies of handlers that
 * resolved in microtasks, so a pipelined burst of calls costs one write syscall, not one
 * per reply.
 */
export class FrameOutbox {
  private frames: Buffer[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;

  constructor(private readonly write: (bytes: Buffer) => void) {}

  get queued(): number {
    return this.frames.length;
  }

  push(frame: Buffer): void {
    this.frames.push(frame);
    this.queuedBytes += frame.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(flushOutbox, this);
    }
  }

  /** Writes what is queued now; also called directly before a connection is ended. */
  flush(): void {
    const frames = this.frames;
    if (frames.length === 0) return;
    const bytes = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, this.queuedBytes);
    this.frames = [];
    this.queuedBytes = 0;
    this.write(bytes);
  }

  /** @internal the scheduled flush */
  scheduledFlush(): void {
    this.flushScheduled = false;
    this.flush();
  }

  /** Drops what is queued: the connection is gone. */
  clear(): void {
    this.frames = [];
    this.queuedBytes = 0;
  }
}

function flushOutbox(outbox: FrameOutbox): void {
  outbox.scheduledFlush();
}
