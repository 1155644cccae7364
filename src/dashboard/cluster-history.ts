// The dashboard's memory of the cluster: what each poll saw, turned into the snapshot the
// page draws. Pure (STYLE §1): every observation carries its own time, nothing here reads
// a clock, a socket or ZooKeeper — cluster-watch.ts does, and hands the results in. So
// the failover detection and the bounded series are tested with made-up observations.
//
// A failover is a new (member, epoch) in a shard's /shards/<s>/active entry: another
// member, or the same member at a new epoch (it lost its session and won again). The
// first active seen is the baseline, not a failover. Nothing is judged from a stale
// registry: the cache cannot change, and the next good read tells what happened.

import type { Registry } from '../election/registry.js';
import { memberOfReplica, type ActiveInfo } from '../election/layout.js';
import { RingBuffer } from '../util/ring-buffer.js';
import type { DashboardSnapshot, DatanodeView, FailoverEvent, MemberRole, MemberView, ShardView } from './snapshot.js';

export interface HistoryLimits {
  /** Points kept per chart series (one per poll). */
  seriesPointsMax: number;
  /** Failovers kept, newest. */
  failoversMax: number;
  /** Members remembered per shard once gone from ZooKeeper (shown as "gone"). */
  membersPerShardMax: number;
  /** How often the watch polls, ms: with seriesPointsMax, the charts' time window. */
  pollIntervalMs: number;
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = {
  seriesPointsMax: 120,
  failoversMax: 50,
  membersPerShardMax: 32,
  pollIntervalMs: 1_000,
};

/** A datanode's ephemeral node under /datanodes. */
export interface RegisteredDatanode {
  id: string;
  http?: string;
  capacityBytes?: number;
}

/** One read of the registry, as a RegistrySource gives it. */
export interface RegistryReading {
  /** The registry (the cached one when stale); null when it was never read. */
  registry: Registry | null;
  stale: boolean;
  /** How old `registry` is, ms. */
  ageMs: number;
  error?: string | null;
  /** The children of /datanodes, when the source reads them; null or absent otherwise. */
  datanodes?: RegisteredDatanode[] | null;
}

/** The fields of a master's `admin.status` the dashboard uses (src/master/master.ts MasterStatus). */
export interface ActiveStatus {
  member: string;
  role: string;
  epoch: number;
  appliedTxid: number;
  committedTxid: number;
  isr: string[];
  followers: Array<{ member: string; inSync: boolean; connected: boolean; durableTxid: number; lagTxids: number; lagMsP50: number | null }>;
  /** File-metadata shards only: the datanodes this member has heard from. */
  datanodes: Array<{ id: string; http: string; live: boolean; capacityBytes: number; usedBytes: number; replicas: number; lastHeartbeatAgoMs: number }> | null;
}

export type StatusResult = { ok: true; status: ActiveStatus } | { ok: false; error: string };

export interface Observation {
  atMs: number;
  reading: RegistryReading;
  /** Per shard, what polling its active gave (absent: no active to poll). */
  statuses: ReadonlyMap<string, StatusResult>;
}

interface ShardMemory {
  /** The last active seen (member and epoch); null until the first. */
  active: { member: string; epoch: number } | null;
  /** The first observation that saw no active after one was seen, ms; null while there is one. */
  noActiveSinceMs: number | null;
  status: { value: ActiveStatus; atMs: number } | null;
  statusError: string | null;
  /** The committed txid behind the last throughput point. */
  txidSample: { txid: number; atMs: number } | null;
  txidsPerSec: number | null;
  throughput: RingBuffer<[number, number]>;
  lag: RingBuffer<[number, number]>;
  /** Every member seen, with its RPC address; at most membersPerShardMax (oldest forgotten). */
  seen: Map<string, string | null>;
}

export class ClusterHistory {
  private readonly shards = new Map<string, ShardMemory>();
  private readonly failovers: RingBuffer<FailoverEvent>;
  private reading: RegistryReading | null = null;
  /** Wall clock of the registry shown (the observation's time minus its age). */
  private registryAtMs: number | null = null;

  constructor(private readonly limits: HistoryLimits = DEFAULT_HISTORY_LIMITS) {
    this.failovers = new RingBuffer(limits.failoversMax);
  }

