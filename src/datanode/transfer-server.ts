// A datanode's data transfer port (docs/data-path.md, "Data transfer protocol"): one
// request per connection — write (store and forward down a pipeline), read, copy.
//
//   DataTransferServer.start({store, host, port, log, config?, onBlockFinalized?, onCorruptReplica?})
//   server.address   → "host:port" it listens on
//   server.close()   → stops listening, destroys every open transfer (rbw replicas stay for recovery)
//
// Write, per packet: check every chunk's CRC (refuse before forwarding), forward downstream,
// append locally; ack upstream, in order, once the local append is done AND downstream acked.
// If downstream fails, the first packet it did not ack is answered with status ≠ 0 and
// okReplicas = the nodes from here down that have it, and the connection closes. The last
// packet (empty) is acked only after the replica is finalized here and downstream.
//
// Bounds: transfersMax connections at once (more get TOO_MANY_IN_FLIGHT), packetsInFlightMax
// unacked packets per pipeline (beyond that the upstream socket is paused), requestBytesMax
// per request, an idle timeout per socket.

import net from 'node:net';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { BlockStore, ReplicaInfo, ReplicaWriter } from './block-store.js';
import { CRC_BYTES, chunkCount, computeChunkCrcs, findBadChunk } from './chunk-checksums.js';
import { DEFAULT_DATANODE_CONFIG, type DatanodeConfig } from './config.js';
import {
  ACK_STATUS,
  PACKET_HEADER_BYTES,
  TransferDecoder,
  encodeAck,
  encodeMessage,
  encodePacketHead,
  errorResponse,
  parseRequest,
  writePacketHeader,
  type Ack,
  type CopyRequest,
  type PacketParts,
  type ReadRequest,
  type TransferResponse,
  type WriteRequest,
} from './packet.js';
import { BlockWriter, PipelineError, connectDatanode, exchangeRequest } from './transfer-client.js';

export interface DataTransferServerOptions {
  store: BlockStore;
  host: string;
  port: number;
  log: Logger;
  config?: DatanodeConfig;
  /** A replica was finalized here (tell the FMS: an incremental block report). */
  onBlockFinalized?: (replica: ReplicaInfo) => void;
  /** A local replica failed its CRC while being copied from here (tell the FMS). */
  onCorruptReplica?: (blockId: string) => void;
}

interface Context {
  store: BlockStore;
  log: Logger;
  config: DatanodeConfig;
  readBuffers: PacketBufferPool;
  onBlockFinalized: (replica: ReplicaInfo) => void;
  onCorruptReplica: (blockId: string) => void;
}

export class DataTransferServer {
  private readonly sockets = new Set<net.Socket>();
  /** Transfers still cleaning up (closing file handles); close() waits for them. */
  private readonly cleanups = new Set<Promise<void>>();
  private closing = false;

  private constructor(
    private readonly server: net.Server,
    private readonly context: Context,
    readonly address: string,
  ) {}

  static async start(options: DataTransferServerOptions): Promise<DataTransferServer> {
    const config = options.config ?? DEFAULT_DATANODE_CONFIG;
    const context: Context = {
      store: options.store,
      log: options.log,
      config,
      readBuffers: packetBufferPool(config),
      onBlockFinalized: options.onBlockFinalized ?? (() => undefined),
      onCorruptReplica: options.onCorruptReplica ?? (() => undefined),
    };
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address() as net.AddressInfo;
    const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    const transfer = new DataTransferServer(server, context, `${host}:${bound.port}`);
    server.on('connection', (socket) => transfer.onConnection(socket));
    options.log.info({ address: transfer.address }, `data transfer server listening on ${transfer.address}`);
    return transfer;
  }

  /** Connections open now. */
  get transfers(): number {
    return this.sockets.size;
  }

