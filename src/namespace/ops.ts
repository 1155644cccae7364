// The namespace shard's operations: what clients ask for (over RPC) and what the journal
// records. A mutating op carries everything apply() needs to be deterministic: the
// caller's identity, the retry-cache key and the time chosen by the active.

/** Who is asking. Permission checks use it; the superuser skips them. */
export interface Caller {
  user: string;
  groups: string[];
}

/** Fields every journaled (mutating) op carries. */
export interface MutationBase extends Caller {
  /** Retry-cache key: a client's id and its per-client call number. */
  clientId: string;
  callId: number;
  /** Milliseconds since the epoch, stamped by the active when it accepted the call. */
  time: number;
}

export type NamespaceMutation = MutationBase &
  (
    | { type: 'mkdirs'; path: string; permission?: number }
    | {
        type: 'create';
        path: string;
        overwrite: boolean;
        permission?: number;
        replication?: number;
        blockSize?: number;
      }
    | { type: 'complete'; path: string; fileId: number; length: number }
    | { type: 'delete'; path: string; recursive: boolean }
    | { type: 'rename'; src: string; dst: string }
    | { type: 'setPermission'; path: string; permission: number }
    | { type: 'setOwner'; path: string; owner?: string; group?: string }
    | { type: 'setTimes'; path: string; mtime?: number; atime?: number }
    /** A file's replication factor; false for a directory (HDFS). The FMS follows (client). */
    | { type: 'setReplication'; path: string; replication: number }
    /** Reopens a closed file for writing after its end (HDFS append with NEW_BLOCK). */
    | { type: 'append'; path: string }
    /** Cuts a closed file to newLength; the file stays open until its FMS shard has cut the blocks. */
    | { type: 'truncate'; path: string; newLength: number }
    /** Moves the sources' bytes to the end of target, in order, and removes the sources' names. */
    | { type: 'concat'; target: string; sources: string[] }
    /** The NS active's own op (superuser only): these ids' blocks are freed by their FMS shard. */
    | { type: 'deletesDelivered'; fileIds: number[] }
    /**
     * The NS active's own op (superuser only): a file whose writer's lease expired is closed
     * at the length its FMS shard agreed on. Found by id, wherever it was renamed to.
     */
    | { type: 'recoverLease'; fileId: number; length: number }
  );

export type MutationType = NamespaceMutation['type'];

export interface CreateResult {
  fileId: number;
  pool: number;
}

/**
 * What setReplication, append and truncate answer: the file as the op left it, with what
 * the client needs to carry the op to the file's FMS shard.
 */
export interface FileHandle {
  fileId: number;
  pool: number;
  /** Bytes: for a truncate, the new length. */
  length: number;
  replication: number;
  blockSize: number;
  /** The op took the file into construction (append; a truncate that has work to do). */
  underConstruction: boolean;
}

/** What concat answers: the target (now under construction) and the ids of the removed sources, in order. */
export interface ConcatResult {
  fileId: number;
  pool: number;
  /** The target's length once the sources' bytes are appended. */
  length: number;
  replication: number;
  blockSize: number;
  sources: number[];
}

/** What getFileInfo and listStatus return for one inode. */
export interface FileStatus {
  /** Last path component ('' for the root). */
  name: string;
  type: 'file' | 'directory';
  fileId: number;
  permission: number;
  owner: string;
  group: string;
  mtime: number;
  atime: number;
  /** Files only; 0 for directories. */
  replication: number;
  blockSize: number;
  length: number;
  pool: number;
  /** A file that was created and not yet completed. */
  underConstruction: boolean;
  /** Directories: number of direct children. */
  childrenCount: number;
}

export interface ListingPage {
  entries: FileStatus[];
  /** Entries after the last one returned; 0 when the listing is complete. */
  remaining: number;
}

export interface NameListingPage {
  names: string[];
  /** Names after the last one returned; 0 when the listing is complete. */
  remaining: number;
}

export interface ContentSummary {
  length: number;
  fileCount: number;
  directoryCount: number;
}
