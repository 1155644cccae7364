// Hadoop's WebHDFS JSON shapes (JsonUtil.java), built from Tandem's types.
import type { ContentSummary, FileStatus } from '../namespace/ops.js';
import type { FileChecksum } from '../client/file-checksum.js';

export interface HadoopFileStatus {
  accessTime: number;
  blockSize: number;
  childrenNum: number;
  fileId: number;
  group: string;
  length: number;
  modificationTime: number;
  owner: string;
  pathSuffix: string;
  /** Octal, no leading zero ("755", "1777"). */
  permission: string;
  replication: number;
  storagePolicy: number;
  type: 'FILE' | 'DIRECTORY';
}

/**
 * One FileStatus. `pathSuffix` is '' for the path asked about (GETFILESTATUS, or LISTSTATUS
 * of a file) and the child's name in a directory listing.
 */
export function hadoopFileStatus(status: FileStatus, pathSuffix: string): HadoopFileStatus {
  const file = status.type === 'file';
  return {
    accessTime: status.atime,
    blockSize: file ? status.blockSize : 0,
    childrenNum: file ? 0 : status.childrenCount,
    fileId: status.fileId,
    group: status.group,
    length: file ? status.length : 0,
    modificationTime: status.mtime,
    owner: status.owner,
    pathSuffix,
    permission: status.permission.toString(8),
    replication: file ? status.replication : 0,
    storagePolicy: 0,
    type: file ? 'FILE' : 'DIRECTORY',
  };
}

export const fileStatusesJson = (statuses: HadoopFileStatus[]): { FileStatuses: { FileStatus: HadoopFileStatus[] } } => ({ FileStatuses: { FileStatus: statuses } });

/**
 * ContentSummary. Tandem keeps no quotas (-1: none, as HDFS says for an unset quota) and
 * no per-storage-type usage; spaceConsumed is the logical length, since the namespace
 * does not sum length × replication (documented in docs/webhdfs.md).
 */
export function contentSummaryJson(summary: ContentSummary): { ContentSummary: Record<string, unknown> } {
  return {
    ContentSummary: {
      directoryCount: summary.directoryCount,
      fileCount: summary.fileCount,
      length: summary.length,
      quota: -1,
      spaceConsumed: summary.length,
      spaceQuota: -1,
      typeQuota: {},
    },
  };
}

export function fileChecksumJson(checksum: FileChecksum): { FileChecksum: { algorithm: string; bytes: string; length: number } } {
  return { FileChecksum: { algorithm: checksum.algorithm, bytes: checksum.bytes, length: checksum.length } };
}
