// An in-memory ZooKeeper behind the Coordinator port, for the seeded simulation and unit
// tests: one FakeZooKeeper per simulated ensemble, one session() per simulated process.
// It follows the real adapter (zk-coordinator.ts) where Tandem can tell the difference, and
// the contract tests (test/election/coordinator-contract.test.ts) run against both.
//
// Deterministic: no timers, clock or randomness. Session ids count up (0x1, 0x2, …), and a
// sequential node takes its parent's count of children ever created, 10 digits, as
// ZooKeeper does (n_0000000000, n_0000000001, …; a delete does not reuse a number).
// Every change is applied when the call is made; its promise resolves on the next
// microtask.
//
// Delivery: watches and session events are delivered with queueMicrotask, in the order they
// happened. So after a change, `await` lets the watchers run; the simulation needs no queue
// to drain.
//
// Faults, injected by the simulation (nothing here times out on its own):
// - disconnect(id) / reconnect(id): one session loses and regains its connection. While
//   disconnected its calls fail at once with COORDINATOR_UNAVAILABLE (the real adapter waits
//   up to its call timeout first), its ephemerals stay, and its watches that trigger are
//   held and delivered after 'connected' — as ZooKeeper re-arms them on reconnect.
// - setUnavailable(true/false): the whole ensemble is down (every session disconnected)
//   and back. As in ZooKeeper, no session expires while the ensemble is down.
// - expire(id): the ensemble expires the session: its ephemerals go (firing others'
//   watches). A connected session hears 'expired' at once; a disconnected one, like a real
//   client, only learns it when its connection comes back, so until then it can still
//   believe it holds what it held (the "zombie" a simulation wants to catch).

import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import {
  checkNodePath,
  decodeNodeData,
  encodeNodeData,
  SessionEventListeners,
  type Coordinator,
  type NodeData,
  type NodeMode,
  type SessionEvent,
  type Watcher,
} from './coordinator.js';

export interface FakeZooKeeperOptions {
  /** As ZooKeeper's tickTime: session timeouts are clamped to [2, 20] ticks. Default 2000. */
  tickTimeMs?: number;
}

export interface FakeSessionOptions {
  /** Paths of this session are under this chroot (created if missing). Default: none. */
  chroot?: string;
  /** Asked-for session timeout; only reported (nothing times out by itself). Default 10 s. */
  sessionTimeoutMs?: number;
  log?: Logger;
}

interface FakeNode {
  data: Buffer;
  version: number;
  /** The session id owning this ephemeral node, or null. Ephemeral nodes have no children. */
  ephemeralOwner: string | null;
  /** Children ever created here: the next sequential node's number. */
  childrenCreated: number;
  children: Set<string>;
}

/** One armed one-shot watch: which session set it, and what to call. */
interface WatchRecord {
  session: FakeSession;
  watcher: Watcher;
}

type WatchKind = 'data' | 'exists' | 'children';

const SESSION_TIMEOUT_MS_DEFAULT = 10_000;
const TICK_TIME_MS_DEFAULT = 2_000;

export class FakeZooKeeper {
  readonly tickTimeMs: number;
  private readonly nodes = new Map<string, FakeNode>([['/', newNode(Buffer.alloc(0), null)]]);
  private readonly sessions = new Map<string, FakeSession>();
  private readonly watches: Record<WatchKind, Map<string, WatchRecord[]>> = { data: new Map(), exists: new Map(), children: new Map() };
  private sessionsCreated = 0;
  private down = false;

  constructor(opts: FakeZooKeeperOptions = {}) {
    this.tickTimeMs = opts.tickTimeMs ?? TICK_TIME_MS_DEFAULT;
  }

  /** A new session, connected; fails with COORDINATOR_UNAVAILABLE while the ensemble is down. */
  session(opts: FakeSessionOptions = {}): Coordinator {
    if (this.down) throw new TandemError('COORDINATOR_UNAVAILABLE', 'the fake ZooKeeper ensemble is down');
    this.sessionsCreated++;
    const id = `0x${this.sessionsCreated.toString(16)}`;
    const chroot = opts.chroot ?? '';
    if (chroot !== '') {
      checkNodePath(chroot);
      this.mkdirs(chroot);
    }
    const askedMs = opts.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT;
    const timeoutMs = Math.min(20 * this.tickTimeMs, Math.max(2 * this.tickTimeMs, askedMs));
    const session = new FakeSession(this, id, chroot, timeoutMs, opts.log ?? null);
    this.sessions.set(id, session);
    return session;
  }

