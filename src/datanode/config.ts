// A datanode's limits (STYLE.md §5: units last, every buffer and queue bounded). These are
// the data path's own; the metadata masters' limits live in src/config/limits.ts.

export interface DatanodeConfig {
  /** Bytes of block data in one packet (a multiple of chunkBytes). */
  packetDataBytesMax: number;
  /** Bytes covered by one CRC32C (64 KiB by the design); written in every meta file's header. */
  chunkBytes: number;
  /** Largest request or response frame (msgpack payload bytes, without the 4-byte length). */
  requestBytesMax: number;
  /** Packets sent and not yet acknowledged on one pipeline (the window). */
  packetsInFlightMax: number;
  /** Longest block accepted (a larger offset or length is a malformed request). */
  blockBytesMax: number;
  /** Time to open a TCP connection to a datanode and get its reply to the request. */
  connectTimeoutMs: number;
  /** A transfer with no bytes moving in either direction for this long is failed. */
  idleTimeoutMs: number;
  /** Transfers (connections) a datanode serves at once; more are refused with TOO_MANY_IN_FLIGHT. */
  transfersMax: number;
  /** Datanodes in one write pipeline (the replication factor's upper bound). */
  pipelineTargetsMax: number;
  /** Copies ordered by FMS actives (re-replication) running at once; the rest wait (src/datanode/command-runner.ts). */
  copiesInFlightMax: number;
  /** Copies waiting to run, at most; more are dropped and reported failed (the FMS schedules them again at once). */
  copiesQueuedMax: number;
  /** A replica being written starts its dirty pages for the disk after every this many bytes (write-behind; durability still comes at finalize). */
  writeBehindBytes: number;
}

export const DEFAULT_DATANODE_CONFIG: Readonly<DatanodeConfig> = Object.freeze({
  packetDataBytesMax: 1 << 20,
  chunkBytes: 64 << 10,
  requestBytesMax: 64 << 10,
  packetsInFlightMax: 16,
  blockBytesMax: 2 ** 40,
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  transfersMax: 64,
  pipelineTargetsMax: 16,
  copiesInFlightMax: 2,
  copiesQueuedMax: 256,
  writeBehindBytes: 8 << 20,
});

/** The defaults with some limits replaced (tests shrink them); checks the ones that must agree. */
export function datanodeConfigWith(overrides: Partial<DatanodeConfig>): DatanodeConfig {
  const config = { ...DEFAULT_DATANODE_CONFIG, ...overrides };
  if (config.chunkBytes <= 0 || config.packetDataBytesMax % config.chunkBytes !== 0) {
    throw new Error(`invariant broken: packetDataBytesMax ${config.packetDataBytesMax} is not a multiple of chunkBytes ${config.chunkBytes}`);
  }
  if (config.packetsInFlightMax < 1 || config.transfersMax < 1) throw new Error('invariant broken: window and transfers must be ≥ 1');
  if (config.copiesInFlightMax < 1 || config.copiesQueuedMax < 0) throw new Error('invariant broken: copiesInFlightMax must be ≥ 1 and copiesQueuedMax ≥ 0');
  return config;
}
