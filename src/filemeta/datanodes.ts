// The datanodes one FMS member knows of: soft state, rebuilt from heartbeats after a
// restart. Pure: time arrives as `now` arguments, randomness through the injected
// `random` (tie-breaks between equally good targets).

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
  /** Every datanode ever heard from, until removed (its ZooKeeper node went away). Bounded by the cluster's size. */
  private readonly nodes = new Map<string, DatanodeEntry>();

  constructor(
    private readonly heartbeatDeadlineMs: number,
    private readonly random: () => number,
  ) {}

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

  /** Heard from within heartbeatDeadlineMs. A datanode never heard from is not live. */
  isLive(id: string, now: number): boolean {
    const node = this.nodes.get(id);
    return node !== undefined && now - node.lastHeartbeatMs <= this.heartbeatDeadlineMs;
  }

  /** Live datanodes, by id (copies). */
  liveDatanodes(now: number): DatanodeEntry[] {
    return [...this.nodes.values()]
      .filter((node) => this.isLive(node.id, now))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((node) => ({ ...node }));
  }

  /** Forgets a datanode (it unregistered). */
  remove(id: string): boolean {
    return this.nodes.delete(id);
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
