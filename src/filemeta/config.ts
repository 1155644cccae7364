// The configuration of one file-metadata shard (docs/data-path.md, "Pools and shards"):
// which shard this is, which pools it owns, and the limits of its replicated state and of
// its soft state (block map, deferred queue, replication work, leases). Units last.

import { DEFAULT_LIMITS } from '../config/limits.js';

export interface FileMetaConfig {
  /** This shard's name, e.g. 'fms-0'. Block ids are `${shard}_${seq}`, so it holds no '_'. */
  shard: string;
  /** Pools in the cluster, fixed at format (`/config/pools`). */
  pools: number;
  /** The pools this shard owns: p with shards[p % shards.length] === shard. Distinct, each in 0..pools-1. */
  ownedPools: number[];
  /** Largest replication factor a file may ask for. */
  replicationMax: number;
  /** Most blocks one file may have; an addBlock past it is refused. */
  blocksPerFileMax: number;
  /** Retry cache: entries older than this (by op time) are dropped... */
  retryCacheAgeMs: number;
  /** ...and at most this many are kept. */
  retryCacheEntriesMax: number;
  /** Standby only: reports for blocks its journal has not reached yet, kept at most; the oldest are dropped. */
  deferredReportsMax: number;
  /** A new active leaves safe mode when this fraction of complete blocks has a live replica. */
  safeModeThreshold: number;
  /** A datanode not heard from for longer than this is dead: its replicas stop counting. */
  heartbeatDeadlineMs: number;
  /** A datanode whose ZooKeeper node (/datanodes/<id>) is gone is dead once silent this long (src/filemeta/datanodes.ts). */
  heartbeatDeadlineUnregisteredMs: number;
  /** Replicate commands one datanode (the source) is given per round of computeWork. */
  replicationWorkPerDatanodeMax: number;
  /** Block ids in one delete command (one per datanode per round). */
  deleteBlocksPerCommandMax: number;
  /**
   * A scheduled copy not reported by its target within this long is forgotten and may be
   * scheduled again. A copy that fails is reported by its source (BlockMap.copyFailed) and
   * scheduled again at once; this covers only one lost without a word (a source that died).
   */
  pendingReplicationTimeoutMs: number;
  /** A writer that has not renewed its lease for this long loses it: the active recovers its files. */
  leaseHardLimitMs: number;
}

export const DEFAULT_POOLS = 8;

export const DEFAULT_FILE_META_CONFIG: Readonly<FileMetaConfig> = Object.freeze({
  shard: 'fms-0',
  pools: DEFAULT_POOLS,
  // One shard owns every pool by default; a cluster with more shards passes ownedPoolsOf(...).
  ownedPools: Object.freeze(Array.from({ length: DEFAULT_POOLS }, (_, pool) => pool)) as number[],
  replicationMax: 512,
  blocksPerFileMax: 1024 * 1024,
  retryCacheAgeMs: DEFAULT_LIMITS.retryCacheAgeMs,
  retryCacheEntriesMax: DEFAULT_LIMITS.retryCacheEntriesMax,
  deferredReportsMax: 100_000,
  safeModeThreshold: 0.999,
  heartbeatDeadlineMs: 30_000,
  heartbeatDeadlineUnregisteredMs: 5_000,
  replicationWorkPerDatanodeMax: 4,
  deleteBlocksPerCommandMax: 1_000,
  pendingReplicationTimeoutMs: 5 * 60_000,
  leaseHardLimitMs: 60 * 60_000,
});

/** A shard name usable in block ids: letters, digits, '.', '-'; never '_' (the id separator). */
const SHARD_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/;

export function isValidShardName(name: unknown): name is string {
  return typeof name === 'string' && SHARD_NAME.test(name);
}

/** The pools `shard` owns when `shards` share `pools` pools: pool p belongs to shards[p % shards.length]. */
export function ownedPoolsOf(shard: string, shards: readonly string[], pools: number): number[] {
  const index = shards.indexOf(shard);
  if (index < 0) throw new Error(`shard ${JSON.stringify(shard)} is not one of ${JSON.stringify(shards)}`);
  const owned: number[] = [];
  for (let pool = index; pool < pools; pool += shards.length) owned.push(pool);
  return owned;
}

/** The config with defaults filled in (ownedPools: every pool), frozen and checked; a bad config is a startup error. */
export function fileMetaConfigWith(overrides: Partial<FileMetaConfig> = {}): Readonly<FileMetaConfig> {
  const config: FileMetaConfig = { ...DEFAULT_FILE_META_CONFIG, ...overrides };
  // Without ownedPools the shard owns every pool there is (a one-shard cluster).
  const owned = overrides.ownedPools ?? Array.from({ length: Number.isSafeInteger(config.pools) && config.pools > 0 ? config.pools : 0 }, (_, pool) => pool);
  config.ownedPools = Object.freeze([...owned]) as number[];
  validateFileMetaConfig(config);
  return Object.freeze(config);
}

export function validateFileMetaConfig(config: FileMetaConfig): void {
  const fail = (what: string): never => {
    throw new Error(`file-metadata config: ${what}`);
  };
  if (!isValidShardName(config.shard)) fail(`shard must be 1-64 letters, digits, '.' or '-' (no '_'), got ${JSON.stringify(config.shard)}`);
  const positive = [
    'pools',
    'replicationMax',
    'blocksPerFileMax',
    'deferredReportsMax',
    'heartbeatDeadlineMs',
    'heartbeatDeadlineUnregisteredMs',
    'replicationWorkPerDatanodeMax',
    'deleteBlocksPerCommandMax',
    'pendingReplicationTimeoutMs',
    'leaseHardLimitMs',
  ] as const;
  for (const key of positive) {
    const value = config[key];
    if (!(Number.isSafeInteger(value) && value > 0)) fail(`${key} must be a positive integer, got ${String(value)}`);
  }
  for (const key of ['retryCacheAgeMs', 'retryCacheEntriesMax'] as const) {
    const value = config[key];
    if (!(Number.isSafeInteger(value) && value >= 0)) fail(`${key} must be a non-negative integer, got ${String(value)}`);
  }
  const threshold = config.safeModeThreshold;
  if (!(typeof threshold === 'number' && threshold >= 0 && threshold <= 1)) fail(`safeModeThreshold must be in 0..1, got ${String(threshold)}`);
  if (!Array.isArray(config.ownedPools) || config.ownedPools.length === 0) fail('ownedPools must be a non-empty list');
  const seen = new Set<number>();
  for (const pool of config.ownedPools) {
    if (!(Number.isSafeInteger(pool) && pool >= 0 && pool < config.pools)) fail(`ownedPools holds ${String(pool)}, not a pool in 0..${config.pools - 1}`);
    if (seen.has(pool)) fail(`ownedPools holds ${pool} twice`);
    seen.add(pool);
  }
}
