// The file-metadata shard's operations (docs/data-path.md, "FMS state machine"): what the
// journal records and what each answers. Ids, genStamps and pipeline targets are chosen
// by the active before it journals an op (targets travel in the op), so apply() is a
// function of (state, op) alone.

/** Fields every journaled op carries: the retry-cache key, the time the active stamped, and who asked. */
export interface FileMetaMutationBase {
  /** Retry-cache key: a client's id and its per-client call number. */
  clientId: string;
  callId: number;
  /** Milliseconds since the epoch, stamped by the active when it accepted the call. */
  time: number;
  user: string;
}

/** A datanode as a pipeline member: its id and its data-transfer address (HOST:PORT). */
export interface DatanodeRef {
  id: string;
  data: string;
}

/** A block and the length its writer (or lease recovery) settled on. */
export interface BlockExtent {
  blockId: string;
  length: number;
}

export type FileMetaMutation = FileMetaMutationBase &
  (
    | {
        type: 'addBlock';
        fileId: number;
        pool: number;
        /** Used when this call creates the file entry; later calls keep the file's own. */
        replication: number;
        blockSize: number;
        /** The writer's client id: the lease holder. */
        holder: string;
        /** The file's current last (open) block and its final length; null for the first block. */
        previous: BlockExtent | null;
        targets: DatanodeRef[];
      }
    | { type: 'updatePipeline'; blockId: string; holder: string; length: number; targets: DatanodeRef[] }
    | { type: 'complete'; fileId: number; holder: string; last: BlockExtent | null }
    | { type: 'recoverLease'; fileId: number; last: BlockExtent | null }
    | { type: 'deleteFiles'; fileIds: number[] }
    | { type: 'setReplication'; fileId: number; replication: number }
    /** Reopens a closed file for `holder` (an unknown one — empty, never written — is created open). */
    | { type: 'append'; fileId: number; pool: number; replication: number; blockSize: number; holder: string }
    /** Cuts a closed file to newLength: whole blocks past it go; a block it falls inside is cut by the datanodes. */
    | { type: 'truncate'; fileId: number; newLength: number; holder: string }
    /** Moves the sources' blocks, in order, to the end of the target (`pool`…`blockSize` create it when unknown: empty). */
    | { type: 'concat'; fileId: number; pool: number; replication: number; blockSize: number; sources: number[] }
  );

export type FileMetaMutationType = FileMetaMutation['type'];

/** addBlock and updatePipeline. `targets` is the op's own list, echoed. */
export interface PipelineAnswer {
  blockId: string;
  genStamp: number;
  targets: DatanodeRef[];
}

/** complete and recoverLease: the file's final length. */
export interface LengthAnswer {
  length: number;
}

export interface DeleteFilesAnswer {
  /** Files removed by this call (ids that were unknown are not counted). */
  deleted: number;
  /** Blocks of the removed files, in file then block order: the datanodes' copies may go. */
  blocks: string[];
}

/** setReplication: the new factor, and whether this shard knew the file (an empty file never reached it). */
export interface ReplicationAnswer {
  replication: number;
  known: boolean;
}

export interface TruncateAnswer {
  length: number;
  /** True: done (at a block boundary). False: the datanodes cut the last block, and the file closes once they reported it. */
  done: boolean;
  /** Whole blocks past the new length: their replicas may go. */
  removed: string[];
}

/** What a mutation answers (and what the retry cache stores). */
export type FileMetaAnswer = PipelineAnswer | LengthAnswer | DeleteFilesAnswer | ReplicationAnswer | TruncateAnswer;

/** One block as getFile shows it. */
export interface BlockInfo {
  blockId: string;
  genStamp: number;
  length: number;
  /** Bytes of the file before this block. */
  offset: number;
  state: 'open' | 'complete';
}

export interface FileInfo {
  fileId: number;
  pool: number;
  replication: number;
  blockSize: number;
  state: 'open' | 'closed';
  holder: string | null;
  length: number;
  /** A truncate is cutting the last block (the file closes when the datanodes are done). */
  truncating: boolean;
  blocks: BlockInfo[];
}

/** An open file as lease recovery sees it. */
export interface OpenFileInfo {
  fileId: number;
  holder: string;
  /** Being truncated: the active drives it (truncate recovery), the writer's lease does not apply. */
  truncating: boolean;
  /** The open last block, or null when the file has none (no block yet, or reopened by append and none added). */
  last: { blockId: string; genStamp: number; length: number } | null;
}
