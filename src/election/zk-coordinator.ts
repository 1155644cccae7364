// The Coordinator port on a real ZooKeeper ensemble: the only module that imports a
// ZooKeeper client (node-zookeeper-client, a pure-JavaScript one).
//
// What this adds to the client, and why:
// - The chroot is created first (the client cannot create its own chroot), by a short
//   bootstrap session without a chroot.
// - Digest authentication, and every node created with an ACL that gives ALL to this
//   cluster's user only. The chroot's ancestors (e.g. `/tandem`) are shared by clusters
//   with different users, so anyone may read and create under them, nothing else.
// - Calls are handed to the client only while connected. The client sends its credentials
//   again after every reconnect, but behind any request queued while disconnected, which
//   the new connection would then refuse as unauthenticated (NO_AUTH). A call made while
//   disconnected waits for the reconnect instead, bounded by the call timeout.
// - Every call has a timeout (default: the session timeout) and fails with
//   COORDINATOR_UNAVAILABLE; the client would otherwise wait forever. A call that times out
//   or fails with COORDINATOR_UNAVAILABLE after it was sent may still have taken effect
//   (as with ZooKeeper's CONNECTION_LOSS): callers re-read before they decide.
// - After 'expired', every call fails at once with COORDINATOR_SESSION_EXPIRED, and the
//   client is closed.
// - Watches and session events are delivered with queueMicrotask, never from inside the
//   client's socket handler: a listener that throws cannot break the client's parsing.
//   Watches never fire after the session expired or was closed.
// - A watchdog drops connections that stay open but silent (see SilentConnectionWatchdog):
//   the client has no read timeout of its own.
// - Every new connection starts with no partial frame left from the last one
//   (startEachConnectionClean): the client would parse the new bytes after the stale ones.

import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { ACL, createClient, CreateMode, Exception, Id, Permission, type Client, type Stat } from 'node-zookeeper-client';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import {
  checkNodePath,
  decodeNodeData,
  encodeNodeData,
  SessionEventListeners,
  type Coordinator,
  type CoordinatorAddress,
  type NodeData,
  type NodeMode,
  type SessionEvent,
  type Watcher,
} from './coordinator.js';

export interface ZooKeeperCoordinatorOptions {
  address: CoordinatorAddress;
  /** The session timeout asked for; servers clamp it to [2, 20] ticks (see `sessionTimeoutMs` of the result). */
  sessionTimeoutMs: number;
  /** Digest credentials: nodes are created readable and writable by this user only. */
  auth: { user: string; password: string };
  log: Logger;
  /** How long connecting may take, the chroot's creation included. Default: the requested session timeout, at least 2 s. */
  connectTimeoutMs?: number;
  /** How long a call may take, waiting for a reconnect included. Default: the negotiated session timeout. */
  callTimeoutMs?: number;
}

/** Calls waiting for an answer, per session; more are refused with TOO_MANY_IN_FLIGHT. */
const CALLS_IN_FLIGHT_MAX = 10_000;
/** get() with a watch re-reads a node that appeared between its two reads at most this often. */
const GET_ATTEMPTS_MAX = 5;
/** The client waits up to this long (random) before another round over the servers. */
const RECONNECT_SPIN_MS_MAX = 1_000;
/** The watchdog looks at the connection this many times per limit... */
const WATCHDOG_CHECKS_PER_LIMIT = 4;
/** ...and gives any handshake at least this long (a session timeout asked for may be tiny). */
const HANDSHAKE_MS_MIN = 500;