  private onConnection(socket: net.Socket): void {
    const { config, log } = this.context;
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.sockets.size >= config.transfersMax) {
      log.warn({ remote: socket.remoteAddress, transfersMax: config.transfersMax }, `refused a transfer: ${config.transfersMax} already open`);
      socket.end(encodeMessage(errorResponse(new TandemError('TOO_MANY_IN_FLIGHT', `this datanode serves ${config.transfersMax} transfers at once`)), config.requestBytesMax));
      return;
    }
    this.sockets.add(socket);
    socket.setTimeout(config.idleTimeoutMs, () => socket.destroy());
    socket.on('error', (err) => log.debug({ err: err.message }, 'transfer socket error'));
    const decoder = new TransferDecoder(config);
    const onData = (chunk: Buffer) => {
      let value: unknown;
      try {
        decoder.push(chunk);
        value = decoder.nextFrame();
        if (value === undefined) return;
        socket.off('data', onData);
        socket.pause();
        const request = parseRequest(value, config);
        this.track(socket, this.dispatch(socket, decoder, request));
      } catch (err) {
        socket.off('data', onData);
        log.warn({ remote: socket.remoteAddress, err: (err as Error).message }, `refused a malformed transfer request: ${(err as Error).message}`);
        socket.end(encodeMessage(errorResponse(err), config.requestBytesMax));
      }
    };
    socket.on('data', onData);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private track(socket: net.Socket, work: Promise<void>): void {
    const done = work.catch((err: unknown) => {
      this.context.log.error({ err: (err as Error).message }, `transfer failed unexpectedly: ${(err as Error).message}`);
      socket.destroy();
    });
    this.cleanups.add(done);
    void done.finally(() => this.cleanups.delete(done));
  }

  private dispatch(socket: net.Socket, decoder: TransferDecoder, request: ReturnType<typeof parseRequest>): Promise<void> {
    switch (request.op) {
      case 'write':
        return new WriteTransfer(this.context, socket, decoder, request).run();
      case 'read':
        return serveRead(this.context, socket, request);
      case 'copy':
        return serveCopy(this.context, socket, request);
    }
  }

  /** Stops listening and destroys every open transfer; resolves when their files are closed. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    while (this.cleanups.size > 0) await Promise.allSettled([...this.cleanups]);
  }
}

function reply(socket: net.Socket, response: TransferResponse, config: DatanodeConfig, end = false): void {
  if (socket.destroyed) return;
  const frame = encodeMessage(response, config.requestBytesMax);
  if (end) socket.end(frame);
  else socket.write(frame);
}

/** Resolves when the socket's userland buffer has drained, or it closed. */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

// ------------------------------------------------------------------ write

interface PendingPacket {
  seq: number;
  dataBytes: number;
  last: boolean;
  localDone: boolean;
  localError: TandemError | null;
  downstreamAck: Ack | null;
}

class WriteTransfer {
  private writer: ReplicaWriter | null = null;
  private downstream: net.Socket | null = null;
  private readonly downstreamDecoder: TransferDecoder;
  private downstreamLost = false;
  /** Packets received and not yet acked upstream. Invariant: length ≤ packetsInFlightMax. */
  private readonly pending: PendingPacket[] = [];
  private expectedSeq = 0;
  private lastReceived = false;
  /** A packet was refused here: take no more, the pipeline ends when the acks before it are sent. */
  private refused = false;
  /** Status of the ack for a packet that failed here. */
  private abortStatus: number = ACK_STATUS.ERROR;
  private ended = false;
  private finished!: () => void;
  private readonly done = new Promise<void>((resolve) => {
    this.finished = resolve;
  });

  constructor(
    private readonly context: Context,
    private readonly upstream: net.Socket,
    private readonly decoder: TransferDecoder,
    private readonly request: WriteRequest,
  ) {
    this.downstreamDecoder = new TransferDecoder(context.config);
  }

  private get label(): string {
    return `${this.request.blockId} (genStamp ${this.request.genStamp})`;
  }