  /** The ensemble expires a session (see the file comment for when the session hears of it). */
  expire(sessionId: string): void {
    const session = this.sessionOf(sessionId);
    if (!session.liveOnServer) return;
    this.endSession(session);
    session.serverExpired();
  }

  /** The session's connection breaks; it stays alive on the ensemble. */
  disconnect(sessionId: string): void {
    this.sessionOf(sessionId).setLink(false);
  }

  reconnect(sessionId: string): void {
    this.sessionOf(sessionId).setLink(true);
  }

  /** The whole ensemble goes down (true) or comes back (false). */
  setUnavailable(unavailable: boolean): void {
    this.down = unavailable;
    for (const session of this.sessions.values()) session.refreshConnection();
  }

  get unavailable(): boolean {
    return this.down;
  }

  /** The tree and the sessions, one line each, sorted: for failure reports. */
  dump(): string {
    const lines = [`ensemble ${this.down ? 'DOWN' : 'up'}; sessions:`];
    for (const session of this.sessions.values()) lines.push(`  ${session.describe()}`);
    lines.push('nodes:');
    for (const path of [...this.nodes.keys()].sort()) {
      const node = this.nodes.get(path)!;
      const owner = node.ephemeralOwner ? ` ephemeral(${node.ephemeralOwner})` : '';
      lines.push(`  ${path} v${node.version}${owner} ${node.data.length === 0 ? '-' : node.data.toString('utf8')}`);
    }
    const armed = (['data', 'exists', 'children'] as const).flatMap((kind) =>
      [...this.watches[kind]].flatMap(([path, records]) => records.map((r) => `  ${kind} ${path} by ${r.session.sessionId}`)),
    );
    if (armed.length > 0) lines.push('watches:', ...armed.sort());
    return lines.join('\n');
  }

  // --- the tree, in full paths; called by FakeSession once it checked it may act

  create(path: string, data: Buffer, mode: NodeMode, sessionId: string): string {
    const parentPath = parentOf(path);
    const parent = this.nodes.get(parentPath);
    if (!parent) throw new TandemError('COORDINATOR_NO_NODE', `create ${path}: no parent node ${parentPath}`);
    if (parent.ephemeralOwner !== null) throw new TandemError('INVALID_ARGUMENT', `create ${path}: ${parentPath} is ephemeral and cannot have children`);
    const sequential = mode === 'persistent-sequential' || mode === 'ephemeral-sequential';
    const created = sequential ? `${path}${String(parent.childrenCreated).padStart(10, '0')}` : path;
    if (this.nodes.has(created)) throw new TandemError('COORDINATOR_NODE_EXISTS', `create ${created}: the node exists`);
    const ephemeral = mode === 'ephemeral' || mode === 'ephemeral-sequential';
    this.nodes.set(created, newNode(data, ephemeral ? sessionId : null));
    parent.childrenCreated++;
    parent.children.add(nameOf(created));
    this.trigger('exists', created);
    this.trigger('data', created);
    this.trigger('children', parentPath);
    return created;
  }

  /** Creates every missing node along `path` (persistent, empty). */
  mkdirs(path: string): void {
    if (path === '/') return;
    let prefix = '';
    for (const part of path.split('/').slice(1)) {
      prefix += `/${part}`;
      if (!this.nodes.has(prefix)) this.create(prefix, Buffer.alloc(0), 'persistent', '');
    }
  }

  read(path: string, watch: WatchRecord | null): FakeNode | null {
    const node = this.nodes.get(path) ?? null;
    if (watch) this.arm(node ? 'data' : 'exists', path, watch);
    return node;
  }

  set(path: string, data: Buffer, expectedVersion: number): number {
    const node = this.nodeFor('set', path, expectedVersion);
    node.data = data;
    node.version++;
    this.trigger('data', path);
    return node.version;
  }

