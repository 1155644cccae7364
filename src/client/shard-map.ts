// The shard map an adapter serves (`adapter.shardMap`, DESIGN §6): for every shard its
// active and standbys, plus the pool map, and how old the adapter's picture of ZooKeeper
// is. Clients resolve actives from it (src/client/adapter-resolver.ts); the adapter builds
// it from its registry cache (src/adapter/snapshot.ts), and resolves its own clients'
// actives from it too.

import { TandemError } from '../errors.js';
import type { PoolMap } from '../election/pool-map.js';
import type { ActiveResolver } from './shard-caller.js';

export interface ShardMapMember {
  member: string;
  rpc: string;
  http?: string;
}

export interface ShardMapActive extends ShardMapMember {
  epoch: number;
}

export interface ShardMapShard {
  /** The active, or null while there is none (a failover in progress). */
  active: ShardMapActive | null;
  /**
   * True when `active` is the entry's last non-null value rather than its current one:
   * the adapter lost ZooKeeper while no active was registered, and says whom it last saw
   * (epoch fencing makes a wrong guess harmless: the old active answers NOT_ACTIVE).
   */
  activeIsLastKnown: boolean;
  /** The other members in the election line, next in line first. */
  standbys: ShardMapMember[];
  epoch: number | null;
}

export interface ShardMap {
  shards: Record<string, ShardMapShard>;
  pools: PoolMap | null;
  /** The adapter could not read ZooKeeper lately: this is its cache. */
  stale: boolean;
  /** Milliseconds since the adapter last read ZooKeeper successfully. */
  ageMs: number;
  /** When it did (ISO time), '' if never. */
  readAt: string;
  /** Which adapter answered. */
  adapter: string;
}

/** Where resolvers get the shard map: a list of remote adapters, or the adapter's own cache. */
export interface ShardMapSource {
  /** The map held now, or null before the first one. */
  cached(): ShardMap | null;
  /** Counts successful refreshes: a map is newer than another when its generation is higher. */
  readonly generation: number;
  /**
   * A newer map. Refreshes are deduplicated (callers at the same time share one) and
   * rate-limited, so a failover seen by many calls at once costs one or two reads.
   */
  refresh(): Promise<ShardMap>;
}

/**
 * A shard's active from a shard map. After invalidate() (the address failed the caller),
 * the next activeAddress asks for a refresh — unless the source has already refreshed
 * since, for another shard or another call.
 */
export class ShardMapResolver implements ActiveResolver {
  /** The source generation the caller last failed on; -1: nothing failed. */
  private failedGeneration = -1;

  constructor(
    private readonly source: ShardMapSource,
    private readonly shard: string,
    private readonly onClose: () => void = () => undefined,
  ) {}

  async activeAddress(): Promise<string> {
    let map = this.source.cached();
    const needsRefresh = map === null || this.failedGeneration >= this.source.generation || !map.shards[this.shard]?.active;
    if (needsRefresh) map = await this.source.refresh();
    this.failedGeneration = -1;
    const entry = map!.shards[this.shard];
    if (!entry?.active) {
      const why = entry ? 'has no active right now' : 'is not in the shard map';
      const age = map!.stale ? ` (its map is stale: ZooKeeper last read ${map!.ageMs} ms ago)` : '';
      throw new TandemError('NOT_ACTIVE', `shard ${this.shard} ${why} according to adapter ${map!.adapter}${age}`);
    }
    return entry.active.rpc;
  }

  invalidate(): void {
    this.failedGeneration = this.source.generation;
  }

  close(): Promise<void> {
    this.onClose();
    return Promise.resolve();
  }
}