  async run(): Promise<void> {
    const { store, config, log } = this.context;
    const { blockId, genStamp, offset, targets } = this.request;
    this.upstream.once('close', () => this.end('upstream closed'));
    try {
      if (this.request.discardAbandoned && offset === 0 && (await store.discardAbandoned(blockId, genStamp))) {
        log.info({ blockId, genStamp }, `discarded the unfinished replica of ${this.label} a failed transfer left here: the copy writes it anew`);
      }
      // A rebuilt pipeline (docs/data-path.md): the replica here holds at least the
      // acknowledged prefix at an older genStamp; cut it there and move it to the new one.
      // That prefix may be empty: a pipeline that failed before any ack is rebuilt at 0.
      const here = store.get(blockId);
      const rebuilt = here !== undefined && here.genStamp < genStamp && here.length >= offset;
      if (rebuilt) await store.resumeRbw(blockId, here.genStamp, genStamp, offset);
      this.writer = offset === 0 && !rebuilt ? await store.createRbw(blockId, genStamp) : await store.openRbw(blockId, genStamp, offset);
    } catch (err) {
      log.warn({ blockId, genStamp, offset, err: (err as Error).message }, `refused to write ${blockId}: ${(err as Error).message}`);
      reply(this.upstream, errorResponse(err, 0), config, true);
      this.end('refused');
      return this.done;
    }
    if (this.ended) return this.done; // upstream went away while the files were opening
    const next = targets[0];
    if (next !== undefined) {
      try {
        const socket = await connectDatanode(next.data, config.connectTimeoutMs);
        this.downstream = socket;
        const response = await exchangeRequest(
          socket,
          this.downstreamDecoder,
          { ...this.request, targets: targets.slice(1) },
          config,
          config.connectTimeoutMs * targets.length,
        );
        if (!response.ok) {
          reply(this.upstream, { ok: false, code: 'PIPELINE_FAILED', message: response.message, failedIndex: 1 + (response.failedIndex ?? 0) }, config, true);
          this.end('downstream refused');
          return this.done;
        }
      } catch (err) {
        reply(this.upstream, { ok: false, code: 'PIPELINE_FAILED', message: `datanode ${next.id} (${next.data}): ${(err as Error).message}`, failedIndex: 1 }, config, true);
        this.end('downstream unreachable');
        return this.done;
      }
      if (this.ended) return this.done;
      const downstream = this.downstream as net.Socket;
      downstream.setTimeout(config.idleTimeoutMs, () => downstream.destroy());
      downstream.on('data', (chunk: Buffer) => this.onDownstreamData(chunk));
      downstream.on('error', () => undefined);
      downstream.once('close', () => {
        this.downstreamLost = true;
        this.flushAcks();
      });
      downstream.resume();
    }
    log.debug({ blockId, genStamp, offset, targets: targets.map((t) => t.id) }, `receiving ${this.label} from ${offset}`);
    reply(this.upstream, { ok: true }, config);
    this.upstream.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      this.receivePackets();
    });
    this.receivePackets(); // bytes that came with the request
    this.upstream.resume();
    return this.done;
  }

  private receivePackets(): void {
    const window = this.context.config.packetsInFlightMax;
    while (!this.ended && !this.lastReceived && !this.refused && this.pending.length < window) {
      let packet: PacketParts | undefined;
      try {
        packet = this.decoder.nextPacketParts();
      } catch (err) {
        this.abortWith(ACK_STATUS.ERROR, `malformed packet from upstream: ${(err as Error).message}`);
        return;
      }
      if (packet === undefined) break;
      this.receive(packet);
    }
    if (this.ended) return;
    // Backpressure: a sender past its window waits until acks make room.
    if (this.pending.length >= window) this.upstream.pause();
    else this.upstream.resume();
  }

  private receive(packet: PacketParts): void {
    const writer = this.writer as ReplicaWriter;
    if (packet.seq !== this.expectedSeq) {
      this.abortWith(ACK_STATUS.ERROR, `packet ${packet.seq} arrived, expected ${this.expectedSeq}`);
      return;
    }
    this.expectedSeq++;
    const entry: PendingPacket = { seq: packet.seq, dataBytes: packet.dataBytes, last: packet.last, localDone: false, localError: null, downstreamAck: null };
    let local: Promise<unknown>;
    try {
      if (packet.last) {
        if (packet.dataBytes > 0) throw new TandemError('MALFORMED_FRAME', 'the last packet carries data');
        this.lastReceived = true;
        local = this.request.finalize ? writer.finalize().then((replica) => this.context.onBlockFinalized(replica)) : writer.sync().then(() => writer.close());
      } else {
        local = writer.append(packet.offset, packet.parts, packet.crcs);
      }
    } catch (err) {
      // A bad CRC or offset: refused before it goes any further down.
      const checksum = err instanceof TandemError && err.code === 'CHECKSUM_MISMATCH';
      this.context.log.warn({ blockId: this.request.blockId, seq: packet.seq, err: (err as Error).message }, `refused a packet of ${this.label}: ${(err as Error).message}`);
      this.pending.push({ ...entry, localError: err instanceof TandemError ? err : new TandemError('INTERNAL', String(err)) });
      this.abortStatus = checksum ? ACK_STATUS.CHECKSUM : ACK_STATUS.ERROR;
      this.refused = true;
      this.flushAcks();
      return;
    }
    const downstream = this.downstream;
    if (downstream !== null && !this.downstreamLost) {
      // Corked: the header and the parts leave in one writev, with no copy into one buffer.
      downstream.cork();
      downstream.write(encodePacketHead(packet.seq, packet.last, packet.offset, packet.dataBytes, packet.crcs));
      for (const part of packet.parts) downstream.write(part);
      downstream.uncork();
    }
    this.pending.push(entry);
    local.then(
      () => {
        entry.localDone = true;
        this.flushAcks();
      },
      (err: unknown) => {
        entry.localError = err instanceof TandemError ? err : new TandemError('INTERNAL', (err as Error).message);
        this.flushAcks();
      },
    );
  }

  private onDownstreamData(chunk: Buffer): void {
    try {
      this.downstreamDecoder.push(chunk);
      for (let ack = this.downstreamDecoder.nextAck(); ack !== undefined; ack = this.downstreamDecoder.nextAck()) {
        const entry = this.pending.find((p) => p.downstreamAck === null);
        if (entry === undefined || entry.seq !== ack.seq) {
          this.context.log.warn({ blockId: this.request.blockId, seq: ack.seq }, `downstream acked an unexpected packet ${ack.seq}`);
          this.downstream?.destroy();
          return;
        }
        entry.downstreamAck = ack;
      }
    } catch {
      this.downstream?.destroy();
      return;
    }
    this.flushAcks();
  }

  /** Acks upstream, in order, every packet that is done here and downstream; fails the pipeline at the first that cannot be. */
  private flushAcks(): void {
    while (!this.ended) {
      const entry = this.pending[0];
      if (entry === undefined) break;
      if (entry.localError !== null) {
        this.sendAck({ seq: entry.seq, status: this.abortStatus, okReplicas: 0 });
        this.context.log.warn({ blockId: this.request.blockId, seq: entry.seq, err: entry.localError.message }, `write of ${this.label} failed here: ${entry.localError.message}`);
        this.end('local failure');
        return;
      }
      if (!entry.localDone) break;
      let okReplicas = 1;
      if (this.downstream !== null) {
        const ack = entry.downstreamAck;
        if (ack === null && !this.downstreamLost) break;
        if (ack === null || ack.status !== ACK_STATUS.OK) {
          const downstreamOk = ack === null ? 0 : ack.okReplicas;
          const status = ack === null ? ACK_STATUS.PIPELINE : ack.status;
          this.sendAck({ seq: entry.seq, status, okReplicas: 1 + downstreamOk });
          const failed = this.request.targets[downstreamOk];
          this.context.log.warn(
            { blockId: this.request.blockId, seq: entry.seq, failed: failed?.id, okReplicas: 1 + downstreamOk },
            `pipeline of ${this.label} broke downstream at datanode ${failed?.id ?? '?'}; acked packet ${entry.seq} with ${1 + downstreamOk} replicas and closed`,
          );
          this.end('downstream failed');
          return;
        }
        okReplicas += ack.okReplicas;
      }
      this.pending.shift();
      this.sendAck({ seq: entry.seq, status: ACK_STATUS.OK, okReplicas });
      if (entry.last) {
        this.context.log.info(
          { blockId: this.request.blockId, genStamp: this.request.genStamp, length: this.writer?.length, finalized: this.request.finalize },
          `${this.request.finalize ? 'finalized' : 'synced (kept in rbw)'} ${this.label}, ${this.writer?.length ?? 0} bytes`,
        );
        this.upstream.end();
        this.end('complete');
        return;
      }
    }
    // Room in the window again: take the packets that waited in the decoder.
    if (!this.ended) this.receivePackets();
  }

  private sendAck(ack: Ack): void {
    if (!this.upstream.destroyed) this.upstream.write(encodeAck(ack));
  }

  private abortWith(status: number, message: string): void {
    this.context.log.warn({ blockId: this.request.blockId }, `write of ${this.label} aborted: ${message}`);
    this.sendAck({ seq: this.expectedSeq, status, okReplicas: 0 });
    this.end(message);
  }

  /** Ends the transfer once: closes the sockets (after queued acks) and the writer; the replica stays where it is. */
  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    if (why !== 'complete') {
      this.context.log.debug({ blockId: this.request.blockId, why }, `write of ${this.label} ended: ${why}`);
      this.upstream.end();
      // A socket that never drains (a vanished peer) must not hold the transfer open.
      setTimeout(() => this.upstream.destroy(), 1_000).unref();
    }
    this.downstream?.destroy();
    void (this.writer?.close() ?? Promise.resolve()).then(() => this.finished());
  }
}

