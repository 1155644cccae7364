// Test helpers for the RPC tests: a raw TCP peer that sends arbitrary bytes and collects
// what the server answers, and a fake server for the client's failure paths. Raw sockets
// rather than RpcConnection, because the point is to send what a well-behaved client never would.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { decodePayload, encodeFrame, FrameDecoder } from '../../src/rpc/frame.js';
import { PROTOCOL_VERSION } from '../../src/rpc/protocol.js';

// Large enough for anything a test server sends.
const PEER_FRAME_BYTES_MAX = 64 * 1024 * 1024;

/** What the server sent, decoded, or the reason a frame could not be read. */
export type Received = { frame: unknown } | { closed: true };

export class RawPeer {
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder(PEER_FRAME_BYTES_MAX);
  private readonly received: unknown[] = [];
  private waiter: (() => void) | undefined;
  private isClosed = false;
  readonly closedPromise: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      for (let payload = this.decoder.next(); payload !== undefined; payload = this.decoder.next()) {
        this.received.push(decodePayload(payload));
      }
      this.wake();
    });
    // ECONNRESET and friends: the server may destroy us; that is a close for these tests.
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      });
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      socket.once('connect', () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(bytes);
  }

  sendValue(value: unknown): void {
    this.send(encodeFrame(value, PEER_FRAME_BYTES_MAX));
  }

  /** Sends a valid hello and returns the server's answer. */
  async hello(client = 'raw-peer'): Promise<unknown> {
    this.sendValue({ hello: { version: PROTOCOL_VERSION, client } });
    return this.nextFrame();
  }

  /** The next frame from the server; undefined once the server closed without sending one. */
  async nextFrame(timeoutMs = 2_000): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      if (this.isClosed) return undefined;
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`no frame from the server within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remainingMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.received.shift();
  }

  /** Every frame until the server closes; throws if it does not close within `timeoutMs`. */
  async framesUntilClose(timeoutMs = 3_000): Promise<unknown[]> {
    const frames: unknown[] = [];
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const frame = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (frame === undefined) return frames;
      frames.push(frame);
    }
  }

  /** Half-closes our side; the server sees 'end'. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

/** A TCP server whose per-connection behaviour the test scripts; for the client's failure paths. */
export async function startFakeServer(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  // close() alone waits for the sockets; the tests want it to end them.
  const close = server.close.bind(server);
  server.close = ((callback?: (err?: Error) => void) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  }) as typeof server.close;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every few ms until it holds; throws after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(2);
  }
}
