// The namespace shard's replicated state and the configuration of the machine that
// applies ops to it.

import { DEFAULT_LIMITS } from '../config/limits.js';
import { RetryCache } from '../replication/retry-cache.js';
import { newDirectory, ROOT_INODE_ID, FIRST_INODE_ID, type Inode } from './inode.js';
import type { ConcatResult, CreateResult, FileHandle } from './ops.js';
import type { PathLimits } from './paths.js';

export interface NamespaceConfig extends PathLimits {
  retryCacheAgeMs: number;
  retryCacheEntriesMax: number;
  listPageEntriesMax: number;
  /** This user, and every member of `supergroup`, passes every permission check. */
  superuser: string;
  supergroup: string;
  /** Files are spread over this many metadata pools: pool = fileId % pools. Fixed at format. */
  pools: number;
  /**
   * The cluster has file-metadata shards (a pool map in ZooKeeper): a deleted or
   * overwritten file's id goes to the pending-delete queue, for its FMS to free the blocks.
   */
  trackDeletes: boolean;
  /**
   * The FMS shard owning each pool (index = pool), from the pool map; empty when the
   * cluster has no FMS shards. concat refuses files of different shards with it: blocks
   * cannot move between shards.
   */
  poolShards: readonly string[];
}

export const DEFAULT_NAMESPACE_CONFIG: Readonly<NamespaceConfig> = Object.freeze({
  retryCacheAgeMs: DEFAULT_LIMITS.retryCacheAgeMs,
  retryCacheEntriesMax: DEFAULT_LIMITS.retryCacheEntriesMax,
  pathBytesMax: DEFAULT_LIMITS.pathBytesMax,
  pathDepthMax: DEFAULT_LIMITS.pathDepthMax,
  nameBytesMax: DEFAULT_LIMITS.nameBytesMax,
  listPageEntriesMax: DEFAULT_LIMITS.listPageEntriesMax,
  superuser: 'tandem',
  supergroup: 'supergroup',
  pools: 1,
  trackDeletes: false,
  poolShards: [],
});

/**
 * What a mutation answers: create → CreateResult; mkdirs/delete/rename/complete → boolean;
 * setters → null; deletesDelivered → count; recoverLease → boolean; append/truncate →
 * FileHandle; setReplication → FileHandle, or false for a directory; concat → ConcatResult.
 */
export type MutationValue = boolean | CreateResult | null | number | FileHandle | ConcatResult;

export interface NamespaceState {
  root: Inode;
  /** The id the next inode gets. Invariant: greater than the id of every inode ever created. */
  nextFileId: number;
  /** Invariant: the number of inodes reachable from the root, the root included. */
  inodeCount: number;
  /** Copied from the config at format time and kept in the image: pools never change under existing files. */
  readonly pools: number;
  /**
   * Owner and group names, interned so that equal names share one string. Only grows;
   * its size is bounded by the number of distinct users and groups, not of inodes. Not
   * part of the logical state: images rebuild their own table from the tree.
   */
  readonly strings: Map<string, string>;
  readonly retryCache: RetryCache<MutationValue>;
  /**
   * Deleted (or overwritten) files whose blocks their FMS shard has not freed yet: fileId →
   * pool, oldest first. The NS active hands them to the owning shard (idempotently) and
   * journals `deletesDelivered` once it acknowledged. Empty unless config.trackDeletes.
   */
  readonly pendingDeletes: Map<number, number>;
  /**
   * Files under construction, by id: the ones a writer has not completed. Derived (an image
   * rebuilds it from the inodes' flags), kept so the active can find a file whose writer
   * died by its id alone (lease recovery, `recoverLease`). Invariant: exactly the inodes in
   * the tree with underConstruction set.
   */
  readonly openFiles: Map<number, Inode>;
}

/** The one shared copy of a string. */
export function intern(state: NamespaceState, text: string): string {
  const shared = state.strings.get(text);
  if (shared !== undefined) return shared;
  state.strings.set(text, text);
  return text;
}

/** An empty namespace as after format: the root, owned by the superuser, 0o755. */
export function createEmptyState(config: NamespaceConfig): NamespaceState {
  const state: NamespaceState = {
    root: newDirectory(ROOT_INODE_ID, '', 0o755, config.superuser, config.supergroup, 0),
    nextFileId: FIRST_INODE_ID,
    inodeCount: 1,
    pools: config.pools,
    strings: new Map(),
    retryCache: new RetryCache<MutationValue>(config),
    pendingDeletes: new Map(),
    openFiles: new Map(),
  };
  state.root.owner = intern(state, config.superuser);
  state.root.group = intern(state, config.supergroup);
  return state;
}

/** Checks a config once, when a machine is built; a bad config is a startup error. */
export function validateConfig(config: NamespaceConfig): void {
  const positive: (keyof NamespaceConfig)[] = ['pathBytesMax', 'pathDepthMax', 'nameBytesMax', 'listPageEntriesMax', 'pools'];
  for (const key of positive) {
    const value = config[key];
    if (!(typeof value === 'number' && Number.isSafeInteger(value) && value > 0)) {
      throw new Error(`namespace config: ${key} must be a positive integer, got ${String(value)}`);
    }
  }
  for (const key of ['retryCacheAgeMs', 'retryCacheEntriesMax'] as const) {
    const value = config[key];
    if (!(Number.isSafeInteger(value) && value >= 0)) {
      throw new Error(`namespace config: ${key} must be a non-negative integer, got ${String(value)}`);
    }
  }
  if (typeof config.trackDeletes !== 'boolean') throw new Error('namespace config: trackDeletes must be a boolean');
  if (!Array.isArray(config.poolShards) || (config.poolShards.length !== 0 && config.poolShards.length !== config.pools)) {
    throw new Error(`namespace config: poolShards must name the shard of each of the ${config.pools} pools, or be empty`);
  }
  for (const key of ['superuser', 'supergroup'] as const) {
    if (typeof config[key] !== 'string' || config[key].length === 0) {
      throw new Error(`namespace config: ${key} must be a non-empty string`);
    }
  }
}
