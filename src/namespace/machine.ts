// The namespace shard's state machine: what the replication engine applies, journals and
// images (DESIGN §3), plus the read-only queries a master answers from the same state.
//
// apply() is deterministic: its effect is a function of (state, op) alone. It first
// consults the retry cache, then runs the op (mutations.ts), and stores every successful
// answer in the retry cache. Storing the answer is itself a change that must be journaled,
// so every ok answer of a fresh op reports mutated: true; retry-cache hits and errors
// change nothing and report mutated: false (errors are not cached: a retry runs again).

import { failure, quote } from './failure.js';
import { applyMutation, isValidPrincipal } from './mutations.js';
import { identify } from './permissions.js';
import * as queries from './queries.js';
import * as fileListing from './file-listing.js';
import { createEmptyState, DEFAULT_NAMESPACE_CONFIG, validateConfig, type MutationValue, type NamespaceConfig, type NamespaceState } from './state.js';
import { fromImage, toImage, type NamespaceImage } from './image.js';
import { utf8ByteLength } from './paths.js';
import { canonicalDump } from './dump.js';
import type { Outcome, StateMachine } from '../replication/state-machine.js';
import type { Caller, ContentSummary, FileStatus, ListingPage, NameListingPage, NamespaceMutation } from './ops.js';

export { canonicalDump, inodeCount, type NamespaceDump } from './dump.js';
export { assertNamespaceInvariants } from './invariants.js';
export type { QueryResult } from './queries.js';
export type { MutationValue, NamespaceConfig, NamespaceState } from './state.js';
export type { NamespaceImage } from './image.js';
export type { FileListingPage, FileLookup, NamespaceFileEntry } from './file-listing.js';

export interface NamespaceMachine extends StateMachine<NamespaceState, NamespaceMutation, NamespaceImage> {
  readonly config: Readonly<NamespaceConfig>;
  apply(state: NamespaceState, op: NamespaceMutation): Outcome<MutationValue>;
  getFileInfo(state: NamespaceState, path: string, caller: Caller): queries.QueryResult<FileStatus | null>;
  listStatus(
    state: NamespaceState,
    path: string,
    startAfter: string | undefined,
    limit: number | undefined,
    caller: Caller,
  ): queries.QueryResult<ListingPage>;
  listNames(
    state: NamespaceState,
    path: string,
    startAfter: string | undefined,
    limit: number | undefined,
    caller: Caller,
  ): queries.QueryResult<NameListingPage>;
  contentSummary(state: NamespaceState, path: string, caller: Caller): queries.QueryResult<ContentSummary>;
  /** fsck: every file, a page at a time in path order (superuser only). */
  listFiles(state: NamespaceState, after: string | undefined, limit: number | undefined, caller: Caller): queries.QueryResult<fileListing.FileListingPage>;
  /** fsck: what the namespace knows of these file ids (live, pending delete, or nothing). */
  findFiles(state: NamespaceState, fileIds: readonly number[], caller: Caller): queries.QueryResult<fileListing.FileLookup[]>;
}

/** Why the fields every mutation carries (caller, retry key, time) are unusable, or null. */
function envelopeProblem(op: NamespaceMutation): string | null {
  if (typeof op !== 'object' || op === null) return 'the op is not an object';
  // Stored in the retry cache and the image, so it needs a UTF-8 form.
  if (typeof op.clientId !== 'string' || utf8ByteLength(op.clientId) < 0) return 'clientId must be a string';
  if (!Number.isSafeInteger(op.callId)) return 'callId must be an integer';
  if (!Number.isSafeInteger(op.time)) return 'time must be an integer (ms since the epoch)';
  if (!isValidPrincipal(op.user)) return 'user must be a non-empty name';
  if (!Array.isArray(op.groups) || !op.groups.every((group) => typeof group === 'string')) return 'groups must be a list of names';
  return null;
}

export function createNamespaceMachine(overrides: Partial<NamespaceConfig> = {}): NamespaceMachine {
  const config: Readonly<NamespaceConfig> = Object.freeze({ ...DEFAULT_NAMESPACE_CONFIG, ...overrides });
  validateConfig(config);

  return {
    config,

    initial(): NamespaceState {
      return createEmptyState(config);
    },

    apply(state: NamespaceState, op: NamespaceMutation): Outcome<MutationValue> {
      const problem = envelopeProblem(op);
      if (problem !== null) return failure('INVALID_ARGUMENT', `${quote(String(op?.type))}: ${problem}`);
      // -0 would not survive msgpack; the time ends up in inodes and retry entries.
      const time = op.time + 0;
      const cached = state.retryCache.lookup(op.clientId, op.callId, time);
      if (cached !== undefined) return { ok: true, value: cached.value, mutated: false };

      const identity = identify(op, config.superuser, config.supergroup);
      const applied = applyMutation({ state, config, identity, time }, op);
      if (!applied.ok) return applied;
      state.retryCache.record(op.clientId, op.callId + 0, applied.value, time);
      return { ok: true, value: applied.value, mutated: true };
    },

    toImage,

    fromImage(image: NamespaceImage): NamespaceState {
      return fromImage(image, config);
    },

    canonicalDump,

    getFileInfo: (state, path, caller) => queries.getFileInfo(state, config, path, caller),
    listStatus: (state, path, startAfter, limit, caller) => queries.listStatus(state, config, path, startAfter, limit, caller),
    listNames: (state, path, startAfter, limit, caller) => queries.listNames(state, config, path, startAfter, limit, caller),
    contentSummary: (state, path, caller) => queries.contentSummary(state, config, path, caller),
    listFiles: (state, after, limit, caller) => fileListing.listFiles(state, config, after, limit, caller),
    findFiles: (state, fileIds, caller) => fileListing.findFiles(state, config, fileIds, caller),
  };
}
