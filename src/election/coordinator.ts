// The Coordinator port (STYLE §2): everything Tandem needs from ZooKeeper, and nothing
// more. ZooKeeper itself is imported in exactly one module (zk-coordinator.ts); the
// seeded simulation and unit tests use fake-coordinator.ts instead.
//
// Paths are relative to the cluster's chroot (`/tandem/<cluster>`): "/shards/ns/epoch".
// Data is JSON. Watches are one-shot, as in ZooKeeper: a watch fires at most once, for the
// first change after it was set, and then must be set again by reading again.
//
// Session semantics are ZooKeeper's, and callers must handle them deliberately:
// - 'disconnected': the connection is lost but the session may still live; ephemeral
//   nodes stay until the session expires. Calls fail with COORDINATOR_UNAVAILABLE.
// - 'connected': (re)connected within the same session; ephemerals and watches survive.
// - 'expired': the session is gone for good, with all of its ephemeral nodes. This
//   Coordinator is dead; the owner must stop acting on anything it decided through it
//   (an active stops serving) and make a new one.

import { TandemError } from '../errors.js';

export type NodeMode = 'persistent' | 'ephemeral' | 'ephemeral-sequential' | 'persistent-sequential';

export type SessionEvent = 'connected' | 'disconnected' | 'expired';

export interface NodeData<T = unknown> {
  data: T;
  /** ZooKeeper's data version: pass it to set()/delete() for a version-checked write. */
  version: number;
  /** Session id (hex) owning this node if it is ephemeral, else null. */
  ephemeralOwner: string | null;
}

/** A one-shot watch callback. */
export type Watcher = () => void;

export interface Coordinator {
  /** This session's id (hex), stable across reconnects, new after expiry. */
  readonly sessionId: string;
  /** The negotiated session timeout. */
  readonly sessionTimeoutMs: number;
  /** Subscribes to session events; returns the unsubscribe function. */
  onSessionEvent(listener: (event: SessionEvent) => void): () => void;

  /**
   * Creates a node and returns its path (with the sequence suffix for sequential modes).
   * Fails with COORDINATOR_NODE_EXISTS or COORDINATOR_NO_NODE (missing parent).
   */
  create(path: string, data: unknown, mode: NodeMode): Promise<string>;
  /** Creates every missing persistent node along `path` (empty data); existing ones are left. */
  ensurePath(path: string): Promise<void>;
  /** Reads a node, or null when it does not exist. A watch fires on change or delete (or on create, when null). */
  get<T = unknown>(path: string, watch?: Watcher): Promise<NodeData<T> | null>;
  /**
   * Writes a node only if its version is still `expectedVersion` (-1: any version) and
   * returns the new version. Fails with COORDINATOR_BAD_VERSION or COORDINATOR_NO_NODE.
   */
  set(path: string, data: unknown, expectedVersion: number): Promise<number>;
  /** Deletes a node (version-checked unless -1). Fails with COORDINATOR_BAD_VERSION or COORDINATOR_NO_NODE. */
  delete(path: string, expectedVersion: number): Promise<void>;
  /** Child names (not paths), unsorted. A watch fires when the set of children changes or the node goes. */
  children(path: string, watch?: Watcher): Promise<string[]>;
  /** Ends the session: its ephemeral nodes go at once. */
  close(): Promise<void>;
}

/** Where a cluster lives in ZooKeeper, as written on command lines: `host:port[,host:port…]/chroot`. */
export interface CoordinatorAddress {
  /** `host:port,host:port` */
  connect: string;
  /** `/tandem/<cluster>` */
  chroot: string;
}

export const DEFAULT_CHROOT = '/tandem/local';

/** Parses `127.0.0.1:2181,127.0.0.1:2182/tandem/c1`; the chroot defaults to /tandem/local. */
export function parseCoordinatorAddress(text: string): CoordinatorAddress {
  const slash = text.indexOf('/');
  const connect = slash === -1 ? text : text.slice(0, slash);
  const chroot = slash === -1 ? DEFAULT_CHROOT : text.slice(slash).replace(/\/+$/, '');
  if (connect.length === 0 || !/^[^,/]+:\d+(,[^,/]+:\d+)*$/.test(connect)) {
    throw new Error(`not a ZooKeeper address: "${text}" (expected host:port[,host:port…][/chroot])`);
  }
  if (chroot.length === 0 || !/^(\/[A-Za-z0-9._-]+)+$/.test(chroot)) {
    throw new Error(`not a valid chroot in "${text}": "${chroot}"`);
  }
  return { connect, chroot };
}

export function formatCoordinatorAddress(address: CoordinatorAddress): string {
  return `${address.connect}${address.chroot}`;
}

// --- Shared by the ZooKeeper adapter and the fake, so that both accept and refuse the same
// paths and data.

/**
 * A session's event listeners. Events are delivered on a microtask, never from inside the
 * code that noticed them (a ZooKeeper client's socket handler, a fault injected by the
 * simulation), so a listener that throws cannot break it.
 */
export class SessionEventListeners {
  private readonly listeners = new Set<(event: SessionEvent) => void>();

  /** Returns the unsubscribe function. */
  add(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: SessionEvent): void {
    for (const listener of this.listeners) queueMicrotask(() => listener(event));
  }
}

/** Largest node data accepted, bytes: ZooKeeper's own default (jute.maxbuffer, 1 MiB). */
export const NODE_DATA_BYTES_MAX = 1024 * 1024;

/** Checks ZooKeeper's path rules: absolute, no empty, `.` or `..` component, no trailing `/`. */
export function checkNodePath(path: string): void {
  const ok =
    typeof path === 'string' &&
    path.startsWith('/') &&
    (path === '/' || (!path.endsWith('/') && !path.includes('//') && !/\/\.\.?(\/|$)/.test(path))) &&
    !path.includes('\u0000');
  if (!ok) throw new TandemError('INVALID_ARGUMENT', `not a valid ZooKeeper path: ${JSON.stringify(path)}`);
}

/** Node data as stored: JSON in UTF-8; null and undefined are stored as empty data. */
export function encodeNodeData(path: string, data: unknown): Buffer {
  let json: string | undefined;
  try {
    json = data === null || data === undefined ? undefined : JSON.stringify(data);
  } catch (err) {
    throw new TandemError('INVALID_ARGUMENT', `data for ${path} is not JSON-serializable: ${(err as Error).message}`);
  }
  const bytes = json === undefined ? Buffer.alloc(0) : Buffer.from(json, 'utf8');
  if (bytes.length > NODE_DATA_BYTES_MAX) {
    throw new TandemError('INVALID_ARGUMENT', `data for ${path} is ${bytes.length} bytes; a node holds at most ${NODE_DATA_BYTES_MAX}`);
  }
  return bytes;
}

/** The inverse of encodeNodeData: empty data is null. */
export function decodeNodeData(path: string, bytes: Buffer): unknown {
  if (bytes.length === 0) return null;
  try {
    return JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new TandemError('INTERNAL', `node ${path} holds ${bytes.length} bytes that are not JSON (written by something other than Tandem?)`);
  }
}