// ------------------------------------------------------------------ read

/**
 * Buffers for whole outgoing packets (header, CRCs, data), reused once the socket has
 * handed a packet to the kernel: a read allocates nothing per packet, so the datanode does
 * not pay page faults and garbage collection for every MiB it serves.
 */
export class PacketBufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    /** Free buffers kept, at most; more are left to the garbage collector. */
    private readonly keptMax: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.keptMax) this.free.push(buffer);
  }
}

/** Packet buffers a datanode keeps for reads (each one packet, about packetDataBytesMax). */
const READ_BUFFERS_KEPT_MAX = 16;

export function packetBufferPool(config: DatanodeConfig): PacketBufferPool {
  return new PacketBufferPool(PACKET_HEADER_BYTES + chunkCount(config.packetDataBytesMax, config.chunkBytes) * CRC_BYTES + config.packetDataBytesMax, READ_BUFFERS_KEPT_MAX);
}

async function serveRead(context: Context, socket: net.Socket, request: ReadRequest): Promise<void> {
  const { store, config, log, readBuffers } = context;
  let reader;
  try {
    reader = await store.read(request.blockId, request.genStamp, request.offset, request.length);
  } catch (err) {
    reply(socket, errorResponse(err), config, true);
    return;
  }
  // Each packet is read into a pooled buffer behind room for its header and goes to the
  // socket as one write; the buffer returns to the pool when the kernel has the bytes.
  const readPacket = async (offset: number): Promise<{ buffer: Buffer; bytes: number }> => {
    const buffer = readBuffers.take();
    try {
      const piece = await reader.readPieceInto(offset, buffer, PACKET_HEADER_BYTES);
      return { buffer, bytes: PACKET_HEADER_BYTES + piece.crcs.length + piece.data.length };
    } catch (err) {
      readBuffers.give(buffer);
      throw err;
    }
  };
  let next: Promise<{ buffer: Buffer; bytes: number }> | null = null;
  try {
    reply(socket, { ok: true, length: request.length }, config);
    let seq = 0;
    // Up to two packets queued in the socket, so the next write is ready when the kernel drains one.
    const queuedBytesMax = 2 * config.packetDataBytesMax;
    // One packet read ahead, so the disk works while the socket sends the previous one.
    next = reader.start < reader.end ? readPacket(reader.start) : null;
    for (let offset = reader.start; next !== null; ) {
      const { buffer, bytes } = await next;
      const dataBytes = reader.pieceBytesAt(offset);
      const following = offset + dataBytes;
      next = following < reader.end ? readPacket(following) : null;
      next?.catch(() => undefined); // awaited (and thrown) on the next turn
      if (socket.destroyed) {
        readBuffers.give(buffer);
        return;
      }
      writePacketHeader(buffer, seq++, false, offset, dataBytes, chunkCount(dataBytes, config.chunkBytes));
      // The callback runs once the kernel has the bytes (or the write failed): the buffer is free again.
      socket.write(buffer.subarray(0, bytes), () => readBuffers.give(buffer));
      offset = following;
      if (socket.writableLength > queuedBytesMax) await drained(socket);
    }
    if (!socket.destroyed) socket.end(encodePacketHead(seq, true, reader.end, 0, Buffer.alloc(0)));
  } catch (err) {
    log.warn({ blockId: request.blockId, err: (err as Error).message }, `read of ${request.blockId} failed: ${(err as Error).message}`);
    socket.destroy();
  } finally {
    await next?.catch(() => undefined);
    await reader.close();
  }
}