/** Connects to ZooKeeper under the address's chroot (created if missing) and returns the session. */
export async function connectZooKeeper(opts: ZooKeeperCoordinatorOptions): Promise<Coordinator> {
  const { user, password } = opts.auth;
  if (user.length === 0 || user.includes(':')) throw new TandemError('INVALID_ARGUMENT', `not a valid ZooKeeper digest user: "${user}"`);
  checkNodePath(opts.address.chroot);
  const digest = createHash('sha1').update(`${user}:${password}`).digest('base64');
  const owner = new Id('digest', `${user}:${digest}`);
  const aclOwnerAll = [new ACL(Permission.ALL, owner)];
  const aclShared = [...aclOwnerAll, new ACL(Permission.READ | Permission.CREATE, new Id('world', 'anyone'))];
  // One deadline for both connections: the bootstrap one and the session's. By default the
  // session timeout, but never under CONNECT_TIMEOUT_MS_MIN: a session asked for 100 ms
  // (ZooKeeper clamps it to two ticks anyway) must not give a loaded machine 100 ms for
  // two TCP connections and two handshakes.
  const deadline = performance.now() + (opts.connectTimeoutMs ?? Math.max(opts.sessionTimeoutMs, CONNECT_TIMEOUT_MS_MIN));
  const remainingMs = () => Math.max(0, Math.round(deadline - performance.now()));

  const bootstrap = await ZooKeeperSession.open(opts, '', aclOwnerAll, remainingMs(), 'debug');
  try {
    await bootstrap.ensurePath(opts.address.chroot, (prefix) => (prefix === opts.address.chroot ? aclOwnerAll : aclShared));
  } finally {
    await bootstrap.close();
  }
  return ZooKeeperSession.open(opts, opts.address.chroot, aclOwnerAll, remainingMs(), 'info');
}

/** The least time opening a session may take by default (connectTimeoutMs overrides it). */
const CONNECT_TIMEOUT_MS_MIN = 2_000;

type SessionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

interface PendingCall {
  /** Hands the request to the client (only while connected). */
  send(): void;
  fail(error: TandemError): void;
}

/**
 * A one-shot watch: fires at most once, never after it was cancelled (its read failed) and
 * never once the session is dead.
 */
class OneShotWatch {
  private done = false;
  constructor(
    private readonly watcher: Watcher,
    private readonly sessionLive: () => boolean,
  ) {}
  /** Given to the client, which calls it for the first event on the path after the read. */
  readonly notify = (): void => {
    if (this.done || !this.sessionLive()) return;
    this.done = true;
    queueMicrotask(this.watcher);
  };
  cancel(): void {
    this.done = true;
  }
}

type Callback<T> = (error: unknown, result?: T) => void;

class ZooKeeperSession implements Coordinator {
  private state: SessionState = 'connecting';
  private id = '0x0';
  private negotiatedTimeoutMs: number;
  private readonly events = new SessionEventListeners();
  /** Calls not yet answered; `waiting` holds those not yet sent, in call order. */
  private readonly inFlight = new Set<PendingCall>();
  private readonly waiting = new Set<PendingCall>();
  private readonly firstConnect: Promise<void>;
  private readonly log: Logger;
  private readonly watchdog: SilentConnectionWatchdog;

  private constructor(
    private readonly client: Client,
    private readonly opts: ZooKeeperCoordinatorOptions,
    private readonly where: string,
    private readonly acl: ACL[],
    private readonly connectLogLevel: 'info' | 'debug',
  ) {
    this.negotiatedTimeoutMs = opts.sessionTimeoutMs;
    this.log = opts.log;
    const servers = opts.address.connect.split(',').length;
    this.watchdog = new SilentConnectionWatchdog(
      client,
      opts.log,
      // A handshake is one round trip: give up on it soon enough to try every server, and
      // at least three times, within a session timeout.
      Math.max(HANDSHAKE_MS_MIN, Math.floor(Math.min(opts.sessionTimeoutMs / servers, opts.sessionTimeoutMs / 3))),
      // Connected, the client pings after a third of the session timeout idle: two thirds
      // without a byte means the server or the network is gone (ZooKeeper's Java client's rule).
      () => Math.floor((2 * this.negotiatedTimeoutMs) / 3),
      () => this.state === 'connected',
    );
    this.firstConnect = new Promise((resolve, reject) => {
      client.on('connected', () => (this.state === 'connecting' ? this.onFirstConnected(resolve) : this.onReconnected()));
      client.on('disconnected', () => this.onDisconnected());
      client.on('expired', () => (this.state === 'connecting' ? reject(this.deadError('connect', '/')) : this.onExpired()));
      client.on('authenticationFailed', () => this.log.error({ zookeeper: this.where }, 'ZooKeeper refused our credentials'));
    });
  }

