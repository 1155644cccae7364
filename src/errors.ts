// The one registry of typed error codes. Every expected failure in Tandem — a bad path, a
// stale epoch, a full queue — travels as a TandemError carrying one of these codes, over
// RPC as `{code, message}` and over HTTP with the status given here. docs/errors.md
// documents each code; test/errors.test.ts fails when one is missing there.

export const ERROR_CODES = {
  // --- namespace
  INVALID_PATH: { httpStatus: 400, message: 'the path is not a valid absolute Tandem path' },
  NOT_FOUND: { httpStatus: 404, message: 'no such file or directory' },
  FILE_EXISTS: { httpStatus: 409, message: 'a file or directory already exists at that path' },
  PARENT_NOT_DIRECTORY: { httpStatus: 409, message: 'a component of the parent path is a file' },
  NOT_DIRECTORY: { httpStatus: 409, message: 'the path is a file, not a directory' },
  IS_DIRECTORY: { httpStatus: 409, message: 'the path is a directory, not a file' },
  DIRECTORY_NOT_EMPTY: { httpStatus: 409, message: 'the directory is not empty and the delete is not recursive' },
  ROOT_NOT_DELETABLE: { httpStatus: 403, message: 'the root directory can never be deleted' },
  RENAME_INTO_SELF: { httpStatus: 400, message: 'a directory cannot be renamed into its own subtree' },
  FILE_NOT_OPEN: { httpStatus: 409, message: 'the file is not under construction' },
  ALREADY_BEING_CREATED: { httpStatus: 409, message: 'the file is open for writing (being written, appended, truncated or concatenated)' },
  PERMISSION_DENIED: { httpStatus: 403, message: 'the caller lacks the permission this operation needs' },
  INVALID_ARGUMENT: { httpStatus: 400, message: 'an argument of the call is missing or malformed' },
  UNSUPPORTED: { httpStatus: 501, message: 'this operation is not supported by this server or client' },
  // --- rpc
  MALFORMED_FRAME: { httpStatus: 400, message: 'the frame could not be decoded as a Tandem RPC message' },
  FRAME_TOO_LARGE: { httpStatus: 413, message: 'the frame is larger than the maximum frame size' },
  UNKNOWN_METHOD: { httpStatus: 404, message: 'the server has no such RPC method' },
  VERSION_MISMATCH: { httpStatus: 400, message: 'the peer speaks an incompatible protocol version' },
  HANDSHAKE_REQUIRED: { httpStatus: 400, message: 'the first frame on a connection must be the version handshake' },
  DEADLINE_EXCEEDED: { httpStatus: 504, message: 'the call did not complete before its deadline' },
  CONNECTION_LOST: { httpStatus: 503, message: 'the connection to the server was lost' },
  TOO_MANY_IN_FLIGHT: { httpStatus: 429, message: 'too many calls are in flight on this connection; back off and retry' },
  UNAUTHENTICATED: { httpStatus: 401, message: 'an internal endpoint needs proof of the cluster secret' },
  // --- server state
  NOT_ACTIVE: { httpStatus: 503, message: 'this master is not the active one for its shard' },
  STALE_EPOCH: { httpStatus: 409, message: 'the request carries an epoch older than the one this node has seen' },
  SHUTTING_DOWN: { httpStatus: 503, message: 'the server is shutting down and takes no new calls' },
  INTERNAL: { httpStatus: 500, message: 'an unexpected internal error' },
  // --- storage
  JOURNAL_CORRUPT: { httpStatus: 500, message: 'an edit log segment is corrupt before its tail' },
  IMAGE_CORRUPT: { httpStatus: 500, message: 'an fsimage file failed its checksum or could not be decoded' },
  NO_VALID_IMAGE: { httpStatus: 500, message: 'no fsimage could be loaded and the edits do not start at txid 1' },
  JOURNAL_GAP: { httpStatus: 500, message: 'the edit log has a gap: a txid range is missing' },
  STORAGE_LOCKED: { httpStatus: 409, message: 'another live process holds the storage directory' },
  // --- coordination (ZooKeeper) and replication
  COORDINATOR_UNAVAILABLE: { httpStatus: 503, message: 'ZooKeeper cannot be reached right now' },
  COORDINATOR_SESSION_EXPIRED: { httpStatus: 503, message: 'the ZooKeeper session expired; its ephemeral nodes are gone' },
  COORDINATOR_NODE_EXISTS: { httpStatus: 409, message: 'the ZooKeeper node already exists' },
  COORDINATOR_NO_NODE: { httpStatus: 404, message: 'the ZooKeeper node does not exist' },
  COORDINATOR_BAD_VERSION: { httpStatus: 409, message: 'the ZooKeeper node changed since it was read (version check failed)' },
  LOG_DIVERGED: { httpStatus: 409, message: 'the follower has edits the active does not have; it must truncate them' },
  NOT_IN_SYNC: { httpStatus: 503, message: 'no in-sync standby can take over without losing acknowledged writes' },
  ADAPTER_UNAVAILABLE: { httpStatus: 503, message: 'none of the adapters in the list answered' },
  // --- file metadata (FMS) and datanodes
  WRONG_SHARD: { httpStatus: 400, message: 'the pool or block belongs to another file-metadata shard' },
  CONCAT_ACROSS_SHARDS: { httpStatus: 400, message: 'concat sources and target are owned by different file-metadata shards' },
  LEASE_MISMATCH: { httpStatus: 409, message: 'the file is not open for writing by this client' },
  SAFE_MODE: { httpStatus: 503, message: 'the file-metadata shard is in safe mode, waiting for block reports' },
  NO_DATANODES: { httpStatus: 503, message: 'not enough live datanodes to place the replicas' },
  BLOCK_NOT_FOUND: { httpStatus: 404, message: 'no replica of that block (at that generation stamp) is here' },
  BLOCK_MISSING: { httpStatus: 503, message: 'no live replica of a block of the file is known' },
  CHECKSUM_MISMATCH: { httpStatus: 500, message: 'a chunk of block data failed its CRC32C check' },
  PIPELINE_FAILED: { httpStatus: 503, message: 'a datanode in the write pipeline failed' },
} as const satisfies Record<string, { httpStatus: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** An expected failure with a stable code. `message` says what happened in this instance. */
export class TandemError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message?: string) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'TandemError';
    this.code = code;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }

  toWire(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }

  /** Rebuilds an error received over the wire; an unknown code becomes INTERNAL. */
  static fromWire(wire: unknown): TandemError {
    const w = (wire ?? {}) as { code?: unknown; message?: unknown };
    const message = typeof w.message === 'string' ? w.message : undefined;
    if (isErrorCode(w.code)) return new TandemError(w.code, message);
    return new TandemError('INTERNAL', `unknown error code ${String(w.code)}: ${message ?? ''}`);
  }
}

/**
 * Words every SAFE_MODE error of a *manual* safe mode carries. An FMS active's automatic
 * safe mode ends on its own within seconds, so clients retry SAFE_MODE; a manual one lasts
 * until an operator ends it, so retrying it until the deadline would only hide the answer.
 */
export const MANUAL_SAFE_MODE_MARK = 'manual safe mode';

/** Throws an assertion failure: a broken invariant stops the process (a standby takes over). */
export function invariant(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${what}`);
}