  delete(path: string, expectedVersion: number): void {
    if (path === '/') throw new TandemError('INVALID_ARGUMENT', 'delete /: the root node cannot be deleted');
    const node = this.nodeFor('delete', path, expectedVersion);
    if (node.children.size > 0) throw new TandemError('INVALID_ARGUMENT', `delete ${path}: the node has ${node.children.size} children`);
    this.remove(path);
  }

  children(path: string, watch: WatchRecord | null): string[] {
    const node = this.nodes.get(path);
    if (!node) throw new TandemError('COORDINATOR_NO_NODE', `children ${path}: no such node`);
    if (watch) this.arm('children', path, watch);
    return [...node.children];
  }

  /** The session is gone on the ensemble: its watches are dropped, then its ephemerals go. */
  endSession(session: FakeSession): void {
    for (const kind of ['data', 'exists', 'children'] as const) {
      for (const [path, records] of this.watches[kind]) {
        const kept = records.filter((r) => r.session !== session);
        if (kept.length === 0) this.watches[kind].delete(path);
        else this.watches[kind].set(path, kept);
      }
    }
    const owned = [...this.nodes].filter(([, node]) => node.ephemeralOwner === session.sessionId).map(([path]) => path);
    for (const path of owned.sort()) this.remove(path);
  }

  private nodeFor(op: string, path: string, expectedVersion: number): FakeNode {
    const node = this.nodes.get(path);
    if (!node) throw new TandemError('COORDINATOR_NO_NODE', `${op} ${path}: no such node`);
    if (expectedVersion !== -1 && expectedVersion !== node.version) {
      throw new TandemError('COORDINATOR_BAD_VERSION', `${op} ${path}: version is ${node.version}, not ${expectedVersion}`);
    }
    return node;
  }

  private remove(path: string): void {
    const parentPath = parentOf(path);
    this.nodes.delete(path);
    this.nodes.get(parentPath)?.children.delete(nameOf(path));
    this.trigger('data', path);
    this.trigger('children', path);
    this.trigger('children', parentPath);
  }

  private arm(kind: WatchKind, path: string, watch: WatchRecord): void {
    const records = this.watches[kind].get(path);
    if (records) records.push(watch);
    else this.watches[kind].set(path, [watch]);
  }

  /** Fires (once) every watch of this kind on this path. */
  private trigger(kind: WatchKind, path: string): void {
    const records = this.watches[kind].get(path);
    if (!records) return;
    this.watches[kind].delete(path);
    for (const record of records) record.session.deliverWatch(record.watcher);
  }

  private sessionOf(sessionId: string): FakeSession {
    const session = this.sessions.get(sessionId);
    if (!session) throw new Error(`the fake ZooKeeper has no session ${sessionId}`);
    return session;
  }
}

/**
 * What a session knows of itself: 'connected', 'disconnected', or dead ('expired', or
 * 'closed' by its owner). `liveOnServer` is what the ensemble knows, which differs while a
 * disconnected session has been expired without hearing of it yet.
 */
type KnownState = 'connected' | 'disconnected' | 'expired' | 'closed';

class FakeSession implements Coordinator {
  private known: KnownState = 'connected';
  private linkUp = true;
  liveOnServer = true;
  private readonly events = new SessionEventListeners();
  /** Watches that triggered while disconnected, delivered after the reconnect. */
  private held: Watcher[] = [];

  constructor(
    private readonly tree: FakeZooKeeper,
    readonly sessionId: string,
    private readonly chroot: string,
    readonly sessionTimeoutMs: number,
    private readonly log: Logger | null,
  ) {}

  onSessionEvent(listener: (event: SessionEvent) => void): () => void {
    return this.events.add(listener);
  }

  // Each call checks its arguments, then the session (as the real adapter does), then
  // changes the tree before its first await: the change happens when the call is made.

  async create(path: string, data: unknown, mode: NodeMode): Promise<string> {
    checkNodePath(path);
    const bytes = encodeNodeData(path, data);
    const created = this.tree.create(this.enter(path), bytes, mode, this.sessionId);
    return this.chroot === '' ? created : created.slice(this.chroot.length);
  }

  async ensurePath(path: string): Promise<void> {
    checkNodePath(path);
    this.tree.mkdirs(this.enter(path));
  }