  /** Takes in one poll; answers the failovers it revealed. */
  observe(obs: Observation): FailoverEvent[] {
    const seen: FailoverEvent[] = [];
    // A source with nothing to answer (no registry) does not wipe what was shown: keep the last one.
    const previous = this.reading;
    this.reading =
      obs.reading.registry === null && previous !== null
        ? { ...obs.reading, stale: true, registry: previous.registry, datanodes: obs.reading.datanodes ?? previous.datanodes ?? null }
        : obs.reading;
    if (obs.reading.registry) this.registryAtMs = obs.atMs - obs.reading.ageMs;
    const registry = obs.reading.registry;
    for (const [shard, entry] of Object.entries(registry?.shards ?? {})) {
      const memory = this.shard(shard);
      for (const e of entry.election) if (e.member) this.remember(memory, e.member, e.rpc ?? null);
      for (const id of entry.isr?.members ?? []) this.remember(memory, memberOfReplica(id), null);
      const active = entry.active.current as ActiveInfo | null;
      if (active?.member) this.remember(memory, active.member, active.rpc ?? null);
      const failover = obs.reading.stale ? null : this.judgeActive(shard, memory, active, entry.epoch, obs.atMs);
      if (failover) seen.push(failover);
    }
    for (const [shard, result] of obs.statuses) this.recordStatus(this.shard(shard), result, obs.atMs);
    return seen;
  }

  /** Failover detection (see the header). */
  private judgeActive(shard: string, memory: ShardMemory, active: ActiveInfo | null, counter: number | null, atMs: number): FailoverEvent | null {
    if (!active?.member) {
      if (memory.active !== null && memory.noActiveSinceMs === null) memory.noActiveSinceMs = atMs;
      return null;
    }
    const epoch = typeof active.epoch === 'number' ? active.epoch : (counter ?? 0);
    const previous = memory.active;
    let failover: FailoverEvent | null = null;
    if (previous !== null && (previous.member !== active.member || previous.epoch !== epoch)) {
      failover = {
        shard,
        atMs,
        from: previous.member,
        to: active.member,
        fromEpoch: previous.epoch,
        toEpoch: epoch,
        noActiveMs: memory.noActiveSinceMs === null ? null : atMs - memory.noActiveSinceMs,
      };
      this.failovers.push(failover);
    }
    memory.active = { member: active.member, epoch };
    memory.noActiveSinceMs = null;
    return failover;
  }

  private recordStatus(memory: ShardMemory, result: StatusResult, atMs: number): void {
    if (!result.ok) {
      memory.statusError = result.error;
      return;
    }
    const status = result.status;
    memory.status = { value: status, atMs };
    memory.statusError = null;
    this.remember(memory, status.member, null);
    for (const f of status.followers) this.remember(memory, f.member, null);
    const previous = memory.txidSample;
    if (previous !== null && atMs > previous.atMs) {
      // A new active may start a little behind what the old one reported committed: never negative.
      memory.txidsPerSec = Math.max(0, status.committedTxid - previous.txid) / ((atMs - previous.atMs) / 1_000);
      memory.throughput.push([atMs, round2(memory.txidsPerSec)]);
    }
    memory.txidSample = { txid: status.committedTxid, atMs };
    memory.lag.push([atMs, Math.max(0, ...status.followers.map((f) => f.lagTxids))]);
  }

  private shard(name: string): ShardMemory {
    let memory = this.shards.get(name);
    if (!memory) {
      memory = {
        active: null,
        noActiveSinceMs: null,
        status: null,
        statusError: null,
        txidSample: null,
        txidsPerSec: null,
        throughput: new RingBuffer(this.limits.seriesPointsMax),
        lag: new RingBuffer(this.limits.seriesPointsMax),
        seen: new Map(),
      };
      this.shards.set(name, memory);
    }
    return memory;
  }

  private remember(memory: ShardMemory, member: string, rpc: string | null): void {
    const known = memory.seen.get(member);
    if (known !== undefined) {
      if (rpc !== null && known !== rpc) memory.seen.set(member, rpc);
      return;
    }
    if (memory.seen.size >= this.limits.membersPerShardMax) memory.seen.delete(memory.seen.keys().next().value!);
    memory.seen.set(member, rpc);
  }

  snapshot(nowMs: number): DashboardSnapshot {
    const registry = this.reading?.registry ?? null;
    const shardNames = [...new Set([...Object.keys(registry?.shards ?? {}), ...this.shards.keys()])].sort(shardOrder);
    return {
      nowMs,
      registry: {
        stale: this.reading?.stale ?? true,
        ageMs: this.registryAtMs === null ? null : Math.max(0, nowMs - this.registryAtMs),
        error: this.reading?.stale ? (this.reading.error ?? 'the registry could not be read') : null,
      },
      shards: shardNames.map((shard) => this.shardView(shard, nowMs)),
      datanodes: this.datanodeViews(nowMs),
      failovers: this.failovers.toArray(),
      seriesWindowMs: this.limits.seriesPointsMax * this.limits.pollIntervalMs,
    };
  }

