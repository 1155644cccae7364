// The datanodes one FMS member knows of: soft state, rebuilt from heartbeats after a
// restart. Pure: time arrives as `now` arguments, randomness through the injected
// `random` (tie-breaks between equally good targets).
//
// When is a datanode dead? It is live while heard from within heartbeatDeadlineMs. The
// driver also tells the registry which datanodes ZooKeeper lists under /datanodes (their
// ephemeral nodes): one whose node is gone — its session expired, so it crashed or lost
// ZooKeeper — is dead as soon as it has also been silent for heartbeatDeadlineUnregisteredMs,
// a few heartbeats, instead of the whole deadline. Both are needed: a datanode cut off from
// ZooKeeper alone keeps heartbeating and stays live (its bytes are still readable, and
// copying all of them because ZooKeeper hiccupped would be a storm), while a crashed one
// is noticed within a session timeout plus a few seconds, not the long deadline.

import { TandemError } from '../errors.js';
import { failure, type Failure } from './failure.js';
import type { DatanodeRef } from './ops.js';

/** What a datanode says about itself in each heartbeat. Addresses are HOST:PORT. */
export interface DatanodeInfo {
  id: string;
  rpc: string;
  data: string;
  http: string;
  capacityBytes: number;
  usedBytes: number;
}

export interface DatanodeEntry extends DatanodeInfo {
  lastHeartbeatMs: number;
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= 1024;
}

function isBytes(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export class DatanodeRegistry {
  /** Every datanode ever heard from, until removed. Bounded by the cluster's size. */
  private readonly nodes = new Map<string, DatanodeEntry>();
  /** Ids with a node under /datanodes in ZooKeeper, as last read; null until the driver first says (no ZooKeeper: the rule is off). */
  private registered: ReadonlySet<string> | null = null;

  constructor(
    private readonly heartbeatDeadlineMs: number,
    private readonly random: () => number,
    /** Silence after which a datanode without a ZooKeeper node is dead (≤ heartbeatDeadlineMs to matter). */
    private readonly heartbeatDeadlineUnregisteredMs: number = heartbeatDeadlineMs,
  ) {}

  /** The datanodes ZooKeeper lists now (children of /datanodes). */
  setRegistered(ids: Iterable<string>): void {
    this.registered = new Set(ids);
  }

  /** False only when ZooKeeper was read and does not list the datanode. */
  isRegistered(id: string): boolean {
    return this.registered === null || this.registered.has(id);
  }

  /** Records a heartbeat. A malformed one is refused with INVALID_ARGUMENT (it came off the wire). */
  heartbeat(dn: DatanodeInfo, now: number): void {
    if (typeof dn !== 'object' || dn === null || !isName(dn.id) || !isName(dn.rpc) || !isName(dn.data) || typeof dn.http !== 'string') {
      throw new TandemError('INVALID_ARGUMENT', 'heartbeat: id, rpc and data must be non-empty strings, http a string (empty without HTTP)');
    }
    if (!isBytes(dn.capacityBytes) || !isBytes(dn.usedBytes)) {
      throw new TandemError('INVALID_ARGUMENT', `heartbeat from ${dn.id}: capacityBytes and usedBytes must be non-negative integers`);
    }
    this.nodes.set(dn.id, {
      id: dn.id,
      rpc: dn.rpc,
      data: dn.data,
      http: dn.http,
      capacityBytes: dn.capacityBytes,
      usedBytes: dn.usedBytes,
      lastHeartbeatMs: now,
    });
  }

  get(id: string): DatanodeEntry | undefined {
    return this.nodes.get(id);
  }

  /**
   * Heard from within heartbeatDeadlineMs, and within heartbeatDeadlineUnregisteredMs if its
   * ZooKeeper node is gone (see the header). A datanode never heard from is not live.
   */
  isLive(id: string, now: number): boolean {
    const node = this.nodes.get(id);
    if (node === undefined) return false;
    const silentMs = now - node.lastHeartbeatMs;
    return silentMs <= this.heartbeatDeadlineMs && (this.isRegistered(id) || silentMs <= this.heartbeatDeadlineUnregisteredMs);
  }

  /** Live datanodes, by id (copies). */
  liveDatanodes(now: number): DatanodeEntry[] {
    return [...this.nodes.values()]
      .filter((node) => this.isLive(node.id, now))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((node) => ({ ...node }));
  }

  /** Every datanode heard from and not removed, live or not, by id (copies): what an operator's view lists. */
  knownDatanodes(now: number): Array<DatanodeEntry & { live: boolean }> {
    return [...this.nodes.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((node) => ({ ...node, live: this.isLive(node.id, now) }));
  }

  freeBytes(id: string): number {
    const node = this.nodes.get(id);
    return node === undefined ? 0 : Math.max(0, node.capacityBytes - node.usedBytes);
  }

  /**
   * Up to `count` live datanodes not in `exclude`, most free space first, ties broken at
   * random. Fewer than `count` is an answer as long as there is one; none → NO_DATANODES.
   * A datanode with no free space is never chosen.
   */
  chooseTargets(count: number, exclude: Iterable<string>, now: number): { ok: true; value: DatanodeRef[] } | Failure {
    const excluded = new Set(exclude);
    const candidates: { node: DatanodeEntry; free: number; tieBreak: number }[] = [];
    for (const node of this.nodes.values()) {
      if (excluded.has(node.id) || !this.isLive(node.id, now)) continue;
      const free = this.freeBytes(node.id);
      if (free > 0) candidates.push({ node, free, tieBreak: this.random() });
    }
    if (candidates.length === 0 || count < 1) {
      return failure('NO_DATANODES', `no live datanode with free space to place a replica on (${excluded.size} excluded)`);
    }
    candidates.sort((a, b) => b.free - a.free || a.tieBreak - b.tieBreak);
    return { ok: true, value: candidates.slice(0, count).map(({ node }) => ({ id: node.id, data: node.data })) };
  }
}
