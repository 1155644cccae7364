// The registry of DESIGN §1 and §5 as one JSON document: for every shard, each entry
// (active, standby, monitor) with its `current` value (the ephemeral node, null when
// nobody holds it) and `lastNotNull` (the persistent copy its last holder wrote), plus the
// epoch, the in-sync set and the election line. `tandem admin status --registry --zk` prints it; the
// adapter issue serves the same shape.
import type { Coordinator } from '../election/coordinator.js';
import { electionPosition, REGISTRY_ENTRIES, shardPaths, type IsrData, type MemberInfo, type RegistryEntry } from '../election/layout.js';

export interface RegistryValue<T = unknown> {
  current: T | null;
  lastNotNull: T | null;
}

export interface ShardRegistry extends Record<RegistryEntry, RegistryValue> {
  epoch: number | null;
  isr: IsrData | null;
  /** Election nodes, lowest (the active's) first. */
  election: Array<{ node: string } & Partial<MemberInfo>>;
}

export interface Registry {
  readAt: string;
  shards: Record<string, ShardRegistry>;
}

export async function readRegistry(coordinator: Coordinator, shards: readonly string[]): Promise<Registry> {
  const out: Registry = { readAt: new Date().toISOString(), shards: {} };
  for (const shard of shards) {
    const paths = shardPaths(shard);
    const entry = async (name: RegistryEntry): Promise<RegistryValue> => ({
      current: (await coordinator.get(paths[name]))?.data ?? null,
      lastNotNull: (await coordinator.get(paths.lastNotNull(name)))?.data ?? null,
    });
    const [active, standby, monitor] = await Promise.all(REGISTRY_ENTRIES.map(entry));
    const children = await coordinator.children(paths.election).catch(() => [] as string[]);
    const sorted = children.length > 0 ? (electionPosition(children, children[0]!)?.sorted ?? []) : [];
    const election = await Promise.all(
      sorted.map(async (node) => ({ node, ...((await coordinator.get<MemberInfo>(`${paths.election}/${node}`))?.data ?? {}) })),
    );
    out.shards[shard] = {
      active: active!,
      standby: standby!,
      monitor: monitor!,
      epoch: (await coordinator.get<number>(paths.epoch))?.data ?? null,
      isr: (await coordinator.get<IsrData>(paths.isr))?.data ?? null,
      election,
    };
  }
  return out;
}
