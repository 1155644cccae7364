// The client end of Tandem RPC (DESIGN.md §7): one TCP connection carrying many calls at
// once. Each call gets an id, a deadline the server also sees, and a promise settled by
// the reply with that id, by the local deadline, or by the loss of the connection —
// whichever comes first. Requests are batched into one socket write per event-loop turn.
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import { decodePayload, encodeFrame, FrameDecoder, FrameOutbox } from './frame.js';
import { isNonce, newNonce, type ClusterSecret } from '../security/cluster-secret.js';
import {
  checkHello,
  clip,
  CONNECTION_ERROR_ID,
  DeadlineTimer,
  helloAuthFields,
  isErrorReply,
  isReplyFrame,
  PROTOCOL_VERSION,
  isWireError,
  isPlainObject,
} from './protocol.js';

export interface RpcConnectOptions {
  limits: Limits;
  /** Sent in the hello, e.g. "client 7f3a" or "datanode d4"; shows up in server logs. */
  clientName: string;
  /** Bound on connecting plus the handshake; limits.handshakeTimeoutMs by default. */
  connectTimeoutMs?: number;
  /**
   * The cluster secret, for internal connections (replication, datanode ↔ FMS): the client
   * proves it holds it and requires the server to prove it too — connect() rejects with
   * UNAUTHENTICATED when the server cannot. Users' clients leave it out.
   */
  secret?: ClusterSecret | null;
}

export interface RpcCallOptions {
  /** How long the caller waits, ms; limits.callDeadlineMs by default. Also sent to the server. */
  deadlineMs?: number;
}

interface PendingCall {
  readonly id: number;
  readonly deadlineAt: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: TandemError) => void;
}

// After close(), how long the socket may take to finish its polite FIN exchange.
const CLOSE_LINGER_MS = 1_000;

type ConnectionState = 'handshake' | 'open' | 'closed';

/**
 * Emits 'close' (with the TandemError that ended it, CONNECTION_LOST unless the server said
 * otherwise) once the socket is closed. Never emits 'error'.
 */
export class RpcConnection extends EventEmitter {
  private state: ConnectionState = 'handshake';
  private readonly socket: Socket;
  private readonly limits: Limits;
  private readonly decoder: FrameDecoder;
  private readonly outbox: FrameOutbox;
  /** Calls sent and not yet settled, by id. Invariant: size ≤ limits.inFlightPerConnectionMax. */
  private readonly pending = new Map<number, PendingCall>();
  /** Ids are never reused on a connection, so a late reply can never settle a newer call. */
  private nextCallId = 1;
  private readonly deadlines = new DeadlineTimer(() => this.expireCalls());
  /** Why the connection ended; set once. */
  private closeReason: TandemError | undefined;
  private handshake: { resolve: (connection: RpcConnection) => void; reject: (error: TandemError) => void; timer: NodeJS.Timeout } | undefined;
  private serverNameValue = '';
  private readonly clientName: string;
  private readonly secret: ClusterSecret | null;
  /** The nonce sent in the hello (with a secret): the server proves the secret over it. */
  private readonly clientNonce: string;
  readonly remote: string;

  /** Connects and handshakes. Rejects with TandemError CONNECTION_LOST, VERSION_MISMATCH or the server's refusal. */
  static connect(host: string, port: number, opts: RpcConnectOptions): Promise<RpcConnection> {
    return new Promise<RpcConnection>((resolve, reject) => {
      new RpcConnection(host, port, opts, resolve, reject);
    });
  }