  private shardView(shard: string, nowMs: number): ShardView {
    const entry = this.reading?.registry?.shards[shard];
    const memory = this.shard(shard);
    const active = (entry?.active.current as ActiveInfo | null)?.member ?? null;
    const firstStandby = (entry?.standby.current as { member?: string } | null)?.member ?? null;
    const inElection = new Set((entry?.election ?? []).map((e) => e.member).filter((m): m is string => typeof m === 'string'));
    const isr = (entry?.isr?.members ?? []).map(memberOfReplica);
    const status = memory.status?.value ?? null;
    // Standby figures come from the active's replication progress; only the current active's count.
    const followers = new Map((status && status.member === active ? status.followers : []).map((f) => [f.member, f]));
    const members: MemberView[] = [...memory.seen].map(([member, rpc]) => {
      const role: MemberRole = member === active ? 'active' : inElection.has(member) ? 'standby' : isr.includes(member) ? 'candidate' : 'gone';
      const follower = followers.get(member);
      const isActiveStatus = status !== null && status.member === member && member === active;
      return {
        member,
        rpc,
        role,
        // The standby entry may still name the member that just took over (it is cleared after).
        firstStandby: member === firstStandby && member !== active,
        inIsr: isr.includes(member),
        txid: isActiveStatus ? status.appliedTxid : (follower?.durableTxid ?? null),
        lagTxids: isActiveStatus ? 0 : (follower?.lagTxids ?? null),
        lagMsP50: follower?.lagMsP50 ?? null,
        streaming: follower?.connected ?? null,
      };
    });
    members.sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || (a.member < b.member ? -1 : 1));
    return {
      shard,
      epoch: entry?.epoch ?? memory.active?.epoch ?? null,
      active,
      isr,
      members,
      status: memory.status
        ? {
            committedTxid: memory.status.value.committedTxid,
            appliedTxid: memory.status.value.appliedTxid,
            ageMs: Math.max(0, nowMs - memory.status.atMs),
            error: memory.statusError,
          }
        : null,
      txidsPerSec: memory.txidsPerSec === null ? null : round2(memory.txidsPerSec),
      throughput: memory.throughput.toArray(),
      lag: memory.lag.toArray(),
    };
  }

  /** ZooKeeper's /datanodes joined with what each FMS active last said of them (the freshest wins). */
  private datanodeViews(nowMs: number): DatanodeView[] {
    const views = new Map<string, DatanodeView>();
    const view = (id: string): DatanodeView => {
      let v = views.get(id);
      if (!v) {
        v = { id, http: null, registered: null, live: null, capacityBytes: null, usedBytes: null, blocks: null, lastHeartbeatAgoMs: null };
        views.set(id, v);
      }
      return v;
    };
    const registered = this.reading?.datanodes;
    for (const dn of registered ?? []) {
      const v = view(dn.id);
      v.registered = true;
      v.http = dn.http || null;
      v.capacityBytes = dn.capacityBytes ?? null;
    }
    for (const memory of this.shards.values()) {
      const heard = memory.status?.value.datanodes;
      if (!heard || !memory.status) continue;
      const sinceStatusMs = Math.max(0, nowMs - memory.status.atMs);
      for (const dn of heard) {
        const v = view(dn.id);
        const agoMs = dn.lastHeartbeatAgoMs + sinceStatusMs;
        v.blocks = (v.blocks ?? 0) + dn.replicas;
        v.live = v.live === true || dn.live;
        if (v.lastHeartbeatAgoMs === null || agoMs < v.lastHeartbeatAgoMs) {
          v.lastHeartbeatAgoMs = agoMs;
          v.capacityBytes = dn.capacityBytes;
          v.usedBytes = dn.usedBytes;
          v.http = dn.http || v.http;
        }
      }
    }
    if (registered) for (const v of views.values()) v.registered ??= false;
    return [...views.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}

const ROLE_ORDER: Record<MemberRole, number> = { active: 0, standby: 1, candidate: 2, gone: 3 };

/** ns first, then fms-0, fms-1, … in number order. */
function shardOrder(a: string, b: string): number {
  if (a === 'ns' || b === 'ns') return a === 'ns' ? (b === 'ns' ? 0 : -1) : 1;
  return a.localeCompare(b, 'en', { numeric: true });
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
