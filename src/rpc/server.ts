// The server end of Tandem RPC (DESIGN.md §7): accepts TCP connections, checks the version
// handshake, decodes pipelined requests, runs the handler, and writes replies in any order,
// batched into one socket write per event-loop turn. Bad input from a peer gets a typed
// error and, when the stream can no longer be trusted, a closed connection — never a crash.
import { createServer, type Server, type Socket } from 'node:net';
import { TandemError, type ErrorCode } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import { decodePayload, encodeFrame, FrameDecoder, FrameOutbox } from './frame.js';
import { isNonce, newNonce, type ClusterSecret } from '../security/cluster-secret.js';
import { RefusalLog } from '../security/refusal-log.js';
import {
  checkHello,
  clip,
  CONNECTION_ERROR_ID,
  DeadlineTimer,
  helloAuthFields,
  isAuthFrame,
  isPlainObject,
  isRequestFrame,
  PROTOCOL_VERSION,
  readCallId,
  requestProblem,
  type RequestFrame,
  type WireError,
} from './protocol.js';

export interface RpcContext {
  connectionId: number;
  /** "address:port" of the peer. */
  remote: string;
  /** When the caller stops waiting, in performance.now() ms. */
  deadlineAt: number;
}

/** Returns the `ok` value; throws or rejects a TandemError for an expected failure. */
export type RpcHandler = (method: string, args: unknown, ctx: RpcContext) => unknown | Promise<unknown>;

export interface RpcServerOptions {
  handler: RpcHandler;
  /** Methods the handler implements; any other gets UNKNOWN_METHOD without reaching it. */
  methods: ReadonlySet<string>;
  limits: Limits;
  log: Logger;
  /** Sent in the hello reply, e.g. "master ns/m1". */
  serverName: string;
  /** Told of every answered call of a known method: its latency and outcome (the RPC histogram, src/metrics/). */
  onCallDone?: CallObserver;
  /**
   * The cluster secret. With it, the server proves it holds it in its hello, and methods
   * for which `internal` is true answer UNAUTHENTICATED on a connection whose client has
   * not proved it too (src/rpc/protocol.ts). Without it, every method is open.
   */
  secret?: ClusterSecret | null;
  internal?: (method: string) => boolean;
  /** Calls cheap enough that more of them are handled per event-loop turn (see TURN_BUDGET). */
  light?: (method: string) => boolean;
}

/**
 * `method` is always one of the server's methods: a peer's made-up method names never reach
 * an observer, so a metric labelled by method has a bounded set of series.
 */
export type CallObserver = (method: string, ms: number, outcome: 'ok' | 'error') => void;

export interface RpcServerStats {
  connections: number;
  /** Calls whose handler has not finished yet, over all connections. */
  inFlight: number;
  /** Well-formed requests received. */
  callsTotal: number;
  /** Error replies sent, connection-level errors included. */
  errorsTotal: number;
  /** Internal calls refused for want of proof of the cluster secret, and wrong proofs. */
  unauthenticatedTotal: number;
}

// After the server ends a connection, how long it keeps reading (and discarding) before it
// destroys the socket. Closing with unread bytes makes the kernel send a RST, which can
// destroy the error frame the peer has not read yet; a peer that never closes its side
// must not hold a connection slot forever either.
const LINGER_MS = 2_000;

// Frames handled per event-loop turn on one connection before yielding, as a budget: a
// frame costs FRAME_COST, a light call (RpcServerOptions.light: a read answered from
// memory) LIGHT_FRAME_COST. A client with 256 calls in flight delivers them in one socket
// read; handling them all before yielding would hold back the journal's group commit
// (scheduled with setImmediate) until the whole read was applied, so the server would
// alternate between applying and waiting for fsync. Yielding every 32 writes lets the
// fsync of the first ones run while the rest are applied, and their replies leave sooner —
// a pipeline instead of a lockstep. Reads have no fsync to overlap: 128 of them a turn cut
// a stat's server CPU by ~20% and raised the rate as much (`bench meta --op stat`).
const TURN_BUDGET = 128;
const FRAME_COST = 4;
const LIGHT_FRAME_COST = 1;

