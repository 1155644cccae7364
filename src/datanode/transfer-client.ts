// The client side of the data transfer protocol (docs/data-path.md): a write pipeline
// (BlockWriter), a checked read (readBlock) and a copy command (copyBlock). Used by the
// client SDK and by a datanode itself (a copy writes to its targets with a BlockWriter).
//
//   BlockWriter.open({targets, blockId, genStamp, offset?, finalize?, config?}) → BlockWriter
//   writer.write(buf)          → resolves when buf is sent and the window has room (backpressure)
//   writer.writeChecksummed(data, crcs) → the same for a chunk-aligned piece with its stored CRCs (copy)
//   writer.finish()            → resolves with the final ack: {blockId, genStamp, length}
//   writer.unackedData()       → every byte written past ackedBytes, to resend on a rebuilt pipeline
//   writer.ackedBytes          → block length every node has acknowledged
//   writer.writtenBytes        → block length through which write() took data (ackedBytes + unackedData().length)
//   readBlock(address, blockId, genStamp, offset, length, config?) → AsyncIterable<Buffer>
//   copyBlock(sourceAddress, {blockId, genStamp, length, targets, finalize?, recovery?}, config?) → {length}
//
// Speed: a packet's data goes to the socket as its own write (header+CRCs corked in front
// of it), CRC32Cs are computed natively per chunk over views, and write() copies a caller's
// buffer only to fill a partial packet. The writer keeps references to the caller's buffers
// until they are acknowledged: do not modify a buffer after passing it to write().

import net from 'node:net';
import { TandemError } from '../errors.js';
import { parseHostPort } from '../util/address.js';
import { chunkCount, computeChunkCrcs, CRC_BYTES, findBadChunk } from './chunk-checksums.js';
import { DEFAULT_DATANODE_CONFIG, type DatanodeConfig } from './config.js';
import { decodePayload } from '../rpc/frame.js';
import {
  ACK_STATUS,
  FRAME_LENGTH_BYTES,
  PACKET_HEADER_BYTES,
  TransferDecoder,
  decodePacketHeader,
  encodeMessage,
  encodePacketHead,
  parseResponse,
  type PacketHeader,
  type PipelineTarget,
  type TransferResponse,
} from './packet.js';

/** PIPELINE_FAILED with where it failed and how far every node got. */
export class PipelineError extends TandemError {
  constructor(
    message: string,
    /** Index into the writer's targets of the datanode that failed. */
    readonly failedIndex: number,
    /** Block length every datanode of the pipeline acknowledged. */
    readonly ackedBytes: number,
    /** The failed datanode refused a chunk whose CRC32C did not match (corrupt data upstream of it, or on the wire). */
    readonly checksumFailed = false,
  ) {
    super('PIPELINE_FAILED', message);
  }
}

/** Packets a reader holds received and not yet consumed before it pauses its socket. */
const READ_AHEAD_PACKETS = 4;

/**
 * Opens a TCP connection with a deadline; CONNECTION_LOST (naming the address) when it
 * fails. With `onread`, the socket reads into the buffers it hands out (no 'data' events).
 */
export function connectDatanode(address: string, timeoutMs: number, onread?: net.OnReadOpts): Promise<net.Socket> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true, ...(onread ? { onread } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TandemError('CONNECTION_LOST', `could not connect to datanode ${address} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new TandemError('CONNECTION_LOST', `could not connect to datanode ${address}: ${err.message}`));
    });
  });
}

/**
 * Sends `request` and waits for the one response frame. Bytes that follow the response
 * stay in `decoder`; the socket is left paused with no data listener.
 */
export function exchangeRequest(
  socket: net.Socket,
  decoder: TransferDecoder,
  request: Record<string, unknown>,
  config: DatanodeConfig,
  timeoutMs: number | null,
): Promise<TransferResponse> {
  return new Promise((resolve, reject) => {
    const finish = (err: Error | null, response?: TransferResponse) => {
      if (timer !== null) clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      socket.pause();
      if (err !== null) reject(err);
      else resolve(response as TransferResponse);
    };
    const onData = (chunk: Buffer) => {
      try {
        decoder.push(chunk);
        const value = decoder.nextFrame();
        if (value !== undefined) finish(null, parseResponse(value));
      } catch (err) {
        finish(err as Error);
      }
    };
    const onClose = () => finish(new TandemError('CONNECTION_LOST', 'the datanode closed the connection before answering'));
    const onError = (err: Error) => finish(new TandemError('CONNECTION_LOST', `connection to the datanode failed: ${err.message}`));
    const timer =
      timeoutMs === null ? null : setTimeout(() => finish(new TandemError('DEADLINE_EXCEEDED', `no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.write(encodeMessage(request, config.requestBytesMax));
    socket.resume();
  });
}

