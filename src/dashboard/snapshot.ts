// What the dashboard shows, as one JSON document (`GET /dashboard.json`): built by the
// ClusterWatch (cluster-watch.ts) once a second, drawn by the page (page.ts). Ages, not
// times, wherever a reader's clock could disagree with a server's; `atMs` fields are the
// watch's own wall clock, used only to lay points out on a time axis.

export interface DashboardSnapshot {
  /** The watch's wall clock when this snapshot was answered, ms. */
  nowMs: number;
  registry: {
    /** True when the last read of the registry failed (ZooKeeper unreachable): everything below is the cache. */
    stale: boolean;
    /** How old the registry shown is, ms (0 right after a good read); null before the first read. */
    ageMs: number | null;
    /** Why the last read failed, when stale. */
    error: string | null;
  };
  shards: ShardView[];
  datanodes: DatanodeView[];
  /** Newest last; at most WatchLimits.failoversMax. */
  failovers: FailoverEvent[];
  /** The window the charts cover, ms. */
  seriesWindowMs: number;
}

export type MemberRole = 'active' | 'standby' | 'candidate' | 'gone';

export interface MemberView {
  member: string;
  rpc: string | null;
  /**
   * active: holds /shards/<s>/active. standby: in the election behind it. candidate: in the
   * in-sync set or once active, no election node now. gone: was seen, no longer anywhere.
   */
  role: MemberRole;
  /** The first standby (`/shards/<s>/standby`). */
  firstStandby: boolean;
  inIsr: boolean;
  /** The active's applied txid, or a standby's durable txid as the active last reported it. */
  txid: number | null;
  /** Records the standby is behind the active (0 for the active). */
  lagTxids: number | null;
  /** The standby's acknowledgement lag, median, ms. */
  lagMsP50: number | null;
  /** Whether the active's replication stream to this standby is up. */
  streaming: boolean | null;
}

export interface ShardView {
  shard: string;
  epoch: number | null;
  active: string | null;
  isr: string[];
  members: MemberView[];
  /** From the active's admin.status, the last time it answered. */
  status: {
    committedTxid: number;
    appliedTxid: number;
    /** How old these figures are, ms. */
    ageMs: number;
    /** Why the last poll failed, if it did. */
    error: string | null;
  } | null;
  /** Committed txids per second over the last poll interval; null until two polls. */
  txidsPerSec: number | null;
  /** Series for the charts, oldest first: [atMs, value]. */
  throughput: Array<[number, number]>;
  /** The most any standby is behind, records. */
  lag: Array<[number, number]>;
}

export interface DatanodeView {
  id: string;
  http: string | null;
  /** Has an ephemeral node under /datanodes (null: not known, e.g. the source lists none). */
  registered: boolean | null;
  /** Heard within the heartbeat deadline by the FMS active that heard it last. */
  live: boolean | null;
  capacityBytes: number | null;
  usedBytes: number | null;
  /** Replicas recorded on it, over every file-metadata shard. */
  blocks: number | null;
  /** Since its last heartbeat to any FMS active, ms; null when no FMS active has heard it. */
  lastHeartbeatAgoMs: number | null;
}

export interface FailoverEvent {
  shard: string;
  /** When the watch saw the new active, wall clock ms. */
  atMs: number;
  from: string | null;
  to: string;
  fromEpoch: number | null;
  toEpoch: number;
  /** From the first poll that saw no active (or the old one) to the first that saw the new one, ms; null if never seen without one. */
  noActiveMs: number | null;
}
