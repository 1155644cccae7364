// The file-metadata shard's RPC surface: argument schemas, checked with zod at the edge so
// the pure state machine and the block map only see well-typed values.

import { z } from 'zod';
import { parseArgs } from './parse-args.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import { CONCAT_SOURCES_MAX } from '../namespace/file-mutations.js';
import { COPY_FAILURES_PER_HEARTBEAT_MAX } from '../filemeta/block-map.js';

const name = z.string().min(1).max(DEFAULT_LIMITS.nameBytesMax);
const callerFields = { user: name, groups: z.array(name).max(64).default([]) };
const mutationFields = { ...callerFields, clientId: z.string().min(1).max(128), callId: z.number().int().nonnegative() };
const fileId = z.number().int().positive();
const blockId = z.string().min(3).max(128);
const datanodeId = z.string().min(1).max(128);
const length = z.number().int().nonnegative();
const extent = z.object({ blockId, length });
/** Replicas in one report message; a datanode sends a larger full report in pages. */
export const REPORT_REPLICAS_MAX = 50_000;
const replica = z.object({ blockId, genStamp: z.number().int().positive(), length, finalized: z.boolean() });
const hostPort = z.string().min(3).max(300);
/** A copy failure's reason is for logs: the datanode cuts it well below this. */
const COPY_FAILURE_REASON_CHARS_MAX = 1_024;
const copyFailure = z.object({ blockId, target: datanodeId, reason: z.string().max(COPY_FAILURE_REASON_CHARS_MAX) });
const pool = z.number().int().nonnegative();
const blockSize = z.number().int().min(1).max(2 ** 40);
/** As the FMS config's replicationMax (HDFS's default dfs.replication.max). */
const REPLICATION_MAX = 512;
/** Files in one page of fms.listFiles (and ids in one fms.getFiles), and blocks after which a page stops. */
export const LIST_FILES_PER_PAGE_MAX = 1_000;
export const LIST_BLOCKS_PER_PAGE_MAX = 20_000;

export const FILEMETA_SCHEMAS = {
  'fms.addBlock': z.object({
    ...mutationFields,
    fileId,
    pool: z.number().int().nonnegative(),
    replication: z.number().int().min(1).max(32).default(3),
    blockSize: z.number().int().min(1).max(2 ** 40).default(128 * 1024 * 1024),
    previous: extent.nullable().default(null),
    /** Datanodes the client could not reach: not chosen again for this block. */
    excluded: z.array(datanodeId).max(64).default([]),
  }),
  'fms.updatePipeline': z.object({
    ...mutationFields,
    blockId,
    /** Bytes every surviving replica acknowledged. */
    length,
    /** Surviving pipeline members, in pipeline order. */
    survivors: z.array(datanodeId).max(32),
    /** Failed members: never chosen as the replacement. */
    failed: z.array(datanodeId).max(32),
  }),
  'fms.complete': z.object({ ...mutationFields, fileId, last: extent.nullable().default(null) }),
  'fms.deleteFiles': z.object({ ...mutationFields, fileIds: z.array(fileId).max(10_000) }),
  'fms.setReplication': z.object({ ...mutationFields, fileId, replication: z.number().int().min(1).max(REPLICATION_MAX) }),
  /** Reopens a closed file for the caller (its clientId holds the lease); the file's own fields create it when this shard never heard of it. */
  'fms.append': z.object({ ...mutationFields, fileId, pool, replication: z.number().int().min(1).max(REPLICATION_MAX), blockSize }),
  'fms.truncate': z.object({ ...mutationFields, fileId, newLength: length }),
  'fms.concat': z.object({ ...mutationFields, fileId, pool, replication: z.number().int().min(1).max(REPLICATION_MAX), blockSize, sources: z.array(fileId).min(1).max(CONCAT_SOURCES_MAX) }),
  'fms.getBlockLocations': z.object({ ...callerFields, fileId }),
  /** What this shard knows of some files (the namespace's lease recovery asks). */
  'fms.fileStates': z.object({ ...callerFields, fileIds: z.array(fileId).max(10_000) }),
  'fms.reportBadBlock': z.object({ ...callerFields, blockId, datanode: datanodeId }),
  'fms.renewLease': z.object({ ...callerFields, holder: z.string().min(1).max(128) }),
  /** fsck: files with their blocks and replica counts, a page at a time in fileId order. */
  'fms.listFiles': z.object({
    ...callerFields,
    afterFileId: z.number().int().nonnegative().default(0),
    limit: z.number().int().positive().max(LIST_FILES_PER_PAGE_MAX).default(LIST_FILES_PER_PAGE_MAX),
  }),
  /** fsck: these files as fms.listFiles shows them (unknown ids left out). */
  'fms.getFiles': z.object({ ...callerFields, fileIds: z.array(fileId).max(LIST_FILES_PER_PAGE_MAX) }),
  'dn.heartbeat': z.object({
    id: datanodeId,
    rpc: hostPort,
    data: hostPort,
    /** Empty for a datanode that serves no HTTP. */
    http: z.string().max(300),
    capacityBytes: length,
    usedBytes: length,
    /** The highest epoch of this shard the datanode has seen (for logs; the FMS does not need it). */
    epoch: z.number().int().nonnegative(),
    /** Copies (replicate commands) it is running or has queued: the FMS gives it new ones only below its limit. */
    copiesInProgress: z.number().int().nonnegative().default(0),
    /** Replicas it still has to delete: the FMS sends no new delete batch meanwhile. */
    deletesInProgress: z.number().int().nonnegative().default(0),
    /**
     * Copies this member handed it that did not land (BlockMap.copyFailed): each target stops
     * counting as pending, so the block is scheduled again at once. Sent until a heartbeat
     * carrying them is answered; unknown blocks and targets are ignored.
     */
    copyFailures: z.array(copyFailure).max(COPY_FAILURES_PER_HEARTBEAT_MAX).default([]),
  }),
  'dn.blockReport': z.object({
    id: datanodeId,
    /** One full report arrives in pages; they count from 0 and the last says so. */
    reportId: z.string().min(1).max(64),
    page: z.number().int().nonnegative(),
    last: z.boolean(),
    replicas: z.array(replica).max(REPORT_REPLICAS_MAX),
  }),
  'dn.incrementalReport': z.object({
    id: datanodeId,
    received: z.array(replica).max(REPORT_REPLICAS_MAX),
    deleted: z.array(blockId).max(REPORT_REPLICAS_MAX),
  }),
} as const;

export type FileMetaMethod = keyof typeof FILEMETA_SCHEMAS;
export type ArgsOf<M extends FileMetaMethod> = z.output<(typeof FILEMETA_SCHEMAS)[M]>;

export function parseFileMetaArgs<M extends FileMetaMethod>(method: M, args: unknown): ArgsOf<M> {
  return parseArgs(FILEMETA_SCHEMAS[method], method, args) as ArgsOf<M>;
}
