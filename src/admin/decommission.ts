// `tandem admin decommission DATANODE`: the datanode goes on the decommission list in
// ZooKeeper (/config/decommission, version-checked), which every FMS member follows; each
// FMS active then places nothing new there and copies every block it holds elsewhere
// (src/filemeta/block-map.ts). It is decommissioned once no FMS active has a block waiting
// for a replica elsewhere; it keeps serving reads all along, and leaves the list only when
// the operator cancels (or removes the datanode for good).

import { TandemError } from '../errors.js';
import type { Coordinator } from '../election/coordinator.js';
import { DECOMMISSION_PATH, type DecommissionList } from '../election/layout.js';
import type { TandemClient } from '../client/tandem-client.js';
import { clusterShards } from './shards.js';

const UPDATE_ATTEMPTS_MAX = 10;
const PROGRESS_POLL_MS = 500;

/** Adds (or removes) a datanode on the decommission list; retried on a concurrent change. */
export async function setDecommission(coordinator: Coordinator, datanode: string, on: boolean): Promise<string[]> {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(datanode)) throw new TandemError('INVALID_ARGUMENT', `not a datanode id: "${datanode}"`);
  await coordinator.ensurePath('/config');
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS_MAX; attempt++) {
    const node = await coordinator.get<DecommissionList>(DECOMMISSION_PATH);
    const current = new Set(node?.data?.datanodes ?? []);
    if (on) current.add(datanode);
    else current.delete(datanode);
    const next: DecommissionList = { datanodes: [...current].sort() };
    try {
      if (node) await coordinator.set(DECOMMISSION_PATH, next, node.version);
      else await coordinator.create(DECOMMISSION_PATH, next, 'persistent');
      return next.datanodes;
    } catch (err) {
      const code = (err as TandemError).code;
      if (code !== 'COORDINATOR_BAD_VERSION' && code !== 'COORDINATOR_NODE_EXISTS') throw err;
    }
  }
  throw new TandemError('COORDINATOR_BAD_VERSION', `${DECOMMISSION_PATH} kept changing under us`);
}

export interface DecommissionState {
  datanode: string;
  state: 'decommissioning' | 'decommissioned';
  /** Its replicas of complete blocks, over every FMS shard. */
  replicas: number;
  /** Blocks still lacking their replication elsewhere. */
  waiting: number;
  /** Of those, blocks whose replication exceeds the datanodes left in service: they wait until more datanodes join. */
  stuck: number;
  /** FMS shards whose active has not reported on it yet (just started, or no active). */
  unknownShards: string[];
}

export async function decommissionStatus(coordinator: Coordinator, client: TandemClient): Promise<DecommissionState[]> {
  const list = (await coordinator.get<DecommissionList>(DECOMMISSION_PATH))?.data?.datanodes ?? [];
  if (list.length === 0) return [];
  const shards = (await clusterShards(coordinator)).filter((s) => s !== 'ns');
  const progress = await Promise.all(
    shards.map(async (shard) => {
      try {
        const status = await client.activeOf(shard).call<{ decommission?: Record<string, { replicas: number; waiting: number; stuck?: number }> | null }>('admin.status', {}, { deadlineMs: 5_000 });
        return { shard, decommission: status.decommission ?? null };
      } catch {
        return { shard, decommission: null };
      }
    }),
  );
  return list.map((datanode) => {
    let replicas = 0;
    let waiting = 0;
    let stuck = 0;
    const unknownShards: string[] = [];
    for (const p of progress) {
      const entry = p.decommission?.[datanode];
      if (!entry) unknownShards.push(p.shard);
      else {
        replicas += entry.replicas;
        waiting += entry.waiting;
        stuck += entry.stuck ?? 0;
      }
    }
    return { datanode, state: waiting === 0 && unknownShards.length === 0 ? 'decommissioned' : 'decommissioning', replicas, waiting, stuck, unknownShards };
  });
}

/** Polls until the datanode is decommissioned (or the timeout), reporting progress when it changes. */
export async function waitForDecommission(coordinator: Coordinator, client: TandemClient, datanode: string, timeoutMs: number, say: (line: string) => void): Promise<DecommissionState> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const state = (await decommissionStatus(coordinator, client)).find((s) => s.datanode === datanode);
    if (!state) throw new TandemError('NOT_FOUND', `${datanode} is not on the decommission list`);
    const line = `${datanode}: ${state.state}, ${state.waiting} of ${state.replicas} blocks waiting for a replica elsewhere${state.stuck > 0 ? ` (${state.stuck} need more datanodes in service than are left: add datanodes or lower their replication)` : ''}${state.unknownShards.length > 0 ? ` (no report yet from ${state.unknownShards.join(', ')})` : ''}`;
    if (line !== last) say(line);
    last = line;
    if (state.state === 'decommissioned') return state;
    if (Date.now() >= until) throw new TandemError('DEADLINE_EXCEEDED', `${datanode} is still decommissioning after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, PROGRESS_POLL_MS));
  }
}
