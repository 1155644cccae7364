// Every limit in Tandem lives here, units last in the name (STYLE.md §5). A full queue
// answers with a backpressure error; nothing grows without bound.

export interface Limits {
  /** Largest RPC frame accepted or sent, payload bytes (excluding the 4-byte length). */
  frameBytesMax: number;
  /** Calls a server will hold in flight on one connection before answering TOO_MANY_IN_FLIGHT. */
  inFlightPerConnectionMax: number;
  /** Open client connections a server accepts. */
  connectionsMax: number;
  /** Calls a server holds in flight over all its connections (connectionsMax × per-connection is far too many). */
  inFlightTotalMax: number;
  /** Time a client waits for the handshake reply, and a server waits for a new connection's hello. */
  handshakeTimeoutMs: number;
  /** Default per-call deadline when the caller sets none. */
  callDeadlineMs: number;
  /** Bytes of edit records written by one group commit (one write + one fdatasync). */
  groupCommitBytesMax: number;
  /** Records appended but not yet durable before new writes are refused with backpressure... */
  journalPendingRecordsMax: number;
  /** ...and their bytes. */
  journalPendingBytesMax: number;
  /** An in-progress segment is rolled when it reaches this size... */
  segmentBytesMax: number;
  /** ...or this age. */
  segmentRollIntervalMs: number;
  /** Retry cache: entries older than this (by op time) are dropped. */
  retryCacheAgeMs: number;
  /**
   * Retry cache: at most this many entries; the oldest go first. An entry costs about
   * 250 bytes of heap, so this bounds the cache near 50 MB. It must cover the calls a
   * client may still retry: at 30k mutations/s, 200k entries are the last ~7 s of peak
   * traffic (a failover's retries come within ~1 s), and far longer at ordinary rates.
   */
  retryCacheEntriesMax: number;
  /** listStatus returns at most this many entries per page. */
  listPageEntriesMax: number;
  /** Longest path accepted, in UTF-8 bytes, and deepest. */
  pathBytesMax: number;
  pathDepthMax: number;
  /** Longest single path component in UTF-8 bytes. */
  nameBytesMax: number;
  /** Retention: images and edits younger than this are always kept. */
  retentionAgeMs: number;
  /** Retention: at least this many newest images are always kept. */
  imagesRetainedMin: number;
  /** How long a stopping master waits for in-flight calls to drain. */
  drainTimeoutMs: number;
  /** Records in one replication message from the active to a standby. */
  replicationBatchRecordsMax: number;
  /** Replication messages in flight to one standby (a pipeline, so the stream never waits a round trip). */
  replicationBatchesInFlightMax: number;
  /** Recent records the active keeps in memory for standbys; one further behind is fed from disk. */
  replicationTailRecordsMax: number;
  /** The active sends an empty replication message (a heartbeat) after this long without one. */
  heartbeatIntervalMs: number;
  /**
   * An in-sync standby that has not acknowledged a record this long after it was sent is
   * removed from the ISR (in ZooKeeper, version-checked) so the active can commit without it.
   */
  isrLagMaxMs: number;
  /**
   * Read lease: the active answers reads while every in-sync standby acknowledged a message
   * it sent less than this long ago. A standby taking over first waits this long after the
   * last message it had from the old active, so the two never both serve.
   */
  readLeaseMs: number;
  /** Largest fsimage an image server accepts in an upload (a million files make ~65 MB). */
  imageBytesMax: number;
  /** A standby writes a checkpoint (and uploads it to the active) this often... */
  checkpointIntervalMs: number;
  /**
   * ...or after this many txids since the last image, whichever comes first. A restarted
   * member replays at most this many edits (~50k/s), so it bounds how long a restart keeps
   * a member out of the ISR: 200k ≈ 4 s.
   */
  checkpointTxids: number;
  /**
   * The shard's active raises the image-edit-distance alert when its newest edit is more
   * than this many edit segments past its newest image (DESIGN §1: Peta2 alerted at 100
   * versions apart). The checkpoint-overdue alert fires at twice checkpointIntervalMs.
   */
  alertSegmentsSinceImageMax: number;
  /** The active compares its digest with every standby's this often (`admin verify` on a schedule); 0: never. */
  verifyIntervalMs: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  frameBytesMax: 16 * 1024 * 1024,
  inFlightPerConnectionMax: 4096,
  connectionsMax: 1024,
  inFlightTotalMax: 65_536,
  handshakeTimeoutMs: 5_000,
  callDeadlineMs: 30_000,
  groupCommitBytesMax: 4 * 1024 * 1024,
  journalPendingRecordsMax: 200_000,
  journalPendingBytesMax: 256 * 1024 * 1024,
  segmentBytesMax: 64 * 1024 * 1024,
  segmentRollIntervalMs: 60_000,
  retryCacheAgeMs: 10 * 60_000,
  retryCacheEntriesMax: 200_000,
  listPageEntriesMax: 1_000,
  pathBytesMax: 8 * 1024,
  pathDepthMax: 256,
  nameBytesMax: 255,
  retentionAgeMs: 7 * 24 * 3600_000,
  imagesRetainedMin: 2,
  drainTimeoutMs: 10_000,
  replicationBatchRecordsMax: 4_096,
  replicationBatchesInFlightMax: 4,
  replicationTailRecordsMax: 200_000,
  heartbeatIntervalMs: 100,
  isrLagMaxMs: 1_000,
  readLeaseMs: 400,
  imageBytesMax: 1024 * 1024 * 1024,
  checkpointIntervalMs: 3_600_000,
  checkpointTxids: 200_000,
  alertSegmentsSinceImageMax: 100,
  verifyIntervalMs: 3_600_000,
});

export function limitsWith(overrides: Partial<Limits> = {}): Limits {
  return { ...DEFAULT_LIMITS, ...overrides };
}