// ------------------------------------------------------------------ copy

async function serveCopy(context: Context, socket: net.Socket, request: CopyRequest): Promise<void> {
  const { store, config, log } = context;
  const { blockId, genStamp, length, targets } = request;
  socket.setTimeout(0); // the answer comes when the whole block is copied
  // A recovery copy reads the replica here at its own genStamp when that is older (packet.ts).
  const here = store.get(blockId);
  const readAt = request.recovery && here !== undefined && here.genStamp < genStamp ? here.genStamp : genStamp;
  let reader;
  try {
    reader = await store.read(blockId, readAt, 0, length);
  } catch (err) {
    reply(socket, errorResponse(err), config, true);
    return;
  }
  let writer: BlockWriter | null = null;
  try {
    // An FMS copy (finalized, not a recovery) is of a complete block: a failed earlier copy's leftover on a target is replaced.
    writer = await BlockWriter.open({ targets, blockId, genStamp, offset: 0, finalize: request.finalize, discardAbandoned: request.finalize && !request.recovery, config });
    for await (const piece of reader) {
      if (socket.destroyed) throw new TandemError('CONNECTION_LOST', 'the copy was abandoned by its requester');
      const pieceEnd = piece.offset + piece.data.length;
      if (pieceEnd <= length) {
        await writer.writeChecksummed(piece.data, piece.crcs);
      } else {
        // The replica is longer than the copy: check the whole last chunk, then send its prefix with a fresh CRC.
        const bad = findBadChunk(piece.data, piece.crcs, config.chunkBytes);
        if (bad >= 0) throw new TandemError('CHECKSUM_MISMATCH', `chunk ${piece.offset / config.chunkBytes + bad} of ${blockId} is corrupt here`);
        const data = piece.data.subarray(0, length - piece.offset);
        await writer.writeChecksummed(data, computeChunkCrcs(data, config.chunkBytes));
      }
    }
    const result = await writer.finish();
    log.info({ blockId, genStamp, length: result.length, targets: targets.map((t) => t.id) }, `copied ${blockId} (${result.length} bytes) to ${targets.map((t) => t.id).join(', ')}`);
    reply(socket, { ok: true, length: result.length }, config, true);
  } catch (err) {
    writer?.abort();
    if (err instanceof PipelineError && err.failedIndex === 0 && err.checksumFailed) {
      // The first target refused a chunk we sent with our stored CRC: our replica is corrupt.
      context.onCorruptReplica(blockId);
    } else if (err instanceof TandemError && err.code === 'CHECKSUM_MISMATCH') {
      context.onCorruptReplica(blockId);
    }
    log.warn({ blockId, err: (err as Error).message }, `copy of ${blockId} failed: ${(err as Error).message}`);
    reply(socket, errorResponse(err, err instanceof PipelineError ? err.failedIndex : undefined), config, true);
  } finally {
    await reader.close();
  }
}
