// The registry of DESIGN §1 and §5 as one JSON document: for every shard, each entry
// (active, standby, monitor) with its `current` value (the ephemeral node, null when
// nobody holds it) and `lastNotNull` (the persistent copy its last holder wrote), plus the
// epoch, the in-sync set and the election line. `tandem admin status --registry --zk` prints it; the
// adapter (src/adapter/) keeps it cached and serves the same shape.
import type { TandemError } from '../errors.js';
import type { Coordinator, Watcher } from './coordinator.js';
import { electionPosition, REGISTRY_ENTRIES, shardPaths, type IsrData, type MemberInfo, type RegistryEntry } from './layout.js';

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

export interface ReadRegistryOptions {
  /**
   * A one-shot watch to set on `path` (each entry's ephemeral node and the election line),
   * or undefined for none. The caller decides, so that it never piles up watches on a path
   * whose last one has not fired yet.
   */
  watch?: (path: string) => Watcher | undefined;
  /** The read of `path` failed, so the watch asked for there was not set. */
  watchNotSet?: (path: string) => void;
}

export async function readRegistry(coordinator: Coordinator, shards: readonly string[], opts: ReadRegistryOptions = {}): Promise<Registry> {
  const out: Registry = { readAt: new Date().toISOString(), shards: {} };
  const watch = opts.watch ?? (() => undefined);
  // Shards in parallel: the adapter reads the whole registry on every change it watches.
  const readShard = async (shard: string): Promise<ShardRegistry> => {
    const paths = shardPaths(shard);
    const watchedGet = async (path: string): Promise<unknown> => {
      const watcher = watch(path);
      try {
        return (await coordinator.get(path, watcher))?.data ?? null;
      } catch (err) {
        if (watcher) opts.watchNotSet?.(path);
        throw err;
      }
    };
    const entry = async (name: RegistryEntry): Promise<RegistryValue> => ({
      current: await watchedGet(paths[name]),
      lastNotNull: (await coordinator.get(paths.lastNotNull(name)))?.data ?? null,
    });
    const [active, standby, monitor] = await Promise.all(REGISTRY_ENTRIES.map(entry));
    // No election node yet (a shard nobody has joined): no line, and no watch set there.
    const electionWatch = watch(paths.election);
    const children = await coordinator.children(paths.election, electionWatch).catch((err: unknown) => {
      if (electionWatch) opts.watchNotSet?.(paths.election);
      // Only a missing node is an empty line: any other failure fails the read, or a
      // transient error would pass for a shard with no members (and the adapter's cache
      // would serve that as fresh).
      if ((err as TandemError).code !== 'COORDINATOR_NO_NODE') throw err;
      return [] as string[];
    });
    const sorted = children.length > 0 ? (electionPosition(children, children[0]!)?.sorted ?? []) : [];
    const election = await Promise.all(
      sorted.map(async (node) => ({ node, ...((await coordinator.get<MemberInfo>(`${paths.election}/${node}`))?.data ?? {}) })),
    );
    return {
      active: active!,
      standby: standby!,
      monitor: monitor!,
      epoch: (await coordinator.get<number>(paths.epoch))?.data ?? null,
      isr: (await coordinator.get<IsrData>(paths.isr))?.data ?? null,
      election,
    };
  };
  const registries = await Promise.all(shards.map(readShard));
  shards.forEach((shard, i) => (out.shards[shard] = registries[i]!));
  return out;
}
