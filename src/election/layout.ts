// The ZooKeeper layout of DESIGN §5 (under the cluster's chroot), and the pure decisions
// taken from it: where a member stands in its shard's election, and what the in-sync set
// becomes at a takeover. No I/O here, so the seeded simulation uses the same code.

/** `/datanodes/<id>`: one ephemeral node per live datanode, `{id, rpc, data, http, capacityBytes}`. */
export const DATANODES_PATH = '/datanodes';
/** Persistent `{datanodes: [id…]}`: the datanodes being decommissioned (`tandem admin decommission`). */
export const DECOMMISSION_PATH = '/config/decommission';

export interface DecommissionList {
  datanodes: string[];
}

/** `/adapters/<id>`: one ephemeral node per live adapter, `{id, rpc, http, pid}`. */
export const ADAPTERS_PATH = '/adapters';

export interface MemberInfo {
  member: string;
  /** host:port of the member's RPC server */
  rpc: string;
  http?: string;
  /**
   * Identifies the member's storage directory (random, made with it). A member restarted on
   * an empty disk has a new one, so it is not mistaken for the in-sync replica it was.
   */
  storageId?: string;
}

/**
 * A replica's identity in the in-sync set: the member's name and its storage id. Being in
 * the ISR is a claim about the data on a disk, not about a name: a member restarted with
 * an empty directory must catch up and be added again before it may take over.
 */
export function replicaId(info: Pick<MemberInfo, 'member' | 'storageId'>): string {
  return info.storageId ? `${info.member}#${info.storageId}` : info.member;
}

/** The member name of a replica id (`m2#3fa9c1d2` → `m2`). */
export function memberOfReplica(id: string): string {
  const hash = id.indexOf('#');
  return hash === -1 ? id : id.slice(0, hash);
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
  /** Persistent: the last active a monitor saw die, `FencedActive` (see activeFenced). */
  fenced: string;
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
    fenced: `${root}/fenced`,
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

/**
 * `/shards/<s>/fenced`, written by the monitor of a master that died while it held `active`:
 * the process that was the active of `epoch` is gone (its PID no longer runs, as the monitor
 * beside it saw), so it can answer nothing any more — no read under its lease either.
 */
export interface FencedActive {
  member: string;
  epoch: number;
  /** The dead master's PID, and when its monitor saw it gone (wall clock, for operators). */
  pid: number;
  atMs: number;
}

/**
 * Whether the active whose read lease a taking-over member would wait out is known dead. That
 * active is the one of the ISR's epoch: every takeover writes the ISR with its epoch before
 * it serves, and waited out (or found dead) the lease of the active before it. The ISR read
 * here must be the one the takeover then overwrites, version-checked: no other takeover can
 * come between. A fenced record of any other epoch says nothing about this one.
 */
export function activeFenced(isr: IsrData, fenced: FencedActive | null): boolean {
  return fenced !== null && fenced.epoch === isr.epoch;
}

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

export type TakeoverDecision =
  /** Step to the back of the line; `catchUpFirst`: wait a little first (not in sync yet). */
  | { kind: 'step-back'; reason: string; catchUpFirst: boolean }
  /** Take over with `epoch`, writing `isr` (version-checked) before anything else. */
  | { kind: 'take-over'; epoch: number; isr: string[]; releasedByHandover: boolean };

/**
 * What the member first in line does (DESIGN §4). Only an in-sync member may take over (it
 * holds every committed record); during a graceful hand-over to another member still in
 * the election, it steps back. Otherwise it takes the next epoch and an in-sync set of
 * itself and the in-sync members still in the election.
 */
export function decideTakeover(input: {
  me: string;
  isr: IsrData;
  epochCounter: number;
  promisedEpoch: number;
  electionMembers: ReadonlySet<string>;
  /** A fresh hand-over hint, if any. */
  handoverTo: string | null;
}): TakeoverDecision {
  const { me, isr } = input;
  if (!isr.members.includes(me)) {
    return {
      kind: 'step-back',
      catchUpFirst: true,
      reason: `first in line but not in the in-sync set [${isr.members.join(', ')}]: stepping to the back of the line to catch up`,
    };
  }
  if (input.handoverTo !== null && input.handoverTo !== me && input.electionMembers.has(input.handoverTo)) {
    return { kind: 'step-back', catchUpFirst: false, reason: `hand-over to ${input.handoverTo} in progress: stepping back in line` };
  }
  return {
    kind: 'take-over',
    epoch: nextEpoch(input.epochCounter, isr, input.promisedEpoch),
    isr: isrAtTakeover(isr, me, input.electionMembers),
    releasedByHandover: input.handoverTo === me,
  };
}
