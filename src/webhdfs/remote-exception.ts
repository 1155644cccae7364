// WebHDFS errors: every Tandem error code becomes Hadoop's `RemoteException` JSON, with the
// Java exception class HDFS throws in the same situation and an HTTP status.
//
// Statuses follow Hadoop's ExceptionHandler (IllegalArgumentException and
// UnsupportedOperationException 400, FileNotFoundException 404, other IOExceptions 403,
// RuntimeException 500) for every failure a caller causes. Where Hadoop would answer 403
// for a failure of the server side (a master failing over, safe mode, ZooKeeper down) we
// answer 503 instead — HDFS's own WebHdfsFileSystem retries those on the exception class,
// but load balancers and simple clients only see the status, and 403 tells them "do not
// retry". Timeouts are 504 and backpressure 429 for the same reason.

import { ERROR_CODES, TandemError, type ErrorCode } from '../errors.js';

export interface HadoopException {
  /** The simple class name (Hadoop's `exception` field). */
  exception: string;
  javaClassName: string;
  status: number;
}

const ILLEGAL_ARGUMENT = { exception: 'IllegalArgumentException', javaClassName: 'java.lang.IllegalArgumentException', status: 400 };
const UNSUPPORTED_OPERATION = { exception: 'UnsupportedOperationException', javaClassName: 'java.lang.UnsupportedOperationException', status: 400 };
const FILE_NOT_FOUND = { exception: 'FileNotFoundException', javaClassName: 'java.io.FileNotFoundException', status: 404 };
const IO_FORBIDDEN = { exception: 'IOException', javaClassName: 'java.io.IOException', status: 403 };
const IO_SERVER = { exception: 'IOException', javaClassName: 'java.io.IOException', status: 500 };
const RETRIABLE = { exception: 'RetriableException', javaClassName: 'org.apache.hadoop.ipc.RetriableException', status: 503 };
const STANDBY = { exception: 'StandbyException', javaClassName: 'org.apache.hadoop.ipc.StandbyException', status: 503 };
const LEASE_EXPIRED = { exception: 'LeaseExpiredException', javaClassName: 'org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException', status: 403 };

