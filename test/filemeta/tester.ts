// The file-metadata machine tests' shared harness: apply an op body (with a fresh callId
// unless given) and check the invariants after it, unwrap an answer, expect a refusal that
// changes nothing.

import assert from 'node:assert/strict';
import { canonicalDump, assertFileMetaInvariants, type FileMetaMachine, type FileMetaState } from '../../src/filemeta/machine.js';
import type { FileMetaMutation, FileMetaMutationBase } from '../../src/filemeta/ops.js';

export type Body = FileMetaMutation extends infer M ? (M extends unknown ? Omit<M, keyof FileMetaMutationBase> : never) : never;

export function ok<T>(outcome: { ok: boolean; value?: unknown; error?: { message: string } }): T {
  assert.equal(outcome.ok, true, outcome.error?.message);
  return outcome.value as T;
}

export function fileMetaTester(machine: FileMetaMachine) {
  let callId = 0;
  const apply = (state: FileMetaState, body: Body, options: { clientId?: string; callId?: number; time?: number } = {}) => {
    const op = { clientId: options.clientId ?? 'writer', callId: options.callId ?? ++callId, time: options.time ?? 1_000, user: 'alice', ...body } as FileMetaMutation;
    const outcome = machine.apply(state, op);
    assertFileMetaInvariants(state);
    return outcome;
  };
  /** apply() must leave the state untouched when it fails, and answer with `code`. */
  const assertRefused = (state: FileMetaState, body: Body, code: string, pattern?: RegExp): void => {
    const before = canonicalDump(state);
    const outcome = apply(state, body);
    assert.equal(outcome.ok, false, `expected ${code}`);
    if (!outcome.ok) {
      assert.equal(outcome.error.code, code, outcome.error.message);
      if (pattern) assert.match(outcome.error.message, pattern);
    }
    assert.deepEqual(canonicalDump(state), before, 'a refused op changes nothing');
  };
  /** The callId the last apply() without one was given. */
  const lastCallId = (): number => callId;
  return { apply, assertRefused, lastCallId };
}