interface SentPacket {
  seq: number;
  data: Buffer;
  last: boolean;
}

export interface BlockWriterOptions {
  targets: readonly PipelineTarget[];
  blockId: string;
  genStamp: number;
  /** Bytes the replicas already hold (0 for a new block; ackedBytes after pipeline recovery). */
  offset?: number;
  /** false: the last packet syncs the replicas and leaves them in rbw/ (a copy during pipeline recovery). */
  finalize?: boolean;
  /** A copy of a complete block: an abandoned rbw replica at its genStamp on a target is written anew (packet.ts). */
  discardAbandoned?: boolean;
  config?: DatanodeConfig;
}

export class BlockWriter {
  private readonly decoder: TransferDecoder;
  /** Packets sent and not yet acknowledged, oldest first. Invariant: length ≤ packetsInFlightMax. */
  private readonly unacked: SentPacket[] = [];
  private nextSeq = 0;
  /** Block offset of the next byte to send. */
  private sentBytes: number;
  private acked: number;
  /** A packet being filled by write(); null when empty. */
  private staged: Buffer | null = null;
  private stagedBytes = 0;
  private failure: PipelineError | null = null;
  private writing = false;
  private finishing = false;
  private roomWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private finalWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null;

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: BlockWriterOptions,
    private readonly config: DatanodeConfig,
    decoder: TransferDecoder,
  ) {
    this.decoder = decoder;
    this.sentBytes = options.offset ?? 0;
    this.acked = this.sentBytes;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows and reports
    socket.on('close', () => this.fail(0, `connection to ${this.describe(0)} lost`));
    socket.setTimeout(config.idleTimeoutMs, () => {
      if (this.unacked.length > 0) this.fail(0, `no ack from ${this.describe(0)} for ${config.idleTimeoutMs} ms`);
    });
    socket.resume();
  }

  /** Opens the pipeline: connects to targets[0], which connects onwards; resolves once every node accepted. */
  static async open(options: BlockWriterOptions): Promise<BlockWriter> {
    const config = options.config ?? DEFAULT_DATANODE_CONFIG;
    const first = options.targets[0];
    const offset = options.offset ?? 0;
    const describe = (i: number) => {
      const t = options.targets[i];
      return t === undefined ? `datanode #${i}` : `datanode ${t.id} (${t.data})`;
    };
    if (first === undefined) throw new TandemError('INVALID_ARGUMENT', 'a write pipeline needs at least one target');
    let socket: net.Socket;
    try {
      socket = await connectDatanode(first.data, config.connectTimeoutMs);
    } catch (err) {
      throw new PipelineError(`pipeline for ${options.blockId}: ${describe(0)} unreachable: ${(err as Error).message}`, 0, offset);
    }
    const decoder = new TransferDecoder(config);
    let response: TransferResponse;
    try {
      response = await exchangeRequest(
        socket,
        decoder,
        {
          op: 'write',
          blockId: options.blockId,
          genStamp: options.genStamp,
          offset,
          targets: options.targets.slice(1),
          finalize: options.finalize ?? true,
          discardAbandoned: options.discardAbandoned ?? false,
        },
        config,
        config.connectTimeoutMs * options.targets.length,
      );
    } catch (err) {
      socket.destroy();
      throw new PipelineError(`pipeline for ${options.blockId}: ${describe(0)} failed to answer: ${(err as Error).message}`, 0, offset);
    }
    if (!response.ok) {
      socket.destroy();
      const failedIndex = Math.min(response.failedIndex ?? 0, options.targets.length - 1);
      throw new PipelineError(`pipeline for ${options.blockId} refused at ${describe(failedIndex)}: ${response.code}: ${response.message}`, failedIndex, offset);
    }
    return new BlockWriter(socket, options, config, decoder);
  }

  /** Block length every node of the pipeline has acknowledged. */
  get ackedBytes(): number {
    return this.acked;
  }

  /** Block length through which write() accepted data: ackedBytes + unackedData().length. */
  get writtenBytes(): number {
    return this.sentBytes + this.stagedBytes;
  }

  /** Every byte written past ackedBytes (sent and unacknowledged, then staged), in order. */
  unackedData(): Buffer {
    const parts = this.unacked.map((p) => p.data);
    if (this.staged !== null) parts.push(this.staged.subarray(0, this.stagedBytes));
    return Buffer.concat(parts);
  }

  private describe(index: number): string {
    const t = this.options.targets[index];
    return t === undefined ? `datanode #${index}` : `datanode ${t.id} (${t.data})`;
  }

  private check(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** Queues `buf` into packets. Resolves when it is all sent and the window has room. One write at a time. */
  async write(buf: Buffer): Promise<void> {
    this.check();
    if (this.writing || this.finishing) throw new TandemError('INVALID_ARGUMENT', 'write() while another write() or finish() is in progress');
    if (buf.length === 0) return;
    if (this.sentBytes % this.config.chunkBytes !== 0 && this.stagedBytes === 0) {
      throw new TandemError('INVALID_ARGUMENT', `block ${this.options.blockId} ends mid-chunk at ${this.sentBytes}; it takes no more data`);
    }
    this.writing = true;
    try {
      const packetBytes = this.config.packetDataBytesMax;
      let pos = 0;
      while (pos < buf.length) {
        if (this.stagedBytes === 0 && buf.length - pos >= packetBytes) {
          // Whole packets straight from the caller's buffer, no copy.
          await this.sendPacket(buf.subarray(pos, pos + packetBytes), null, false);
          pos += packetBytes;
          continue;
        }
        this.staged ??= Buffer.allocUnsafe(packetBytes);
        const copied = buf.copy(this.staged, this.stagedBytes, pos, Math.min(buf.length, pos + packetBytes - this.stagedBytes));
        this.stagedBytes += copied;
        pos += copied;
        if (this.stagedBytes === packetBytes) await this.sendStaged();
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * Sends one chunk-aligned piece with CRCs computed elsewhere (a copy sends the stored
   * ones, so a corrupt replica is refused downstream rather than laundered).
   */
  async writeChecksummed(data: Buffer, crcs: Buffer): Promise<void> {
    this.check();
    if (this.writing || this.finishing || this.stagedBytes > 0) throw new TandemError('INVALID_ARGUMENT', 'writeChecksummed() needs an idle writer');
    if (data.length > this.config.packetDataBytesMax || crcs.length !== chunkCount(data.length, this.config.chunkBytes) * CRC_BYTES) {
      throw new TandemError('INVALID_ARGUMENT', `a piece of ${data.length} bytes with ${crcs.length / CRC_BYTES} CRCs`);
    }
    this.writing = true;
    try {
      await this.sendPacket(data, crcs, false);
    } finally {
      this.writing = false;
    }
  }

  /** Sends the staged partial packet (if any) and the empty last packet; resolves when every node finalized. */
  async finish(): Promise<{ blockId: string; genStamp: number; length: number }> {
    this.check();
    if (this.writing || this.finishing) throw new TandemError('INVALID_ARGUMENT', 'finish() while a write() or finish() is in progress');
    this.finishing = true;
    if (this.stagedBytes > 0) await this.sendStaged();
    const final = new Promise<void>((resolve, reject) => {
      this.finalWaiter = { resolve, reject };
    });
    // A failure while the last packet waits for room rejects both; the send's rejection is
    // the one thrown, and this one must not go unhandled (it would end the process).
    final.catch(() => undefined);
    await this.sendPacket(Buffer.alloc(0), null, true);
    await final;
    this.socket.end();
    return { blockId: this.options.blockId, genStamp: this.options.genStamp, length: this.acked };
  }

  /** Drops the pipeline (a caller giving up); the replicas stay in rbw/ on every node. */
  abort(): void {
    this.fail(0, 'aborted by the writer');
  }

  private async sendStaged(): Promise<void> {
    // Room first: until the packet is in `unacked`, its bytes stay staged (and in unackedData()).
    await this.roomForPacket();
    const data = (this.staged as Buffer).subarray(0, this.stagedBytes);
    this.staged = null;
    this.stagedBytes = 0;
    this.pushPacket(data, null, false);
  }

  private async sendPacket(data: Buffer, crcs: Buffer | null, last: boolean): Promise<void> {
    await this.roomForPacket();
    this.pushPacket(data, crcs, last);
  }

  private async roomForPacket(): Promise<void> {
    while (this.unacked.length >= this.config.packetsInFlightMax) {
      this.check();
      await new Promise<void>((resolve, reject) => {
        this.roomWaiter = { resolve, reject };
      });
    }
    this.check();
  }

  private pushPacket(data: Buffer, crcs: Buffer | null, last: boolean): void {
    const seq = this.nextSeq++;
    const head = encodePacketHead(seq, last, this.sentBytes, data.length, crcs ?? computeChunkCrcs(data, this.config.chunkBytes));
    this.unacked.push({ seq, data, last });
    this.sentBytes += data.length;
    this.socket.cork();
    this.socket.write(head);
    if (data.length > 0) this.socket.write(data);
    this.socket.uncork();
  }

  private onData(chunk: Buffer): void {
    if (this.failure !== null) return;
    try {
      this.decoder.push(chunk);
      for (let ack = this.decoder.nextAck(); ack !== undefined; ack = this.decoder.nextAck()) {
        const packet = this.unacked[0];
        if (packet === undefined || ack.seq !== packet.seq) {
          this.fail(0, `${this.describe(0)} acked packet ${ack.seq}, expected ${packet?.seq ?? 'none'}`);
          return;
        }
        if (ack.status !== ACK_STATUS.OK) {
          const failedIndex = Math.min(ack.okReplicas, this.options.targets.length - 1);
          const why = ack.status === ACK_STATUS.CHECKSUM ? 'a checksum failed' : ack.status === ACK_STATUS.ERROR ? 'it could not store a packet' : 'it failed';
          this.fail(failedIndex, `${this.describe(failedIndex)} failed in the pipeline (${why}; packet ${ack.seq} at offset ${this.acked})`, ack.status === ACK_STATUS.CHECKSUM);
          return;
        }
        this.unacked.shift();
        this.acked += packet.data.length;
        const room = this.roomWaiter;
        this.roomWaiter = null;
        room?.resolve();
        if (packet.last) {
          const final = this.finalWaiter;
          this.finalWaiter = null;
          this.socket.setTimeout(0);
          final?.resolve();
        }
      }
    } catch (err) {
      this.fail(0, `${this.describe(0)} sent a malformed ack: ${(err as Error).message}`);
    }
  }

  private fail(index: number, message: string, checksumFailed = false): void {
    if (this.failure !== null) return;
    const finished = this.unacked.length === 0 && this.finalWaiter === null && this.finishing;
    if (finished) return; // the connection closing after the final ack is the normal end
    this.failure = new PipelineError(`pipeline for ${this.options.blockId}: ${message}`, index, this.acked, checksumFailed);
    this.socket.destroy();
    const waiters = [this.roomWaiter, this.finalWaiter];
    this.roomWaiter = null;
    this.finalWaiter = null;
    for (const w of waiters) w?.reject(this.failure);
  }
}

export interface ReadBlockOptions {
  /**
   * Receive into a few buffers used over and over: each yielded Buffer is valid only until
   * the next iteration (copy what you keep). Saves an allocation per packet — and with it
   * the page faults and garbage collections that dominate a fast reader's CPU.
   */
  reuseBuffers?: boolean;
}

/**
 * Reads [offset, offset + length) of a replica, checking every chunk's CRC32C:
 * CHECKSUM_MISMATCH (naming the datanode and chunk) on a bad one. Yields views of received
 * packets, in order.
 */
export async function* readBlock(
  dataAddress: string,
  blockId: string,
  genStamp: number,
  offset: number,
  length: number,
  config: DatanodeConfig = DEFAULT_DATANODE_CONFIG,
  options: ReadBlockOptions = {},
): AsyncGenerator<Buffer> {
  const stream = await BlockReadStream.open(dataAddress, { op: 'read', blockId, genStamp, offset, length }, config, options.reuseBuffers === true);
  try {
    const cb = config.chunkBytes;
    const end = offset + length;
    let expected = Math.floor(offset / cb) * cb;
    for (;;) {
      const packet = await stream.next();
      if (packet === null) break;
      if (packet.offset !== expected) {
        throw new TandemError('MALFORMED_FRAME', `datanode ${dataAddress} sent ${blockId} at ${packet.offset}, expected ${expected}`);
      }
      const bad = findBadChunk(packet.data, packet.crcs, cb);
      if (bad >= 0) {
        throw new TandemError('CHECKSUM_MISMATCH', `chunk ${packet.offset / cb + bad} of ${blockId} from datanode ${dataAddress} failed its CRC32C`);
      }
      expected += packet.data.length;
      const from = Math.max(0, offset - packet.offset);
      const to = Math.min(packet.data.length, end - packet.offset);
      if (to > from) yield from === 0 && to === packet.data.length ? packet.data : packet.data.subarray(from, to);
    }
    if (expected < end) {
      throw new TandemError('CONNECTION_LOST', `datanode ${dataAddress} ended the read of ${blockId} at ${expected} of [${offset}, ${end})`);
    }
  } finally {
    stream.destroy();
  }
}

/**
 * The receiving end of a read: the socket reads straight into the buffers the protocol
 * needs next (Node's `onread`), so a packet's CRCs and data land in one buffer of their
 * own, with no 64 KiB socket chunks to gather and copy: one allocation per packet, the
 * kernel's copy the only one. Packets wait in a queue of at most readAheadBytesMax bytes;
 * past that the socket pauses until the consumer catches up.
 */
interface ReceivedPacket {
  offset: number;
  crcs: Buffer;
  data: Buffer;
  /** reuseBuffers: the pooled buffer both sit in, to give back once the consumer is done with them. */
  pooled: Buffer | null;
}

class BlockReadStream {
  private socket!: net.Socket;
  private phase: 'length' | 'frame' | 'head' | 'body' | 'done' = 'length';
  /** Where the next socket read goes: target[filled…]. */
  private target: Buffer;
  private filled = 0;
  private readonly head = Buffer.allocUnsafe(PACKET_HEADER_BYTES);
  private header: PacketHeader | null = null;
  private readonly queue: ReceivedPacket[] = [];
  /** reuseBuffers: free packet buffers, and the one whose packet the consumer holds now. */
  private readonly pool: Buffer[] | null;
  private lent: Buffer | null = null;
  /** The pooled buffer the packet being received goes into. */
  private pooledBody: Buffer | null = null;
  private queuedBytes = 0;
  private ended = false;
  /** The socket stopped reading because the queue is full. */
  private stopped = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private respond: ((response: TransferResponse) => void) | null = null;

  private constructor(
    private readonly address: string,
    private readonly config: DatanodeConfig,
    reuseBuffers: boolean,
  ) {
    this.target = this.head.subarray(0, FRAME_LENGTH_BYTES);
    this.pool = reuseBuffers ? [] : null;
  }

  static async open(address: string, request: Record<string, unknown>, config: DatanodeConfig, reuseBuffers = false): Promise<BlockReadStream> {
    const stream = new BlockReadStream(address, config, reuseBuffers);
    const socket = await connectDatanode(address, config.connectTimeoutMs, {
      buffer: () => stream.target.subarray(stream.filled),
      callback: (bytes: number) => stream.onRead(bytes),
    });
    stream.socket = socket;
    socket.on('error', (err) => stream.fail(new TandemError('CONNECTION_LOST', `connection to datanode ${address} failed: ${err.message}`)));
    socket.on('close', () => stream.fail(new TandemError('CONNECTION_LOST', `datanode ${address} closed the connection`)));
    const response = await new Promise<TransferResponse>((resolve, reject) => {
      const timer = setTimeout(() => stream.fail(new TandemError('DEADLINE_EXCEEDED', `datanode ${address}: no answer within ${config.connectTimeoutMs} ms`)), config.connectTimeoutMs);
      stream.respond = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      stream.wake = () => {
        clearTimeout(timer);
        reject(stream.failure ?? new TandemError('CONNECTION_LOST', `datanode ${address} closed the connection before answering`));
      };
      socket.write(encodeMessage(request, config.requestBytesMax));
    }).catch((err: unknown) => {
      socket.destroy();
      throw err;
    });
    stream.wake = null;
    if (!response.ok) {
      socket.destroy();
      throw TandemError.fromWire(response);
    }
    socket.setTimeout(config.idleTimeoutMs, () => stream.fail(new TandemError('DEADLINE_EXCEEDED', `datanode ${address} sent nothing for ${config.idleTimeoutMs} ms`)));
    return stream;
  }

  /** Bytes landed in target; moves to the next part of the protocol when it is full. False pauses the socket. */
  private onRead(bytes: number): boolean {
    if (this.failure !== null || this.phase === 'done') return false;
    this.filled += bytes;
    if (this.filled < this.target.length) return true;
    try {
      this.advance();
    } catch (err) {
      this.fail(err instanceof TandemError ? err : new TandemError('MALFORMED_FRAME', (err as Error).message));
      return false;
    }
    // Returning false stops the socket reading (net.Socket's onread contract); next() resumes it.
    this.stopped = this.queuedBytes >= this.config.packetDataBytesMax * READ_AHEAD_PACKETS;
    return !this.stopped;
  }

  private expect(target: Buffer): void {
    this.target = target;
    this.filled = 0;
  }

  private advance(): void {
    switch (this.phase) {
      case 'length': {
        const bytes = this.target.readUInt32BE(0);
        if (bytes === 0 || bytes > this.config.requestBytesMax) throw new TandemError('MALFORMED_FRAME', `datanode ${this.address} answered with a frame of ${bytes} bytes`);
        this.phase = 'frame';
        this.expect(Buffer.allocUnsafe(bytes));
        return;
      }
      case 'frame': {
        const response = parseResponse(decodePayload(this.target));
        this.phase = 'head';
        this.expect(this.head);
        this.respond?.(response);
        this.respond = null;
        return;
      }
      case 'head': {
        const header = decodePacketHeader(this.head, this.config);
        if (header.last) {
          if (header.dataBytes > 0) throw new TandemError('MALFORMED_FRAME', `datanode ${this.address}: the last packet carries data`);
          this.phase = 'done';
          this.ended = true;
          this.notify();
          return;
        }
        this.header = header;
        this.phase = 'body';
        this.expect(this.bodyBuffer(header.crcBytes + header.dataBytes));
        return;
      }
      case 'body': {
        const header = this.header as PacketHeader;
        const body = this.target;
        this.queue.push({ offset: header.offset, crcs: body.subarray(0, header.crcBytes), data: body.subarray(header.crcBytes), pooled: this.pooledBody });
        this.pooledBody = null;
        this.queuedBytes += header.dataBytes;
        this.header = null;
        this.phase = 'head';
        this.expect(this.head);
        this.notify();
        return;
      }
      case 'done':
        return;
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private fail(err: Error): void {
    if (this.failure !== null || this.ended) return;
    this.failure = err;
    this.socket?.destroy();
    this.notify();
  }

  /** Where the next packet's CRCs and data go: a buffer of their own, or a pooled one. */
  private bodyBuffer(bytes: number): Buffer {
    if (this.pool === null) return Buffer.allocUnsafe(bytes);
    const full = this.pool.pop() ?? Buffer.allocUnsafe(chunkCount(this.config.packetDataBytesMax, this.config.chunkBytes) * CRC_BYTES + this.config.packetDataBytesMax);
    this.pooledBody = full;
    return full.subarray(0, bytes);
  }

  /** The next packet (CRCs not yet checked), or null after the last. With reuseBuffers, the previous one's memory is taken back now. */
  async next(): Promise<ReceivedPacket | null> {
    if (this.lent !== null) {
      this.pool?.push(this.lent);
      this.lent = null;
    }
    for (;;) {
      const packet = this.queue.shift();
      if (packet !== undefined) {
        this.lent = packet.pooled;
        this.queuedBytes -= packet.data.length;
        if (this.stopped && this.queuedBytes < this.config.packetDataBytesMax * READ_AHEAD_PACKETS) {
          this.stopped = false;
          this.socket.resume();
        }
        return packet;
      }
      if (this.ended) return null;
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  destroy(): void {
    this.ended = true;
    this.socket?.destroy();
  }
}

/**
 * Asks the datanode at `sourceAddress` to send its replica (up to `length`) to `targets` as a
 * pipeline. Resolves when the targets acknowledged; PIPELINE_FAILED carries failedIndex.
 */
export async function copyBlock(
  sourceAddress: string,
  request: { blockId: string; genStamp: number; length: number; targets: PipelineTarget[]; finalize?: boolean; recovery?: boolean },
  config: DatanodeConfig = DEFAULT_DATANODE_CONFIG,
): Promise<{ length: number }> {
  const socket = await connectDatanode(sourceAddress, config.connectTimeoutMs);
  try {
    // No deadline on the answer: it comes when the whole block is copied; the source's own pipeline timeouts bound it.
    const response = await exchangeRequest(socket, new TransferDecoder(config), { op: 'copy', ...request, finalize: request.finalize ?? true, recovery: request.recovery ?? false }, config, null);
    if (!response.ok) {
      if (response.code === 'PIPELINE_FAILED' && response.failedIndex !== undefined) {
        throw new PipelineError(response.message, response.failedIndex, 0);
      }
      throw TandemError.fromWire(response);
    }
    return { length: response.length ?? request.length };
  } finally {
    socket.destroy();
  }
}