/** The Hadoop exception for every Tandem code (a Record over ErrorCode: a new code does not compile until it is mapped here). */
export const HADOOP_EXCEPTIONS: Record<ErrorCode, HadoopException> = {
  // --- namespace: what HDFS's FSDirectory / FSNamesystem throw for the same refusal
  INVALID_PATH: { exception: 'InvalidPathException', javaClassName: 'org.apache.hadoop.fs.InvalidPathException', status: 400 },
  NOT_FOUND: FILE_NOT_FOUND,
  FILE_EXISTS: { exception: 'FileAlreadyExistsException', javaClassName: 'org.apache.hadoop.fs.FileAlreadyExistsException', status: 403 },
  PARENT_NOT_DIRECTORY: { exception: 'ParentNotDirectoryException', javaClassName: 'org.apache.hadoop.fs.ParentNotDirectoryException', status: 403 },
  NOT_DIRECTORY: { exception: 'PathIsNotDirectoryException', javaClassName: 'org.apache.hadoop.fs.PathIsNotDirectoryException', status: 403 },
  // HDFS's INodeFile.valueOf: "Path is not a file" is a FileNotFoundException (404).
  IS_DIRECTORY: FILE_NOT_FOUND,
  DIRECTORY_NOT_EMPTY: { exception: 'PathIsNotEmptyDirectoryException', javaClassName: 'org.apache.hadoop.fs.PathIsNotEmptyDirectoryException', status: 403 },
  ROOT_NOT_DELETABLE: IO_FORBIDDEN,
  RENAME_INTO_SELF: IO_FORBIDDEN,
  FILE_NOT_OPEN: LEASE_EXPIRED,
  PERMISSION_DENIED: { exception: 'AccessControlException', javaClassName: 'org.apache.hadoop.security.AccessControlException', status: 403 },
  INVALID_ARGUMENT: ILLEGAL_ARGUMENT,
  UNSUPPORTED: UNSUPPORTED_OPERATION,
  // --- rpc between this gateway and the masters: the caller did nothing wrong
  MALFORMED_FRAME: IO_SERVER,
  FRAME_TOO_LARGE: IO_SERVER,
  UNKNOWN_METHOD: UNSUPPORTED_OPERATION,
  VERSION_MISMATCH: IO_SERVER,
  HANDSHAKE_REQUIRED: IO_SERVER,
  DEADLINE_EXCEEDED: { exception: 'SocketTimeoutException', javaClassName: 'java.net.SocketTimeoutException', status: 504 },
  CONNECTION_LOST: RETRIABLE,
  TOO_MANY_IN_FLIGHT: { ...RETRIABLE, status: 429 },
  // --- server state
  NOT_ACTIVE: STANDBY,
  STALE_EPOCH: STANDBY,
  SHUTTING_DOWN: RETRIABLE,
  INTERNAL: { exception: 'RuntimeException', javaClassName: 'java.lang.RuntimeException', status: 500 },
  // --- storage
  JOURNAL_CORRUPT: IO_SERVER,
  IMAGE_CORRUPT: IO_SERVER,
  NO_VALID_IMAGE: IO_SERVER,
  JOURNAL_GAP: IO_SERVER,
  STORAGE_LOCKED: IO_SERVER,
  // --- coordination
  COORDINATOR_UNAVAILABLE: RETRIABLE,
  COORDINATOR_SESSION_EXPIRED: RETRIABLE,
  COORDINATOR_NODE_EXISTS: IO_SERVER,
  COORDINATOR_NO_NODE: IO_SERVER,
  COORDINATOR_BAD_VERSION: IO_SERVER,
  LOG_DIVERGED: IO_SERVER,
  NOT_IN_SYNC: STANDBY,
  // --- file metadata and datanodes
  WRONG_SHARD: IO_SERVER,
  // HDFS: another client holds the file's lease (append or create over an open file).
  LEASE_MISMATCH: { exception: 'AlreadyBeingCreatedException', javaClassName: 'org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException', status: 403 },
  SAFE_MODE: { exception: 'SafeModeException', javaClassName: 'org.apache.hadoop.hdfs.server.namenode.SafeModeException', status: 503 },
  NO_DATANODES: { ...IO_SERVER, status: 503 },
  BLOCK_NOT_FOUND: { exception: 'ReplicaNotFoundException', javaClassName: 'org.apache.hadoop.hdfs.server.datanode.ReplicaNotFoundException', status: 404 },
  BLOCK_MISSING: { exception: 'BlockMissingException', javaClassName: 'org.apache.hadoop.hdfs.BlockMissingException', status: 503 },
  CHECKSUM_MISMATCH: { exception: 'ChecksumException', javaClassName: 'org.apache.hadoop.fs.ChecksumException', status: 500 },
  PIPELINE_FAILED: { ...IO_SERVER, status: 503 },
  // A WebHDFS user never reaches an internal endpoint; should one answer this, it is a refusal, as Hadoop's SecurityException.
  UNAUTHENTICATED: { exception: 'SecurityException', javaClassName: 'java.lang.SecurityException', status: 401 },
  // No adapter answered a client: a server-side failure the caller may retry.
  ADAPTER_UNAVAILABLE: { ...IO_SERVER, status: 503 },
  ALREADY_BEING_CREATED: { exception: 'AlreadyBeingCreatedException', javaClassName: 'org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException', status: 403 },
  CONCAT_ACROSS_SHARDS: UNSUPPORTED_OPERATION,
};

export interface RemoteExceptionBody {
  RemoteException: { exception: string; javaClassName: string; message: string };
}

/** The status and body for a failure: a TandemError by its code, a fastify error by its status, anything else a 500. */
export function remoteException(err: unknown): { status: number; body: RemoteExceptionBody } {
  const hadoop = hadoopExceptionOf(err);
  const message = err instanceof Error ? err.message : String(err);
  return { status: hadoop.status, body: { RemoteException: { exception: hadoop.exception, javaClassName: hadoop.javaClassName, message } } };
}

function hadoopExceptionOf(err: unknown): HadoopException {
  if (err instanceof TandemError) return HADOOP_EXCEPTIONS[err.code];
  // Errors fastify raises itself before a handler runs (a body over the limit, a bad
  // Content-Length): keep their 4xx status; the class says the request was refused.
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { ...(status === 413 ? IO_FORBIDDEN : ILLEGAL_ARGUMENT), status };
  }
  return HADOOP_EXCEPTIONS.INTERNAL;
}

/** True when the failure is the server's fault (worth a warning in the log), not the caller's. */
export function isServerFailure(err: unknown): boolean {
  if (err instanceof TandemError) return ERROR_CODES[err.code].httpStatus >= 500 || HADOOP_EXCEPTIONS[err.code].status >= 500;
  return hadoopExceptionOf(err).status >= 500;
}