  private constructor(
    host: string,
    port: number,
    opts: RpcConnectOptions,
    resolve: (connection: RpcConnection) => void,
    reject: (error: TandemError) => void,
  ) {
    super();
    this.limits = opts.limits;
    this.remote = `${host}:${port}`;
    this.clientName = opts.clientName;
    this.secret = opts.secret ?? null;
    this.clientNonce = this.secret ? newNonce() : '';
    this.decoder = new FrameDecoder(opts.limits.frameBytesMax);
    this.outbox = new FrameOutbox((bytes) => {
      if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.write(bytes);
    });
    const timeoutMs = opts.connectTimeoutMs ?? opts.limits.handshakeTimeoutMs;
    const timer = setTimeout(() => {
      this.fail(new TandemError('CONNECTION_LOST', `no handshake from ${this.remote} within ${timeoutMs} ms`));
    }, timeoutMs);
    this.handshake = { resolve, reject, timer };
    this.socket = netConnect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => {
      this.fail(new TandemError('CONNECTION_LOST', `connection to ${this.remote} failed: ${err.message}`));
    });
    this.socket.on('close', () => {
      this.fail(new TandemError('CONNECTION_LOST', `connection to ${this.remote} closed`));
      this.emit('close', this.closeReason);
    });
    // Written before the connect completes; the socket queues it.
    const hello = { version: PROTOCOL_VERSION, client: opts.clientName, ...(this.secret ? { nonce: this.clientNonce } : {}) };
    this.outbox.push(encodeFrame({ hello }, opts.limits.frameBytesMax));
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** The name the server gave in its hello. */
  get serverName(): string {
    return this.serverNameValue;
  }

  /** Calls sent and not yet settled. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Writes the calls queued so far now, instead of at the end of this event-loop turn. For a
   * caller that already batches (the replicator's pump runs in the check phase, where a
   * deferred write would wait a whole further turn of the loop).
   */
  flushNow(): void {
    if (this.state === 'open') this.outbox.flush();
  }

