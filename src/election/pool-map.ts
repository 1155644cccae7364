// The pool map (DESIGN §5 `/config/pools`, docs/data-path.md): a fixed number of pools,
// each owned by one file-metadata shard. Chosen once, when the cluster is formatted, and
// never changed: NS.create records a file's pool (fileId % pools) with the file, so a
// different count would move existing files to shards that do not know them.

import { TandemError } from '../errors.js';
import type { Coordinator } from './coordinator.js';

export const POOL_MAP_PATH = '/config/pools';
export const POOLS_MAX = 4096;
export const FMS_SHARD_PATTERN = /^fms-[0-9]{1,3}$/;

export interface PoolMap {
  pools: number;
  /** Pool p is owned by shards[p % shards.length]. */
  shards: string[];
}

/** Why a value is not a valid pool map, or null. */
export function poolMapProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'it is not an object';
  const map = value as Partial<PoolMap>;
  if (!Number.isSafeInteger(map.pools) || map.pools! < 1 || map.pools! > POOLS_MAX) return `pools must be an integer in 1..${POOLS_MAX}`;
  if (!Array.isArray(map.shards) || map.shards.length === 0) return 'shards must be a non-empty list';
  if (map.shards.length > map.pools!) return `${map.shards.length} shards cannot share ${map.pools} pools`;
  for (const shard of map.shards) {
    if (typeof shard !== 'string' || !FMS_SHARD_PATTERN.test(shard)) return `shard ${JSON.stringify(shard)} is not named fms-<n>`;
  }
  if (new Set(map.shards).size !== map.shards.length) return 'a shard is listed twice';
  return null;
}

export function shardOfPool(map: PoolMap, pool: number): string {
  if (!(Number.isSafeInteger(pool) && pool >= 0 && pool < map.pools)) {
    throw new TandemError('INVALID_ARGUMENT', `pool ${pool} is not one of the cluster's ${map.pools} pools`);
  }
  return map.shards[pool % map.shards.length]!;
}

/** The pools a shard owns, ascending. */
export function poolsOfShard(map: PoolMap, shard: string): number[] {
  const index = map.shards.indexOf(shard);
  if (index === -1) return [];
  const owned: number[] = [];
  for (let pool = index; pool < map.pools; pool += map.shards.length) owned.push(pool);
  return owned;
}

/** The map as ZooKeeper holds it, or null when the cluster has no data path (no FMS shards). */
export async function readPoolMap(coordinator: Coordinator): Promise<PoolMap | null> {
  const node = await coordinator.get(POOL_MAP_PATH);
  if (!node) return null;
  const problem = poolMapProblem(node.data);
  if (problem !== null) throw new TandemError('INVALID_ARGUMENT', `${POOL_MAP_PATH} in ZooKeeper is not a pool map: ${problem}`);
  const map = node.data as PoolMap;
  return { pools: map.pools, shards: [...map.shards] };
}

/**
 * Writes the map once (format). A map already there is kept if it is the same, and is an
 * error if it differs: pools never change under existing files.
 */
export async function formatPoolMap(coordinator: Coordinator, map: PoolMap): Promise<PoolMap> {
  const problem = poolMapProblem(map);
  if (problem !== null) throw new TandemError('INVALID_ARGUMENT', `pool map: ${problem}`);
  await coordinator.ensurePath('/config');
  try {
    await coordinator.create(POOL_MAP_PATH, map, 'persistent');
    return map;
  } catch (err) {
    if ((err as TandemError).code !== 'COORDINATOR_NODE_EXISTS') throw err;
  }
  const existing = (await readPoolMap(coordinator))!;
  if (existing.pools !== map.pools || existing.shards.join(',') !== map.shards.join(',')) {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `the cluster was formatted with ${existing.pools} pools on ${existing.shards.join(', ')}; asked for ${map.pools} on ${map.shards.join(', ')} (pools never change under existing files)`,
    );
  }
  return existing;
}
