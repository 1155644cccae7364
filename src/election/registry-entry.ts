// Publishing a registry entry (DESIGN §1, §5): the ephemeral `active` / `standby` / `monitor`
// node of a shard, and its persistent last-not-null copy under `last/`. The masters
// (src/master/ha-member.ts) and the monitors (src/monitor/monitor.ts) both publish this way.

import type { TandemError } from '../errors.js';
import type { Coordinator } from './coordinator.js';
import { shardPaths, type RegistryEntry } from './layout.js';

/**
 * Writes the last-not-null copy, then the ephemeral entry (updated in place if this session
 * holds it, else taken over). The entry is read while the copy is written: two round trips to
 * ZooKeeper, not four, which a takeover's `active` waited for.
 */
export async function publishRegistryEntry(coordinator: Coordinator, shard: string, entry: RegistryEntry, data: unknown): Promise<void> {
  const paths = shardPaths(shard);
  const last = paths.lastNotNull(entry);
  const lastWritten = coordinator.set(last, data, -1).catch(async (err: unknown) => {
    if ((err as TandemError).code !== 'COORDINATOR_NO_NODE') throw err;
    // The first entry of its kind: make the copy (and its folder).
    await coordinator.ensurePath(last.slice(0, last.lastIndexOf('/')));
    await coordinator.create(last, data, 'persistent').catch(() => undefined);
  });
  const path = paths[entry];
  const [, existing] = await Promise.all([lastWritten, coordinator.get(path)]);
  if (existing && existing.ephemeralOwner === coordinator.sessionId) {
    await coordinator.set(path, data, existing.version);
    return;
  }
  if (existing) await coordinator.delete(path, existing.version).catch(() => undefined);
  await coordinator.create(path, data, 'ephemeral');
}
