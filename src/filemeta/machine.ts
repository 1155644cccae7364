// The file-metadata shard's state machine: what the replication engine applies, journals
// and images (docs/data-path.md, "FMS state machine"), plus the read-only queries a master
// answers from the same state.
//
// apply() is deterministic: its effect is a function of (state, op) alone. It first
// consults the retry cache, then runs the op (mutations.ts), and stores every successful
// answer in the retry cache. Storing the answer is itself a change that must be journaled,
// so every ok answer of a fresh op reports mutated: true; retry-cache hits and errors
// change nothing and report mutated: false (errors are not cached: a retry runs again).
// So a repeated complete of a closed file by the same call gets its first answer, and a
// different call gets FILE_NOT_OPEN.

import { failure, quote } from './failure.js';
import { applyMutation, isNonEmptyString } from './mutations.js';
import * as queries from './queries.js';
import { fileMetaConfigWith, type FileMetaConfig } from './config.js';
import { createEmptyState, type FileMetaState } from './state.js';
import { fromImage, toImage, type FileMetaImage } from './image.js';
import { canonicalDump } from './dump.js';
import type { Outcome, StateMachine } from '../replication/state-machine.js';
import type { FileInfo, FileMetaAnswer, FileMetaMutation, OpenFileInfo } from './ops.js';

export { canonicalDump, type FileMetaDump } from './dump.js';
export { assertFileMetaInvariants } from './invariants.js';
export type { QueryResult } from './queries.js';
export type { FileMetaConfig } from './config.js';
export type { FileMetaState, FileRecord, BlockRecord } from './state.js';
export type { FileMetaImage } from './image.js';

export interface FileMetaMachine extends StateMachine<FileMetaState, FileMetaMutation, FileMetaImage> {
  readonly config: Readonly<FileMetaConfig>;
  apply(state: FileMetaState, op: FileMetaMutation): Outcome<FileMetaAnswer>;
  getFile(state: FileMetaState, fileId: number): queries.QueryResult<FileInfo>;
  openFiles(state: FileMetaState): OpenFileInfo[];
  fileCount(state: FileMetaState): number;
  blockCount(state: FileMetaState): number;
}

/** Why the fields every mutation carries (retry key, time, caller) are unusable, or null. */
function envelopeProblem(op: FileMetaMutation): string | null {
  if (typeof op !== 'object' || op === null) return 'the op is not an object';
  if (typeof op.clientId !== 'string') return 'clientId must be a string';
  if (!Number.isSafeInteger(op.callId)) return 'callId must be an integer';
  if (!Number.isSafeInteger(op.time)) return 'time must be an integer (ms since the epoch)';
  if (!isNonEmptyString(op.user)) return 'user must be a non-empty name';
  return null;
}

export function createFileMetaMachine(overrides: Partial<FileMetaConfig> = {}): FileMetaMachine {
  const config = fileMetaConfigWith(overrides);

  return {
    config,

    initial(): FileMetaState {
      return createEmptyState(config);
    },

    apply(state: FileMetaState, op: FileMetaMutation): Outcome<FileMetaAnswer> {
      const problem = envelopeProblem(op);
      if (problem !== null) return failure('INVALID_ARGUMENT', `${quote(String(op?.type))}: ${problem}`);
      // -0 would not survive msgpack; the time ends up in retry entries.
      const time = op.time + 0;
      const cached = state.retryCache.lookup(op.clientId, op.callId, time);
      if (cached !== undefined) return { ok: true, value: cached.value, mutated: false };

      const applied = applyMutation(state, config, op);
      if (!applied.ok) return applied;
      state.retryCache.record(op.clientId, op.callId + 0, applied.value, time);
      return { ok: true, value: applied.value, mutated: true };
    },

    toImage,

    fromImage(image: FileMetaImage): FileMetaState {
      return fromImage(image, config);
    },

    canonicalDump,

    getFile: queries.getFile,
    openFiles: queries.openFiles,
    fileCount: queries.fileCount,
    blockCount: queries.blockCount,
  };
}
