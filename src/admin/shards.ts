// What every `tandem admin` operation needs: the shards of the cluster (ns and the FMS
// shards of the pool map), their members as ZooKeeper's election line names them, and a
// one-shot call to one member (a standby is not reachable through the client, which only
// talks to actives).

import { TandemError } from '../errors.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import type { Coordinator } from '../election/coordinator.js';
import { readPoolMap } from '../election/pool-map.js';
import { RpcConnection } from '../rpc/connection.js';
import { parseHostPort } from '../util/address.js';
import { readRegistry, type Registry } from '../election/registry.js';

export interface ShardMember {
  member: string;
  rpc: string;
  http: string | null;
  /** Lowest election node first: the active (or the one about to be) is first. */
  node: string;
}

/** ns and the pool map's FMS shards, in that order. */
export async function clusterShards(coordinator: Coordinator): Promise<string[]> {
  return ['ns', ...((await readPoolMap(coordinator))?.shards ?? [])];
}

/** `--shard S` (one of the cluster's) or every shard. */
export function selectShards(all: readonly string[], shard: string | undefined): string[] {
  if (shard === undefined || shard === 'all') return [...all];
  if (!all.includes(shard)) throw new TandemError('INVALID_ARGUMENT', `no shard "${shard}" in this cluster (it has ${all.join(', ')})`);
  return [shard];
}

export function membersOf(registry: Registry, shard: string): ShardMember[] {
  return (registry.shards[shard]?.election ?? [])
    .filter((e) => typeof e.member === 'string' && typeof e.rpc === 'string')
    .map((e) => ({ member: e.member!, rpc: e.rpc!, http: e.http ?? null, node: e.node }));
}

export async function readShardRegistry(coordinator: Coordinator, shard?: string): Promise<{ shards: string[]; registry: Registry }> {
  const shards = selectShards(await clusterShards(coordinator), shard);
  return { shards, registry: await readRegistry(coordinator, shards) };
}

/** One call to one member on a connection of its own, closed after. */
export async function callMember<T>(
  rpc: string,
  method: string,
  args: unknown,
  deadlineMs = 10_000,
  opts: { clientName?: string; connectTimeoutMs?: number } = {},
): Promise<T> {
  const { host, port } = parseHostPort(rpc);
  const conn = await RpcConnection.connect(host, port, {
    limits: DEFAULT_LIMITS,
    clientName: opts.clientName ?? 'tandem admin',
    ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
  });
  try {
    return await conn.call<T>(method, args, { deadlineMs });
  } finally {
    conn.close();
  }
}