  /**
   * Calls `method` on the server. Rejects with the server's TandemError, DEADLINE_EXCEEDED
   * when no reply came in time, CONNECTION_LOST when the connection ends first, or
   * TOO_MANY_IN_FLIGHT (locally, nothing sent) when limits.inFlightPerConnectionMax calls
   * are already pending.
   */
  call<T>(method: string, args: unknown, opts?: RpcCallOptions): Promise<T> {
    if (this.state !== 'open') {
      return Promise.reject(this.closeReason ?? new TandemError('CONNECTION_LOST', 'the connection is not open'));
    }
    if (this.pending.size >= this.limits.inFlightPerConnectionMax) {
      return Promise.reject(
        new TandemError('TOO_MANY_IN_FLIGHT', `${this.pending.size} calls already in flight to ${this.remote}`),
      );
    }
    const deadlineMs = Math.ceil(opts?.deadlineMs ?? this.limits.callDeadlineMs);
    if (!(deadlineMs > 0)) {
      return Promise.reject(new TandemError('DEADLINE_EXCEEDED', `no time left to call ${method}`));
    }
    const id = this.nextCallId++;
    let frame: Buffer;
    try {
      frame = encodeFrame({ id, method, args, deadlineMs }, this.limits.frameBytesMax);
    } catch (err) {
      if (err instanceof TandemError) return Promise.reject(err);
      const detail = err instanceof Error ? err.message : String(err);
      return Promise.reject(new TandemError('INVALID_ARGUMENT', `the arguments of ${method} cannot be encoded: ${detail}`));
    }
    const deadlineAt = performance.now() + deadlineMs;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { id, deadlineAt, resolve: resolve as (value: unknown) => void, reject });
      this.outbox.push(frame);
      this.deadlines.watch(deadlineAt);
    });
  }

  /** Rejects every pending call with CONNECTION_LOST and closes the socket. Idempotent. */
  close(): void {
    if (this.state === 'closed') return;
    this.fail(new TandemError('CONNECTION_LOST', `connection to ${this.remote} closed by the client`));
  }

  // --- incoming

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.decoder.push(chunk);
      while (!this.closed) {
        const payload = this.decoder.next();
        if (payload === undefined) break;
        const message = decodePayload(payload);
        if (this.state === 'handshake') this.onHello(message);
        else this.onReply(message);
      }
    } catch (err) {
      // FRAME_TOO_LARGE or MALFORMED_FRAME from the server: the stream cannot be trusted.
      const detail = err instanceof Error ? err.message : String(err);
      this.fail(new TandemError('CONNECTION_LOST', `${this.remote} sent a bad frame: ${detail}`));
    }
  }

  private onHello(message: unknown): void {
    const hello = checkHello(message, 'server');
    if (hello.kind === 'ok') {
      this.serverNameValue = clip(hello.peerName);
      if (this.secret && !this.authenticate(message, hello.peerName)) return;
      const handshake = this.handshake;
      this.handshake = undefined;
      this.state = 'open';
      if (handshake !== undefined) {
        clearTimeout(handshake.timer);
        handshake.resolve(this);
      }
      return;
    }
    if (hello.kind === 'version-mismatch') {
      this.fail(
        new TandemError('VERSION_MISMATCH', `${this.remote} speaks protocol version ${hello.version}, this client ${PROTOCOL_VERSION}`),
      );
      return;
    }
    // The server refused the hello (VERSION_MISMATCH from its side) or said something odd.
    if (isPlainObject(message) && isWireError(message.error)) {
      this.fail(TandemError.fromWire(message.error));
      return;
    }
    this.fail(new TandemError('CONNECTION_LOST', `${this.remote} answered the hello with something else`));
  }

  /**
   * With a secret: sends this client's proof over the server's nonce, then checks the
   * server's over ours. The proof goes first so that a server holding another secret logs
   * the refusal too: both ends of a misconfigured link say so. False (and the connection
   * failed with UNAUTHENTICATED) when the server did not prove it holds the secret.
   */
  private authenticate(serverHello: unknown, serverName: string): boolean {
    const secret = this.secret!;
    const { nonce, proof } = helloAuthFields(serverHello);
    if (!isNonce(nonce)) {
      this.fail(new TandemError('UNAUTHENTICATED', `${this.remote} (${this.serverNameValue}) runs without a cluster secret; this side has one`));
      return false;
    }
    this.outbox.push(encodeFrame({ auth: { proof: secret.rpcProof('client', nonce, this.clientName) } }, this.limits.frameBytesMax));
    if (!secret.checkRpcProof(proof, 'server', this.clientNonce, serverName)) {
      // Flush the proof before closing, so the server logs its side of the refusal.
      this.outbox.flush();
      this.fail(new TandemError('UNAUTHENTICATED', `${this.remote} (${this.serverNameValue}) did not prove it holds the cluster secret (another cluster's secret?)`));
      return false;
    }
    return true;
  }

  private onReply(message: unknown): void {
    if (!isReplyFrame(message)) {
      this.fail(new TandemError('CONNECTION_LOST', `${this.remote} sent a malformed reply`));
      return;
    }
    if (message.id === CONNECTION_ERROR_ID) {
      // The server is about to close; say why in every pending call's error.
      const cause = isErrorReply(message) ? `${message.error.code}: ${clip(String(message.error.message))}` : 'unknown';
      this.fail(new TandemError('CONNECTION_LOST', `${this.remote} closed the connection: ${cause}`));
      return;
    }
    const call = this.pending.get(message.id);
    // No such call: it already timed out locally. The late reply is dropped.
    if (call === undefined) return;
    this.pending.delete(message.id);
    if (isErrorReply(message)) call.reject(TandemError.fromWire(message.error));
    else call.resolve(message.ok);
  }

  /** The deadline timer fired: reject every call past its deadline, re-arm for the next. */
  private expireCalls(): void {
    const now = performance.now();
    let nextDeadlineAt = Infinity;
    for (const call of this.pending.values()) {
      if (call.deadlineAt <= now) {
        this.pending.delete(call.id);
        call.reject(new TandemError('DEADLINE_EXCEEDED', `no reply from ${this.remote} to call ${call.id} within its deadline`));
      } else if (call.deadlineAt < nextDeadlineAt) {
        nextDeadlineAt = call.deadlineAt;
      }
    }
    this.deadlines.watch(nextDeadlineAt);
  }

  /** Ends the connection for `reason`: settles the handshake and every pending call. Idempotent. */
  private fail(reason: TandemError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    this.deadlines.stop();
    this.outbox.clear();
    const handshake = this.handshake;
    this.handshake = undefined;
    if (handshake !== undefined) {
      clearTimeout(handshake.timer);
      handshake.reject(reason);
    }
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) call.reject(reason);
    // A polite FIN first, so the server is not answered with RST; destroy if it lingers.
    if (!this.socket.destroyed) {
      this.socket.end();
      setTimeout(destroySocket, CLOSE_LINGER_MS, this.socket).unref();
    }
  }
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}