  async get<T = unknown>(path: string, watch?: Watcher): Promise<NodeData<T> | null> {
    checkNodePath(path);
    const node = this.tree.read(this.enter(path), this.watchRecord(watch));
    if (!node) return null;
    return { data: decodeNodeData(path, node.data) as T, version: node.version, ephemeralOwner: node.ephemeralOwner };
  }

  async set(path: string, data: unknown, expectedVersion: number): Promise<number> {
    checkNodePath(path);
    const bytes = encodeNodeData(path, data);
    return this.tree.set(this.enter(path), bytes, expectedVersion);
  }

  async delete(path: string, expectedVersion: number): Promise<void> {
    checkNodePath(path);
    this.tree.delete(this.enter(path), expectedVersion);
  }

  async children(path: string, watch?: Watcher): Promise<string[]> {
    checkNodePath(path);
    return this.tree.children(this.enter(path), this.watchRecord(watch));
  }

  /** Ends the session: if connected its ephemerals go at once; if not, they stay until expire(). */
  async close(): Promise<void> {
    if (this.known === 'expired' || this.known === 'closed') return;
    const connected = this.known === 'connected';
    this.known = 'closed';
    this.held = [];
    if (connected) {
      this.liveOnServer = false;
      this.tree.endSession(this);
    }
    this.log?.info({ sessionId: this.sessionId }, `closed fake ZooKeeper session ${this.sessionId}`);
  }

  // --- called by FakeZooKeeper

  serverExpired(): void {
    this.liveOnServer = false;
    this.held = [];
    if (this.known === 'connected') this.becomeExpired();
  }

  setLink(up: boolean): void {
    this.linkUp = up;
    this.refreshConnection();
  }

  /** Moves between connected and disconnected as the link and the ensemble allow, with events. */
  refreshConnection(): void {
    if (this.known === 'expired' || this.known === 'closed') return;
    const reachable = this.linkUp && !this.tree.unavailable;
    if (reachable && this.known === 'disconnected') {
      if (!this.liveOnServer) return this.becomeExpired();
      this.known = 'connected';
      this.log?.info({ sessionId: this.sessionId }, `reconnected to fake ZooKeeper in the same session ${this.sessionId}`);
      this.events.emit('connected');
      const held = this.held;
      this.held = [];
      for (const watcher of held) queueMicrotask(watcher);
    } else if (!reachable && this.known === 'connected') {
      this.known = 'disconnected';
      this.log?.warn({ sessionId: this.sessionId }, 'lost connection to fake ZooKeeper; session may still be alive');
      this.events.emit('disconnected');
    }
  }

  deliverWatch(watcher: Watcher): void {
    if (this.known === 'connected') queueMicrotask(watcher);
    else if (this.known === 'disconnected') this.held.push(watcher);
  }

  describe(): string {
    const server = this.liveOnServer ? '' : ' (gone on the ensemble)';
    return `${this.sessionId} ${this.known}${server} chroot=${this.chroot || '/'} timeout=${this.sessionTimeoutMs}ms link=${this.linkUp ? 'up' : 'down'}`;
  }

  // --- internals

  private becomeExpired(): void {
    this.known = 'expired';
    this.log?.warn({ sessionId: this.sessionId }, `fake ZooKeeper session ${this.sessionId} expired`);
    this.events.emit('expired');
  }

  /** The path under the chroot, if this session may act now; else why not. */
  private enter(path: string): string {
    if (this.known === 'expired' || this.known === 'closed') {
      const what = this.known === 'closed' ? 'was closed' : 'expired';
      throw new TandemError('COORDINATOR_SESSION_EXPIRED', `${path}: fake ZooKeeper session ${this.sessionId} ${what}`);
    }
    if (this.known === 'disconnected') throw new TandemError('COORDINATOR_UNAVAILABLE', `${path}: not connected to the fake ZooKeeper`);
    if (this.chroot === '') return path;
    return path === '/' ? this.chroot : this.chroot + path;
  }

  private watchRecord(watcher: Watcher | undefined): WatchRecord | null {
    return watcher ? { session: this, watcher } : null;
  }

}

function newNode(data: Buffer, ephemeralOwner: string | null): FakeNode {
  return { data, version: 0, ephemeralOwner, childrenCreated: 0, children: new Set() };
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
