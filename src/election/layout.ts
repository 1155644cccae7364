// The ZooKeeper layout of DESIGN §5 (under the cluster's chroot), and the pure decisions
// taken from it: where a member stands in its shard's election, and what the in-sync set
// becomes at a takeover. No I/O here, so the seeded simulation uses the same code.

export interface MemberInfo {
  member: string;
  /** host:port of the member's RPC server */
  rpc: string;
  http?: string;
}

export interface ActiveInfo extends MemberInfo {
  epoch: number;
}

/** `/shards/<s>/isr`: written only by the active, version-checked. */
export interface IsrData {
  /** The epoch of the active that wrote it. */
  epoch: number;
  /** Members holding every committed record; only they may take over. Includes the active. */
  members: string[];
}

export function shardPaths(shard: string): {
  root: string;
  election: string;
  active: string;
  standby: string;
  monitor: string;
  epoch: string;
  isr: string;
  /** Persistent hint of a graceful hand-over: `{to, fromEpoch, atMs}` (see HaMember.handOver). */
  handover: string;
  /** Persistent copies of active/standby/monitor: the last non-null value of each (Peta2's `lastNotNull`). */
  lastNotNull: (entry: RegistryEntry) => string;
} {
  const root = `/shards/${shard}`;
  return {
    root,
    election: `${root}/election`,
    active: `${root}/active`,
    standby: `${root}/standby`,
    monitor: `${root}/monitor`,
    epoch: `${root}/epoch`,
    isr: `${root}/isr`,
    handover: `${root}/handover`,
    lastNotNull: (entry) => `${root}/last/${entry}`,
  };
}

export interface HandoverHint {
  to: string;
  fromEpoch: number;
  /** Wall-clock ms when written; a hint older than HANDOVER_HINT_TTL_MS is ignored. */
  atMs: number;
}

export const HANDOVER_HINT_TTL_MS = 10_000;

export const REGISTRY_ENTRIES = ['active', 'standby', 'monitor'] as const;
export type RegistryEntry = (typeof REGISTRY_ENTRIES)[number];

export const ELECTION_PREFIX = 'n_';

/** ZooKeeper's sequence number of an election node name (`n_0000000042` → 42), NaN if not one. */
export function sequenceOf(name: string): number {
  if (!name.startsWith(ELECTION_PREFIX)) return NaN;
  const digits = name.slice(ELECTION_PREFIX.length);
  return /^\d+$/.test(digits) ? Number(digits) : NaN;
}

export interface ElectionPosition {
  /** 0: this member leads (should be active); 1: first standby; … */
  rank: number;
  /** The node just before this one, which this member watches (null when it leads). */
  predecessor: string | null;
  /** Every election node, lowest sequence first. */
  sorted: string[];
}

/** Where `mine` stands among `children`; null if `mine` is not among them (the node is gone). */
export function electionPosition(children: readonly string[], mine: string): ElectionPosition | null {
  const sorted = children.filter((c) => !Number.isNaN(sequenceOf(c))).sort((a, b) => sequenceOf(a) - sequenceOf(b));
  const rank = sorted.indexOf(mine);
  if (rank === -1) return null;
  return { rank, predecessor: rank === 0 ? null : sorted[rank - 1]!, sorted };
}

/**
 * The ISR a new active writes when it takes over: the old in-sync members that are still in
 * the election (a member gone from the election cannot be streaming), plus itself.
 */
export function isrAtTakeover(old: IsrData, self: string, electionMembers: ReadonlySet<string>): string[] {
  const kept = old.members.filter((m) => m === self || electionMembers.has(m));
  return kept.includes(self) ? kept : [...kept, self];
}

/** The epoch a new active takes: above every epoch anyone has recorded. */
export function nextEpoch(counter: number, isr: IsrData | null, promised: number): number {
  return Math.max(counter, isr?.epoch ?? 0, promised) + 1;
}