// Error messages are for people; a handler's giant message must not make the reply unsendable.
const ERROR_MESSAGE_CHARS_MAX = 4_096;

type ConnectionState = 'handshake' | 'open' | 'closing';

class ServerConnection {
  state: ConnectionState = 'handshake';
  clientName = '';
  /** The name as the client sent it: its proof is computed over it. */
  clientNameSent = '';
  /** The nonce this server sent in its hello; the client proves the secret over it. */
  serverNonce = '';
  /** The client proved it holds the cluster secret (or the server has none). */
  authenticated = false;
  /** The client sent its proof (right or wrong): later ones are ignored, so one connection cannot be used to guess. */
  authTried = false;
  /** Why not, for the UNAUTHENTICATED message: no proof yet, or a wrong one. */
  authProblem = 'it sent no proof of the cluster secret';
  /** Calls whose handler is running, by request id. Invariant: size ≤ limits.inFlightPerConnectionMax. */
  readonly calls = new Map<number, ServerCall>();
  readonly decoder: FrameDecoder;
  readonly outbox: FrameOutbox;
  handshakeTimer: NodeJS.Timeout | undefined;
  lingerTimer: NodeJS.Timeout | undefined;
  /** Reading is paused because the kernel's send buffer is full (a peer not reading replies). */
  pausedForWrite = false;
  /** Reading is paused because buffered frames wait for the next turn (TURN_BUDGET). */
  pausedForTurn = false;

  constructor(
    readonly id: number,
    readonly remote: string,
    readonly socket: Socket,
    frameBytesMax: number,
  ) {
    this.decoder = new FrameDecoder(frameBytesMax);
    this.outbox = new FrameOutbox((bytes) => this.write(bytes));
  }

  /** A getter rather than a field read so loops re-read it after calls that may close. */
  get closing(): boolean {
    return this.state === 'closing';
  }

  private write(bytes: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    // A peer that sends calls but does not read replies: stop reading its calls until the
    // kernel takes our bytes again, rather than queueing replies without bound.
    if (!this.socket.write(bytes) && this.state !== 'closing') {
      this.pausedForWrite = true;
      this.socket.pause();
    }
  }

  /** Resumes reading once neither reason to pause holds. */
  resumeIfUnblocked(): void {
    if (!this.pausedForWrite && !this.pausedForTurn && !this.socket.destroyed) this.socket.resume();
  }
}

/** A call whose handler returned a promise. Identity matters: a reused id is another call. */
interface ServerCall {
  readonly connection: ServerConnection;
  readonly id: number;
  readonly method: string;
  readonly deadlineAt: number;
  /** performance.now() when the handler was called. */
  readonly startedAt: number;
}

export class RpcServer {
  private readonly handler: RpcHandler;
  private readonly methods: ReadonlySet<string>;
  private readonly limits: Limits;
  private readonly log: Logger;
  private readonly serverName: string;
  private readonly onCallDone: CallObserver | undefined;
  private readonly secret: ClusterSecret | null;
  private readonly internal: (method: string) => boolean;
  private readonly light: (method: string) => boolean;
  private readonly refusals: RefusalLog;

  private server: Server | undefined;
  private readonly connections = new Set<ServerConnection>();
  private nextConnectionId = 1;
  /** Sum of connection.calls.size over all connections. */
  private inFlightTotal = 0;
  private callsTotal = 0;
  private errorsTotal = 0;
  private readonly deadlines = new DeadlineTimer(() => this.expireCalls());

  private shuttingDown = false;
  private closePromise: Promise<void> | undefined;
  /** Set while close() waits for in-flight calls; called when the last one is answered. */
  private onDrained: (() => void) | undefined;

  constructor(opts: RpcServerOptions) {
    this.handler = opts.handler;
    this.methods = opts.methods;
    this.limits = opts.limits;
    this.log = opts.log;
    this.serverName = opts.serverName;
    this.onCallDone = opts.onCallDone;
    this.secret = opts.secret ?? null;
    this.internal = opts.internal ?? (() => false);
    this.light = opts.light ?? (() => false);
    this.refusals = new RefusalLog({ log: opts.log, what: `rpc server ${opts.serverName}` });
  }