  /** Connects and resolves once the session is established; closes the client if that takes too long. */
  static async open(
    opts: ZooKeeperCoordinatorOptions,
    chroot: string,
    acl: ACL[],
    timeoutMs: number,
    connectLogLevel: 'info' | 'debug',
  ): Promise<ZooKeeperSession> {
    const where = `${opts.address.connect}${chroot}`;
    const client = createClient(where, {
      sessionTimeout: opts.sessionTimeoutMs,
      spinDelay: Math.min(RECONNECT_SPIN_MS_MAX, Math.floor(opts.sessionTimeoutMs / 4)),
      retries: 0,
    });
    startEachConnectionClean(client);
    const session = new ZooKeeperSession(client, opts, where, acl, connectLogLevel);
    client.addAuthInfo('digest', Buffer.from(`${opts.auth.user}:${opts.auth.password}`));
    client.connect();
    session.watchdog.start();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TandemError('COORDINATOR_UNAVAILABLE', `could not connect to ZooKeeper at ${where} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([session.firstConnect, timedOut]);
      return session;
    } catch (err) {
      session.state = 'closed';
      session.watchdog.stop();
      closeQuietly(client);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get sessionId(): string {
    return this.id;
  }

  get sessionTimeoutMs(): number {
    return this.negotiatedTimeoutMs;
  }

  private get callTimeoutMs(): number {
    return this.opts.callTimeoutMs ?? this.negotiatedTimeoutMs;
  }

  onSessionEvent(listener: (event: SessionEvent) => void): () => void {
    return this.events.add(listener);
  }

  async create(path: string, data: unknown, mode: NodeMode): Promise<string> {
    checkNodePath(path);
    const bytes = encodeNodeData(path, data);
    return this.call<string>('create', path, (done) => this.client.create(path, bytes, this.acl, CREATE_MODES[mode], done));
  }

  /** Creates every missing node along `path`; `aclFor` picks each one's ACL (default: this session's). */
  async ensurePath(path: string, aclFor: (prefix: string) => ACL[] = () => this.acl): Promise<void> {
    checkNodePath(path);
    if (path === '/' || (await this.exists(path))) return;
    const parts = path.split('/').slice(1);
    for (let i = 1; i <= parts.length; i++) {
      const prefix = '/' + parts.slice(0, i).join('/');
      try {
        await this.call<string>('create', prefix, (done) => this.client.create(prefix, Buffer.alloc(0), aclFor(prefix), CreateMode.PERSISTENT, done));
      } catch (err) {
        if (!(err instanceof TandemError && err.code === 'COORDINATOR_NODE_EXISTS')) throw err;
      }
    }
  }

  async get<T = unknown>(path: string, watch?: Watcher): Promise<NodeData<T> | null> {
    checkNodePath(path);
    const oneShot = watch ? this.newWatch(watch) : null;
    try {
      for (let attempt = 0; attempt < GET_ATTEMPTS_MAX; attempt++) {
        const read = await this.readData(path, oneShot);
        if (read !== null) return { data: decodeNodeData(path, read.data) as T, version: read.stat.version, ephemeralOwner: ownerOf(read.stat) };
        // No node. A watch must then fire when it is created: set an existence watch, unless
        // the node appeared in between, which the next round reads.
        if (!oneShot || !(await this.exists(path, oneShot))) return null;
      }
    } catch (err) {
      oneShot?.cancel();
      throw err;
    }
    oneShot?.cancel();
    throw new TandemError('COORDINATOR_UNAVAILABLE', `get ${path}: the node appeared and vanished ${GET_ATTEMPTS_MAX} times while being read`);
  }

  async set(path: string, data: unknown, expectedVersion: number): Promise<number> {
    checkNodePath(path);
    const bytes = encodeNodeData(path, data);
    const stat = await this.call<Stat>('set', path, (done) => this.client.setData(path, bytes, expectedVersion, done));
    return stat.version;
  }

  async delete(path: string, expectedVersion: number): Promise<void> {
    checkNodePath(path);
    await this.call<void>('delete', path, (done) => this.client.remove(path, expectedVersion, done));
  }

  async children(path: string, watch?: Watcher): Promise<string[]> {
    checkNodePath(path);
    const oneShot = watch ? this.newWatch(watch) : null;
    try {
      return await this.call<string[]>('children', path, (done) =>
        oneShot ? this.client.getChildren(path, oneShot.notify, done) : this.client.getChildren(path, done),
      );
    } catch (err) {
      oneShot?.cancel();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'expired') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.watchdog.stop();
    this.failAll(new TandemError('COORDINATOR_SESSION_EXPIRED', `ZooKeeper session ${this.id} was closed`));
    if (!wasConnected) {
      closeQuietly(this.client);
      this.log.warn({ sessionId: this.id }, `closed ZooKeeper session ${this.id} while disconnected; its ephemeral nodes stay until it times out`);
      return;
    }
    // The client reports 'disconnected' once the server has ended the session and closed the socket.
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<boolean>((resolve) => {
      this.client.once('disconnected', () => resolve(true));
      timer = setTimeout(() => resolve(false), this.callTimeoutMs);
    });
    closeQuietly(this.client);
    const confirmed = await ended;
    clearTimeout(timer);
    const level = confirmed ? this.connectLogLevel : 'warn';
    this.log[level]({ sessionId: this.id }, confirmed ? `closed ZooKeeper session ${this.id}` : `closed ZooKeeper session ${this.id} without the server confirming it`);
  }

  // --- reads that the methods above share

  private readData(path: string, oneShot: OneShotWatch | null): Promise<{ data: Buffer; stat: Stat } | null> {
    return this.call<{ data: Buffer; stat: Stat } | null>('get', path, (done) => {
      const callback = (error: unknown, data?: Buffer, stat?: Stat) => {
        if (isZooKeeperError(error, Exception.NO_NODE)) done(null, null);
        else done(error, error ? undefined : { data: data ?? Buffer.alloc(0), stat: stat! });
      };
      if (oneShot) this.client.getData(path, oneShot.notify, callback);
      else this.client.getData(path, callback);
    });
  }

  /** Whether the node exists; with a watch, it fires on create (if absent) or on change and delete. */
  private async exists(path: string, oneShot?: OneShotWatch): Promise<boolean> {
    const stat = await this.call<Stat | null>('exists', path, (done) =>
      oneShot ? this.client.exists(path, oneShot.notify, done) : this.client.exists(path, done),
    );
    return stat !== null;
  }

  private newWatch(watcher: Watcher): OneShotWatch {
    return new OneShotWatch(watcher, () => this.state !== 'expired' && this.state !== 'closed');
  }

  /**
   * Runs one client request: refused at once when the session is dead or too many calls are
   * waiting, sent now if connected or else when the client reconnects, and failed with
   * COORDINATOR_UNAVAILABLE if not answered within the call timeout.
   */
  private call<T>(op: string, path: string, request: (done: Callback<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.state === 'expired' || this.state === 'closed') return reject(this.deadError(op, path));
      if (this.inFlight.size >= CALLS_IN_FLIGHT_MAX) {
        return reject(new TandemError('TOO_MANY_IN_FLIGHT', `${op} ${path}: ${CALLS_IN_FLIGHT_MAX} ZooKeeper calls are already waiting`));
      }
      const timeoutMs = this.callTimeoutMs;
      let settled = false;
      const settle = (error: TandemError | null, result?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(call);
        this.waiting.delete(call);
        if (error) reject(error);
        else resolve(result as T);
      };
      const call: PendingCall = {
        send: () => {
          try {
            request((error, result) => settle(error ? toTandemError(op, path, error) : null, result));
          } catch (err) {
            // The client validates its arguments by throwing.
            settle(new TandemError('INVALID_ARGUMENT', `${op} ${path}: ${(err as Error).message}`));
          }
        },
        fail: (error) => settle(error),
      };
      const timer = setTimeout(() => {
        const connected = this.state === 'connected' ? 'connected' : 'not connected';
        settle(new TandemError('COORDINATOR_UNAVAILABLE', `${op} ${path}: no answer from ZooKeeper within ${timeoutMs} ms (${connected})`));
      }, timeoutMs);
      this.inFlight.add(call);
      if (this.state === 'connected') call.send();
      else this.waiting.add(call);
    });
  }

  private failAll(error: TandemError): void {
    for (const call of [...this.inFlight]) call.fail(error);
  }

  private deadError(op: string, path: string): TandemError {
    const what = this.state === 'closed' ? 'was closed' : 'expired';
    return new TandemError('COORDINATOR_SESSION_EXPIRED', `${op} ${path}: ZooKeeper session ${this.id} ${what}`);
  }

  // --- session events

  private onFirstConnected(resolve: () => void): void {
    this.state = 'connected';
    this.id = hexId(this.client.getSessionId());
    this.negotiatedTimeoutMs = this.client.getSessionTimeout();
    const server = this.currentServer();
    this.log[this.connectLogLevel](
      { zookeeper: server, chroot: this.opts.address.chroot, sessionId: this.id, sessionTimeoutMs: this.negotiatedTimeoutMs },
      `connected to ZooKeeper ${server} (session ${this.id}, timeout ${this.negotiatedTimeoutMs} ms)`,
    );
    resolve();
  }

  private onReconnected(): void {
    if (this.state !== 'disconnected') return;
    this.state = 'connected';
    const server = this.currentServer();
    this.log.info({ zookeeper: server, sessionId: this.id }, `reconnected to ZooKeeper ${server} in the same session ${this.id}`);
    this.events.emit('connected');
    for (const call of [...this.waiting]) {
      this.waiting.delete(call);
      call.send();
    }
  }

  private onDisconnected(): void {
    if (this.state !== 'connected') return;
    this.state = 'disconnected';
    this.log.warn({ sessionId: this.id, sessionTimeoutMs: this.negotiatedTimeoutMs }, 'lost connection to ZooKeeper; session may still be alive');
    this.events.emit('disconnected');
  }

  private onExpired(): void {
    if (this.state === 'closed' || this.state === 'expired') return;
    this.state = 'expired';
    this.watchdog.stop();
    this.log.warn({ sessionId: this.id }, `ZooKeeper session ${this.id} expired`);
    this.failAll(this.deadError('call', '(any)'));
    this.events.emit('expired');
    closeQuietly(this.client);
  }


  /** The server this client talks to now, for the logs. */
  private currentServer(): string {
    const socket = socketOf(this.client);
    return socket ? serverAddress(socket) : this.opts.address.connect;
  }
}

/**
 * node-zookeeper-client 1.1.3 never gives up on a connection that is open but silent: its
 * read timeout is commented out, and its connect timeout ends when TCP connects, before the
 * session handshake. So a hung server, a network that drops packets without resetting the
 * connection, or ZooKeeper 3.8 failing to close a connection it refused while starting up
 * (an NPE in its log; seen in our restart test) would keep the client waiting forever: no
 * 'disconnected', no failover to another server, and never the news that the session
 * expired. Every connection must therefore answer its handshake within `handshakeMs` and,
 * once the session is up, send something within `readMs`; otherwise the watchdog closes
 * the socket and the client tries the next server, as ZooKeeper's Java client does.
 */
class SilentConnectionWatchdog {
  private watched: Socket | null = null;
  private lastHeardMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly client: Client,
    private readonly log: Logger,
    private readonly handshakeMs: number,
    private readonly readMs: () => number,
    private readonly sessionUp: () => boolean,
  ) {}

  /** Checks again and again, a fraction of the current limit apart, until stopped. */
  start(): void {
    const intervalMs = Math.floor(Math.min(this.handshakeMs, this.readMs()) / WATCHDOG_CHECKS_PER_LIMIT);
    this.timer = setTimeout(() => {
      this.check();
      if (this.timer) this.start();
    }, intervalMs);
    this.timer.unref(); // the client's own socket and timers keep the process alive, not this
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private check(): void {
    const socket = socketOf(this.client);
    if (!socket || socket.destroyed) return;
    if (socket !== this.watched) {
      // A new connection attempt: the silence counts from when TCP connects.
      this.watched = socket;
      this.lastHeardMs = performance.now();
      socket.on('connect', () => (this.lastHeardMs = performance.now()));
      socket.on('data', () => (this.lastHeardMs = performance.now()));
    }
    if (socket.connecting) return; // the client's own connect timeout covers this part
    const up = this.sessionUp();
    const limitMs = up ? this.readMs() : this.handshakeMs;
    const silentMs = Math.round(performance.now() - this.lastHeardMs);
    if (silentMs <= limitMs) return;
    const server = serverAddress(socket);
    const what = up ? `sent nothing for ${silentMs} ms` : `did not answer the session handshake within ${silentMs} ms`;
    this.log.warn({ zookeeper: server, silentMs }, `ZooKeeper ${server} ${what}; dropping the connection to try again`);
    socket.destroy();
  }
}

/**
 * node-zookeeper-client 1.1.3 keeps the unparsed part of a frame (its connection manager's
 * `pendingBuffer`) across connections. A connection dropped in the middle of a frame — the
 * watchdog does so after a silence, which a stalled event loop can place between a frame's
 * two TCP segments; seen on a loaded machine — leaves it there, and the next connection's
 * bytes are parsed after it: the client hangs in its handshake or throws from inside its
 * socket handler ("Unknown code: …", "offset … out of range"), which ends the process.
 * So every new connection starts from an empty buffer.
 */
export function startEachConnectionClean(client: Client): void {
  const manager = (client as unknown as { connectionManager?: { connect?: () => void; pendingBuffer?: Buffer | null } }).connectionManager;
  const connect = manager?.connect;
  if (!manager || typeof connect !== 'function') return;
  manager.connect = () => {
    manager.pendingBuffer = null;
    connect.call(manager);
  };
}

/** The client's current socket, which it keeps private (its connection manager's). */
function socketOf(client: Client): Socket | null {
  return (client as unknown as { connectionManager?: { socket?: Socket } }).connectionManager?.socket ?? null;
}

function serverAddress(socket: Socket): string {
  return socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : 'a ZooKeeper server';
}

const CREATE_MODES: Record<NodeMode, number> = {
  persistent: CreateMode.PERSISTENT,
  ephemeral: CreateMode.EPHEMERAL,
  'persistent-sequential': CreateMode.PERSISTENT_SEQUENTIAL,
  'ephemeral-sequential': CreateMode.EPHEMERAL_SEQUENTIAL,
};

function isZooKeeperError(error: unknown, code: number): boolean {
  return error instanceof Exception && error.getCode() === code;
}

/** ZooKeeper's error as one of ours, keeping ZooKeeper's own words in the message. */
function toTandemError(op: string, path: string, error: unknown): TandemError {
  if (error instanceof TandemError) return error;
  const message = `${op} ${path}: ZooKeeper says ${error instanceof Exception ? error.getName() : String(error)}`;
  if (!(error instanceof Exception)) return new TandemError('INTERNAL', message);
  switch (error.getCode()) {
    case Exception.NODE_EXISTS:
      return new TandemError('COORDINATOR_NODE_EXISTS', message);
    case Exception.NO_NODE:
      return new TandemError('COORDINATOR_NO_NODE', message);
    case Exception.BAD_VERSION:
      return new TandemError('COORDINATOR_BAD_VERSION', message);
    case Exception.CONNECTION_LOSS:
    case Exception.OPERATION_TIMEOUT:
      return new TandemError('COORDINATOR_UNAVAILABLE', message);
    case Exception.SESSION_EXPIRED:
      return new TandemError('COORDINATOR_SESSION_EXPIRED', message);
    case Exception.NO_AUTH:
    case Exception.AUTH_FAILED:
      return new TandemError('PERMISSION_DENIED', message);
    // Requests ZooKeeper's rules refuse: deleting a node with children, a child under an
    // ephemeral node, a malformed argument or ACL.
    case Exception.NOT_EMPTY:
    case Exception.NO_CHILDREN_FOR_EPHEMERALS:
    case Exception.BAD_ARGUMENTS:
    case Exception.INVALID_ACL:
      return new TandemError('INVALID_ARGUMENT', message);
    default:
      return new TandemError('INTERNAL', message);
  }
}

/** A session id as ZooKeeper's own logs print it: `0x` and hex digits without leading zeros. */
function hexId(bytes: Buffer): string {
  return `0x${BigInt(`0x${bytes.toString('hex') || '0'}`).toString(16)}`;
}

function ownerOf(stat: Stat): string | null {
  const owner = hexId(stat.ephemeralOwner);
  return owner === '0x0' ? null : owner;
}

function closeQuietly(client: Client): void {
  try {
    client.close();
  } catch {
    // The client may throw when its socket is already gone; there is nothing left to close then.
  }
}
