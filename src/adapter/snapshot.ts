// What an adapter knows (DESIGN §1, §6), and the pure functions on it: merging a fresh
// ZooKeeper read into the cache (an entry keeps its last non-null value even when
// ZooKeeper has lost it), how stale the cache is, and the shard map clients resolve from.
// No I/O here: src/adapter/registry-sync.ts reads ZooKeeper and feeds these.

import type { PoolMap } from '../election/pool-map.js';
import { REGISTRY_ENTRIES, type ActiveInfo, type MemberInfo } from '../election/layout.js';
import type { Registry, RegistryValue, ShardRegistry } from '../election/registry.js';
import type { ShardMap, ShardMapMember, ShardMapShard } from '../client/shard-map.js';

/** `/datanodes/<id>` as the datanode registered it. */
export interface DatanodeRegistration {
  id: string;
  rpc: string;
  data: string;
  http: string;
  capacityBytes: number;
}

/** `/adapters/<id>`. */
export interface AdapterRegistration {
  id: string;
  rpc: string;
  http: string;
  pid: number;
}

/** One successful read of ZooKeeper, merged into what came before. */
export interface RegistryCache {
  registry: Registry;
  datanodes: DatanodeRegistration[];
  pools: PoolMap | null;
  adapters: AdapterRegistration[];
  /** Wall-clock ms of the read. */
  readAtMs: number;
}

/** `GET /status` and `adapter.status`: the registry's shape plus the cache's freshness. */
export interface AdapterSnapshot {
  /** When ZooKeeper was last read successfully (ISO), '' if never. */
  readAt: string;
  /** True when the adapter cannot read ZooKeeper now (or has not lately): this is its cache. */
  stale: boolean;
  /** Milliseconds since readAt (0 before the first read). */
  ageMs: number;
  shards: Record<string, ShardRegistry>;
  datanodes: DatanodeRegistration[];
  pools: PoolMap | null;
  adapters: AdapterRegistration[];
  /** The adapter that answers. */
  adapter: string;
}

/**
 * Merges a fresh read into the previous cache. ZooKeeper keeps each entry's last non-null
 * value under `last/`; should that copy be missing (a cluster written before it existed,
 * or deleted by hand), the adapter keeps the last value it saw itself (Peta2's adapter).
 */
export function mergeRegistry(previous: Registry | null, read: Registry): Registry {
  const shards: Record<string, ShardRegistry> = {};
  for (const [shard, now] of Object.entries(read.shards)) {
    const before = previous?.shards[shard];
    const merged: ShardRegistry = { ...now };
    for (const entry of REGISTRY_ENTRIES) merged[entry] = mergeValue(before?.[entry], now[entry]);
    shards[shard] = merged;
  }
  return { readAt: read.readAt, shards };
}

function mergeValue(before: RegistryValue | undefined, now: RegistryValue): RegistryValue {
  return { current: now.current, lastNotNull: now.current ?? now.lastNotNull ?? before?.lastNotNull ?? null };
}

export interface Freshness {
  /** The last sync failed, or the ZooKeeper connection is down. */
  failing: boolean;
  nowMs: number;
  /** Older than this is stale even without a failure seen (a sync that hangs). */
  staleAfterMs: number;
}

export function snapshotOf(cache: RegistryCache | null, adapter: string, freshness: Freshness): AdapterSnapshot {
  if (cache === null) {
    return { readAt: '', stale: true, ageMs: 0, shards: {}, datanodes: [], pools: null, adapters: [], adapter };
  }
  const ageMs = Math.max(0, freshness.nowMs - cache.readAtMs);
  return {
    readAt: cache.registry.readAt,
    stale: freshness.failing || ageMs > freshness.staleAfterMs,
    ageMs,
    shards: cache.registry.shards,
    datanodes: cache.datanodes,
    pools: cache.pools,
    adapters: cache.adapters,
    adapter,
  };
}

/** The shard map of a snapshot: per shard, the active (or, when stale with none current, the last seen) and the standbys. */
export function shardMapOf(snapshot: AdapterSnapshot): ShardMap {
  const shards: Record<string, ShardMapShard> = {};
  for (const [shard, registry] of Object.entries(snapshot.shards)) {
    const current = asActive(registry.active.current);
    const lastKnown = current === null && snapshot.stale ? asActive(registry.active.lastNotNull) : null;
    const active = current ?? lastKnown;
    shards[shard] = {
      active,
      activeIsLastKnown: lastKnown !== null,
      standbys: registry.election.filter((e) => e.member !== undefined && e.rpc !== undefined && e.member !== active?.member).map(member),
      epoch: registry.epoch,
    };
  }
  return { shards, pools: snapshot.pools, stale: snapshot.stale, ageMs: snapshot.ageMs, readAt: snapshot.readAt, adapter: snapshot.adapter };
}

function asActive(value: unknown): ActiveInfo | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Partial<ActiveInfo>;
  if (typeof v.member !== 'string' || typeof v.rpc !== 'string' || typeof v.epoch !== 'number') return null;
  return { member: v.member, rpc: v.rpc, epoch: v.epoch, ...(typeof v.http === 'string' ? { http: v.http } : {}) };
}

function member(e: Partial<MemberInfo>): ShardMapMember {
  return { member: e.member!, rpc: e.rpc!, ...(e.http ? { http: e.http } : {}) };
}