  /** Starts listening; port 0 picks a free port. Resolves with the address bound. */
  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    if (this.server !== undefined) return Promise.reject(new Error('RpcServer.listen called twice'));
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.error({ err }, 'rpc listener error'));
        const address = server.address();
        if (address === null || typeof address === 'string') {
          reject(new Error(`unexpected listener address ${String(address)}`));
          return;
        }
        this.log.info({ host: address.address, port: address.port }, `rpc server ${this.serverName} listening on ${address.address}:${address.port}`);
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /**
   * Stops accepting connections, answers new calls with SHUTTING_DOWN, waits (at most
   * limits.drainTimeoutMs) until every call in flight has been answered, then ends the
   * connections. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  stats(): RpcServerStats {
    return {
      connections: this.connections.size,
      inFlight: this.inFlightTotal,
      callsTotal: this.callsTotal,
      errorsTotal: this.errorsTotal,
      unauthenticatedTotal: this.refusals.refusalsTotal,
    };
  }

  private async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const server = this.server;
    const listenerClosed = new Promise<void>((resolve) => {
      // The callback runs once every connection has closed too.
      if (server === undefined || !server.listening) resolve();
      else server.close(() => resolve());
    });
    // A connection that has not said hello has nothing in flight to wait for.
    for (const connection of this.connections) {
      if (connection.state === 'handshake') this.endConnection(connection);
    }
    if (this.inFlightTotal > 0) {
      this.log.info({ inFlight: this.inFlightTotal }, `rpc server ${this.serverName} draining ${this.inFlightTotal} calls in flight`);
      let drainTimer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.onDrained = resolve;
        drainTimer = setTimeout(resolve, this.limits.drainTimeoutMs);
      });
      clearTimeout(drainTimer);
      this.onDrained = undefined;
      if (this.inFlightTotal > 0) {
        this.log.warn(
          { inFlight: this.inFlightTotal, drainTimeoutMs: this.limits.drainTimeoutMs },
          `rpc server ${this.serverName} gave up draining after ${this.limits.drainTimeoutMs} ms with ${this.inFlightTotal} calls unanswered`,
        );
      }
    }
    for (const connection of this.connections) this.endConnection(connection);
    this.deadlines.stop();
    await listenerClosed;
    this.log.info(`rpc server ${this.serverName} closed`);
  }

  // --- connections

  private accept(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (this.shuttingDown || this.connections.size >= this.limits.connectionsMax) {
      this.log.warn(
        { remote, connections: this.connections.size, connectionsMax: this.limits.connectionsMax },
        this.shuttingDown ? `refused connection from ${remote}: shutting down` : `refused connection from ${remote}: ${this.connections.size} connections open, the limit`,
      );
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const connection = new ServerConnection(this.nextConnectionId++, remote, socket, this.limits.frameBytesMax);
    this.connections.add(connection);
    connection.handshakeTimer = setTimeout(() => {
      this.failConnection(connection, CONNECTION_ERROR_ID, 'HANDSHAKE_REQUIRED', `no hello within ${this.limits.handshakeTimeoutMs} ms`);
    }, this.limits.handshakeTimeoutMs);
    connection.handshakeTimer.unref();
    socket.on('data', (chunk: Buffer) => this.onData(connection, chunk));
    socket.on('drain', () => {
      connection.pausedForWrite = false;
      connection.resumeIfUnblocked();
    });
    socket.on('error', (err) => this.log.debug({ err, connection: connection.id, remote }, `rpc connection ${connection.id} from ${remote} errored`));
    socket.on('close', () => this.onClose(connection));
    this.log.debug({ connection: connection.id, remote }, `rpc connection ${connection.id} accepted from ${remote}`);
  }

  private onData(connection: ServerConnection, chunk: Buffer): void {
    // A connection being closed is only read to keep the kernel from answering with RST.
    if (connection.closing) return;
    connection.decoder.push(chunk);
    // A continuation is already queued: it will read these bytes too, in order.
    if (!connection.pausedForTurn) this.readFrames(connection);
  }

  /** Handles buffered frames until the turn's budget is spent (TURN_BUDGET), then yields and continues next turn. */
  private readFrames(connection: ServerConnection): void {
    try {
      for (let spent = 0; !connection.closing; ) {
        if (spent >= TURN_BUDGET) {
          connection.pausedForTurn = true;
          connection.socket.pause();
          setImmediate(() => {
            connection.pausedForTurn = false;
            if (connection.closing) return;
            connection.resumeIfUnblocked();
            this.readFrames(connection);
          });
          return;
        }
        const payload = connection.decoder.next();
        if (payload === undefined) break;
        spent += this.onFrame(connection, payload);
      }
    } catch (err) {
      if (err instanceof TandemError) {
        this.failConnection(connection, CONNECTION_ERROR_ID, err.code, err.message);
      } else {
        // A bug here, not bad input; the connection's state is unknown, so drop it.
        this.log.error({ err, connection: connection.id }, `rpc connection ${connection.id}: unexpected error while reading`);
        this.failConnection(connection, CONNECTION_ERROR_ID, 'INTERNAL', 'internal error');
      }
    }
  }

  /** Handles one frame; returns its cost against the turn's budget. */
  private onFrame(connection: ServerConnection, payload: Buffer): number {
    const message = decodePayload(payload); // throws MALFORMED_FRAME
    if (connection.state === 'handshake') {
      this.onHello(connection, message);
      return FRAME_COST;
    }
    if (isAuthFrame(message)) {
      this.onAuth(connection, message.auth);
      return FRAME_COST;
    }
    if (!isRequestFrame(message)) {
      this.failConnection(connection, readCallId(message), 'MALFORMED_FRAME', requestProblem(message));
      return FRAME_COST;
    }
    this.onRequest(connection, message);
    return this.light(message.method) ? LIGHT_FRAME_COST : FRAME_COST;
  }

  private onHello(connection: ServerConnection, message: unknown): void {
    const hello = checkHello(message, 'client');
    switch (hello.kind) {
      case 'ok':
        clearTimeout(connection.handshakeTimer);
        connection.state = 'open';
        connection.clientName = clip(hello.peerName);
        connection.clientNameSent = hello.peerName;
        this.send(connection, encodeFrame({ hello: this.helloReply(connection, message) }, this.limits.frameBytesMax));
        this.log.debug(
          { connection: connection.id, remote: connection.remote, client: connection.clientName },
          `rpc connection ${connection.id}: client ${connection.clientName} at ${connection.remote} said hello`,
        );
        return;
      case 'version-mismatch':
        this.failConnection(
          connection,
          CONNECTION_ERROR_ID,
          'VERSION_MISMATCH',
          `the client speaks protocol version ${hello.version}, this server speaks ${PROTOCOL_VERSION}`,
        );
        return;
      case 'malformed':
        this.failConnection(connection, CONNECTION_ERROR_ID, 'MALFORMED_FRAME', hello.problem);
        return;
      case 'not-hello':
        this.failConnection(connection, CONNECTION_ERROR_ID, 'HANDSHAKE_REQUIRED', 'the first frame must be {hello: {version, client}}');
        return;
    }
  }

  /** The server's hello: with a secret, a fresh nonce and (if the client sent one) the server's proof. */
  private helloReply(connection: ServerConnection, clientHello: unknown): Record<string, unknown> {
    const reply: Record<string, unknown> = { version: PROTOCOL_VERSION, server: this.serverName };
    if (this.secret === null) {
      connection.authenticated = true;
      return reply;
    }
    connection.serverNonce = newNonce();
    reply.nonce = connection.serverNonce;
    const { nonce } = helloAuthFields(clientHello);
    if (isNonce(nonce)) reply.proof = this.secret.rpcProof('server', nonce, this.serverName);
    return reply;
  }

  /** The client's proof of the secret, once per connection. A wrong one is logged; the connection stays unauthenticated. */
  private onAuth(connection: ServerConnection, auth: unknown): void {
    if (this.secret === null || connection.authTried) return;
    connection.authTried = true;
    const proof = isPlainObject(auth) ? auth.proof : undefined;
    if (this.secret.checkRpcProof(proof, 'client', connection.serverNonce, connection.clientNameSent)) {
      connection.authenticated = true;
      this.log.debug({ connection: connection.id, remote: connection.remote, client: connection.clientName }, `rpc connection ${connection.id}: ${connection.clientName} proved the cluster secret`);
      return;
    }
    connection.authProblem = 'its proof of the cluster secret was wrong (another cluster\'s secret?)';
    this.refusals.note({ remote: connection.remote, request: 'the handshake', reason: connection.authProblem, fields: { connection: connection.id, client: connection.clientName } });
  }

  // --- calls

  private onRequest(connection: ServerConnection, request: RequestFrame): void {
    this.callsTotal++;
    const id = request.id;
    const method = request.method;
    if (this.shuttingDown) {
      this.replyError(connection, id, 'SHUTTING_DOWN', `server ${this.serverName} is shutting down`);
      return;
    }
    if (!this.methods.has(method)) {
      this.replyError(connection, id, 'UNKNOWN_METHOD', `no method ${JSON.stringify(clip(method, 80))}`);
      return;
    }
    if (!connection.authenticated && this.internal(method)) {
      this.refusals.note({ remote: connection.remote, request: method, reason: connection.authProblem, fields: { connection: connection.id, client: connection.clientName } });
      this.replyError(connection, id, 'UNAUTHENTICATED', `${method} is internal to the cluster and this connection is not authenticated: ${connection.authProblem}`);
      return;
    }
    if (connection.calls.has(id)) {
      // Two calls with one id cannot both be answered unambiguously: a broken client.
      this.failConnection(connection, CONNECTION_ERROR_ID, 'MALFORMED_FRAME', `call id ${id} is already in flight`);
      return;
    }
    if (this.inFlightTotal >= this.limits.inFlightTotalMax) {
      this.replyError(connection, id, 'TOO_MANY_IN_FLIGHT', `${this.inFlightTotal} calls in flight on this server, the limit`);
      return;
    }
    if (connection.calls.size >= this.limits.inFlightPerConnectionMax) {
      this.replyError(connection, id, 'TOO_MANY_IN_FLIGHT', `${connection.calls.size} calls in flight on this connection, the limit`);
      return;
    }
    const deadlineMs = request.deadlineMs ?? this.limits.callDeadlineMs;
    if (deadlineMs <= 0) {
      this.replyError(connection, id, 'DEADLINE_EXCEEDED', 'the call arrived with no time left');
      return;
    }
    const startedAt = performance.now();
    const deadlineAt = startedAt + deadlineMs;
    let result: unknown;
    try {
      result = this.handler(method, request.args, { connectionId: connection.id, remote: connection.remote, deadlineAt });
    } catch (err) {
      this.replyFailure(connection, id, method, err);
      this.onCallDone?.(method, performance.now() - startedAt, 'error');
      return;
    }
    if (!isThenable(result)) {
      // Synchronous handler: answered without entering the in-flight table.
      const now = performance.now();
      if (now > deadlineAt) this.replyDeadlineExceeded(connection, id);
      else this.replyOk(connection, id, result);
      this.onCallDone?.(method, now - startedAt, now > deadlineAt ? 'error' : 'ok');
      return;
    }
    const call: ServerCall = { connection, id, method, deadlineAt, startedAt };
    connection.calls.set(id, call);
    this.inFlightTotal++;
    this.deadlines.watch(deadlineAt);
    Promise.resolve(result).then(
      (value) => this.onCallSettled(call, true, value),
      (err: unknown) => this.onCallSettled(call, false, err),
    );
  }

  private onCallSettled(call: ServerCall, succeeded: boolean, outcome: unknown): void {
    const connection = call.connection;
    // Already answered DEADLINE_EXCEEDED, or the connection is gone: drop the late result.
    if (connection.calls.get(call.id) !== call) return;
    this.removeCall(call);
    const now = performance.now();
    if (now > call.deadlineAt) this.replyDeadlineExceeded(connection, call.id);
    else if (succeeded) this.replyOk(connection, call.id, outcome);
    else this.replyFailure(connection, call.id, call.method, outcome);
    this.onCallDone?.(call.method, now - call.startedAt, succeeded && now <= call.deadlineAt ? 'ok' : 'error');
  }

  /** The deadline timer fired: answer every call past its deadline, re-arm for the next. */
  private expireCalls(): void {
    const now = performance.now();
    let nextDeadlineAt = Infinity;
    for (const connection of this.connections) {
      for (const call of connection.calls.values()) {
        if (call.deadlineAt <= now) {
          this.removeCall(call);
          this.replyDeadlineExceeded(connection, call.id);
          this.onCallDone?.(call.method, now - call.startedAt, 'error');
        } else if (call.deadlineAt < nextDeadlineAt) {
          nextDeadlineAt = call.deadlineAt;
        }
      }
    }
    this.deadlines.watch(nextDeadlineAt);
  }

  private removeCall(call: ServerCall): void {
    call.connection.calls.delete(call.id);
    this.inFlightTotal--;
    if (this.inFlightTotal === 0) this.onDrained?.();
  }

  private dropCalls(connection: ServerConnection): void {
    this.inFlightTotal -= connection.calls.size;
    connection.calls.clear();
    if (this.inFlightTotal === 0) this.onDrained?.();
  }

  // --- replies

  private replyOk(connection: ServerConnection, id: number, value: unknown): void {
    let frame: Buffer;
    try {
      frame = encodeFrame({ id, ok: value }, this.limits.frameBytesMax);
    } catch (err) {
      if (err instanceof TandemError) {
        this.replyError(connection, id, err.code, err.message);
      } else {
        this.log.error({ err, connection: connection.id, id }, `rpc connection ${connection.id}: the reply to call ${id} could not be encoded`);
        this.replyError(connection, id, 'INTERNAL', 'the reply could not be encoded');
      }
      return;
    }
    this.send(connection, frame);
  }

  private replyFailure(connection: ServerConnection, id: number, method: string, err: unknown): void {
    if (err instanceof TandemError) {
      this.replyError(connection, id, err.code, err.message);
      return;
    }
    // Not an expected failure: the stack goes to the log, the caller gets a generic message
    // (internal details are not the caller's business and may leak).
    this.log.error({ err, connection: connection.id, method }, `rpc handler for ${method} failed unexpectedly`);
    this.replyError(connection, id, 'INTERNAL', `internal error in ${method}`);
  }

  private replyDeadlineExceeded(connection: ServerConnection, id: number): void {
    this.replyError(connection, id, 'DEADLINE_EXCEEDED', 'the call did not complete before its deadline');
  }

  private replyError(connection: ServerConnection, id: number, code: ErrorCode, message: string): void {
    this.errorsTotal++;
    const error: WireError = { code, message: clip(message, ERROR_MESSAGE_CHARS_MAX) };
    this.send(connection, encodeFrame({ id, error }, this.limits.frameBytesMax));
  }

  private send(connection: ServerConnection, frame: Buffer): void {
    if (connection.state === 'closing') return;
    connection.outbox.push(frame);
  }

  /** Sends a connection-level error and ends the connection: its stream can no longer be trusted. */
  private failConnection(connection: ServerConnection, id: number, code: ErrorCode, message: string): void {
    if (connection.state === 'closing') return;
    this.log.warn(
      { connection: connection.id, remote: connection.remote, client: connection.clientName, code },
      `closing rpc connection ${connection.id} from ${connection.remote}: ${code}: ${message}`,
    );
    this.replyError(connection, id, code, message);
    this.endConnection(connection);
  }

  /** Flushes what is queued, half-closes, and destroys the socket after LINGER_MS at most. */
  private endConnection(connection: ServerConnection): void {
    if (connection.state === 'closing') return;
    clearTimeout(connection.handshakeTimer);
    connection.outbox.flush();
    connection.state = 'closing';
    this.dropCalls(connection);
    const socket = connection.socket;
    socket.resume();
    socket.end();
    connection.lingerTimer = setTimeout(() => socket.destroy(), LINGER_MS);
    connection.lingerTimer.unref();
  }

  private onClose(connection: ServerConnection): void {
    clearTimeout(connection.handshakeTimer);
    clearTimeout(connection.lingerTimer);
    connection.state = 'closing';
    connection.outbox.clear();
    this.dropCalls(connection);
    this.connections.delete(connection);
    this.log.debug(
      { connection: connection.id, remote: connection.remote, client: connection.clientName },
      `rpc connection ${connection.id} from ${connection.remote} closed`,
    );
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (value instanceof Promise) return true;
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
