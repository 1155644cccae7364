// setReplication, append, truncate and concat in the namespace: each op's success and error
// paths, "a refused op changes nothing", the retry cache, and images that keep the answers.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pack, unpack } from 'msgpackr';
import { createNamespaceMachine, canonicalDump, type NamespaceState } from '../../src/namespace/machine.js';
import { assertNamespaceInvariants } from '../../src/namespace/invariants.js';
import type { ConcatResult, CreateResult, FileHandle, FileStatus, MutationBase, NamespaceMutation } from '../../src/namespace/ops.js';

type Body = NamespaceMutation extends infer M ? (M extends unknown ? Omit<M, keyof MutationBase> : never) : never;
const root = { user: 'hdfs', groups: ['hdfs'] };
const alice = { user: 'alice', groups: [] as string[] };
const bob = { user: 'bob', groups: [] as string[] };
let callId = 0;

// 4 pools over two FMS shards: pools 0 and 2 belong to fms-0, 1 and 3 to fms-1.
const machine = createNamespaceMachine({ superuser: 'hdfs', pools: 4, trackDeletes: true, poolShards: ['fms-0', 'fms-1', 'fms-0', 'fms-1'] });

function apply(state: NamespaceState, body: Body, caller = alice, id = ++callId) {
  const outcome = machine.apply(state, { clientId: 'fo-test', callId: id, time: 9_000, ...caller, ...body } as NamespaceMutation);
  assertNamespaceInvariants(state);
  return outcome;
}

function ok<T>(outcome: { ok: boolean; value?: unknown; error?: { message: string } }): T {
  assert.equal(outcome.ok, true, outcome.error?.message);
  return outcome.value as T;
}

function assertRefused(state: NamespaceState, body: Body, code: string, caller = alice, pattern?: RegExp): void {
  const before = canonicalDump(state);
  const outcome = apply(state, body, caller);
  assert.equal(outcome.ok, false, `expected ${code}`);
  if (!outcome.ok) {
    assert.equal(outcome.error.code, code, outcome.error.message);
    if (pattern) assert.match(outcome.error.message, pattern);
  }
  assert.deepEqual(canonicalDump(state), before, 'a refused op changes nothing');
}

/** A closed file of `length` bytes owned by alice, mode 644, in /d (alice's, 755). */
function file(state: NamespaceState, path: string, length: number, blockSize?: number): number {
  const { fileId } = ok<CreateResult>(apply(state, { type: 'create', path, overwrite: false, ...(blockSize ? { blockSize } : {}) }));
  ok(apply(state, { type: 'complete', path, fileId, length }));
  return fileId;
}

function info(state: NamespaceState, path: string): FileStatus | null {
  return ok<FileStatus | null>(machine.getFileInfo(state, path, root));
}

/** A state with /d owned by alice and a file id on each shard's pools (ids 16387.. are consecutive). */
function fresh(): NamespaceState {
  const state = machine.initial();
  ok(apply(state, { type: 'mkdirs', path: '/d' }, root));
  ok(apply(state, { type: 'setOwner', path: '/d', owner: 'alice' }, root));
  return state;
}

describe('setReplication', () => {
  test('changes a file’s replication and answers its handle; false for a directory', () => {
    const state = fresh();
    const id = file(state, '/d/f', 10);
    const handle = ok<FileHandle>(apply(state, { type: 'setReplication', path: '/d/f', replication: 1 }));
    assert.deepEqual(handle, { fileId: id, pool: id % 4, length: 10, replication: 1, blockSize: 128 * 1024 * 1024, underConstruction: false });
    assert.equal(info(state, '/d/f')?.replication, 1);
    assert.equal(ok(apply(state, { type: 'setReplication', path: '/d', replication: 2 })), false);
  });
  test('errors: bad replication, missing path, no write permission', () => {
    const state = fresh();
    file(state, '/d/f', 10);
    assertRefused(state, { type: 'setReplication', path: '/d/f', replication: 0 }, 'INVALID_ARGUMENT');
    assertRefused(state, { type: 'setReplication', path: '/d/nope', replication: 2 }, 'NOT_FOUND');
    assertRefused(state, { type: 'setReplication', path: '/d/f', replication: 2 }, 'PERMISSION_DENIED', bob);
  });
});

describe('append', () => {
  test('reopens a closed file at its length; complete closes it at the new length', () => {
    const state = fresh();
    const id = file(state, '/d/f', 10);
    const handle = ok<FileHandle>(apply(state, { type: 'append', path: '/d/f' }));
    assert.equal(handle.fileId, id);
    assert.equal(handle.length, 10);
    assert.equal(handle.underConstruction, true);
    assert.equal(state.openFiles.get(id)?.name, 'f');
    ok(apply(state, { type: 'complete', path: '/d/f', fileId: id, length: 25 }));
    assert.equal(info(state, '/d/f')?.length, 25);
    assert.equal(state.openFiles.size, 0);
  });
  test('errors: open file (ALREADY_BEING_CREATED), directory, missing, no write permission', () => {
    const state = fresh();
    file(state, '/d/f', 10);
    ok(apply(state, { type: 'create', path: '/d/open', overwrite: false }));
    assertRefused(state, { type: 'append', path: '/d/open' }, 'ALREADY_BEING_CREATED');
    assertRefused(state, { type: 'append', path: '/d' }, 'IS_DIRECTORY');
    assertRefused(state, { type: 'append', path: '/d/none' }, 'NOT_FOUND');
    assertRefused(state, { type: 'append', path: '/d/f' }, 'PERMISSION_DENIED', bob);
    ok(apply(state, { type: 'append', path: '/d/f' }));
    assertRefused(state, { type: 'append', path: '/d/f' }, 'ALREADY_BEING_CREATED', alice, /open for writing/);
  });
  test('a retry with the same callId gets the first answer, changing nothing', () => {
    const state = fresh();
    file(state, '/d/f', 10);
    const id = ++callId;
    const first = ok<FileHandle>(apply(state, { type: 'append', path: '/d/f' }, alice, id));
    const before = canonicalDump(state);
    const again = machine.apply(state, { clientId: 'fo-test', callId: id, time: 9_001, ...alice, type: 'append', path: '/d/f' } as NamespaceMutation);
    assert.deepEqual(again, { ok: true, value: first, mutated: false });
    assert.deepEqual(canonicalDump(state), before);
  });
});

describe('truncate', () => {
  test('to the current length: nothing to do, the file stays closed', () => {
    const state = fresh();
    file(state, '/d/f', 10);
    const handle = ok<FileHandle>(apply(state, { type: 'truncate', path: '/d/f', newLength: 10 }));
    assert.equal(handle.underConstruction, false);
    assert.equal(info(state, '/d/f')?.underConstruction, false);
  });
  test('shorter: the new length at once, open until the FMS is done (complete or recoverLease)', () => {
    const state = fresh();
    const id = file(state, '/d/f', 10);
    const handle = ok<FileHandle>(apply(state, { type: 'truncate', path: '/d/f', newLength: 4 }));
    assert.deepEqual([handle.length, handle.underConstruction], [4, true]);
    assert.deepEqual([info(state, '/d/f')?.length, info(state, '/d/f')?.underConstruction], [4, true]);
    assertRefused(state, { type: 'truncate', path: '/d/f', newLength: 2 }, 'ALREADY_BEING_CREATED');
    assert.equal(ok(apply(state, { type: 'recoverLease', fileId: id, length: 4 }, root)), true);
    assert.deepEqual([info(state, '/d/f')?.length, info(state, '/d/f')?.underConstruction], [4, false]);
  });
  test('errors: longer than the file, negative, directory, missing, no write permission', () => {
    const state = fresh();
    file(state, '/d/f', 10);
    assertRefused(state, { type: 'truncate', path: '/d/f', newLength: 11 }, 'INVALID_ARGUMENT', alice, /only has 10/);
    assertRefused(state, { type: 'truncate', path: '/d/f', newLength: -1 }, 'INVALID_ARGUMENT');
    assertRefused(state, { type: 'truncate', path: '/d', newLength: 0 }, 'IS_DIRECTORY');
    assertRefused(state, { type: 'truncate', path: '/d/g', newLength: 0 }, 'NOT_FOUND');
    assertRefused(state, { type: 'truncate', path: '/d/f', newLength: 0 }, 'PERMISSION_DENIED', bob);
  });
});

describe('concat', () => {
  /** Files whose ids fall in pools of fms-0 (even ids), made by skipping odd ones with throw-away directories. */
  function sameShardFiles(state: NamespaceState, paths: string[], lengths: number[]): number[] {
    return paths.map((path, i) => {
      if (state.nextFileId % 2 === 1) ok(apply(state, { type: 'mkdirs', path: `/skip${state.nextFileId}` }, root));
      return file(state, path, lengths[i]!);
    });
  }

  test('moves the sources’ lengths to the target, removes their names (not into the delete queue), opens the target', () => {
    const state = fresh();
    ok(apply(state, { type: 'mkdirs', path: '/d/other' }));
    const [target, a, b] = sameShardFiles(state, ['/d/t', '/d/a', '/d/other/b'], [5, 7, 9]);
    const inodes = state.inodeCount;
    const result = ok<ConcatResult>(apply(state, { type: 'concat', target: '/d/t', sources: ['/d/a', '/d/other/b'] }));
    assert.deepEqual(result, { fileId: target, pool: target! % 4, length: 21, replication: 3, blockSize: 128 * 1024 * 1024, sources: [a, b] });
    assert.equal(info(state, '/d/a'), null);
    assert.equal(info(state, '/d/other/b'), null, 'sources need not be in the target’s directory');
    assert.equal(state.inodeCount, inodes - 2);
    assert.equal(state.pendingDeletes.size, 0, 'the sources’ blocks move, they are not freed');
    assert.deepEqual([info(state, '/d/t')?.length, info(state, '/d/t')?.underConstruction], [21, true]);
    ok(apply(state, { type: 'complete', path: '/d/t', fileId: target!, length: 21 }));
  });

  test('errors: open target or source, source is the target or named twice, other block size, missing, directory, no sources', () => {
    const state = fresh();
    sameShardFiles(state, ['/d/t', '/d/a'], [5, 7]);
    if (state.nextFileId % 2 === 1) ok(apply(state, { type: 'mkdirs', path: '/skip' }, root));
    file(state, '/d/big', 3, 1024 * 1024);
    ok(apply(state, { type: 'create', path: '/d/open', overwrite: false }));
    assertRefused(state, { type: 'concat', target: '/d/open', sources: ['/d/a'] }, 'ALREADY_BEING_CREATED');
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/open'] }, 'ALREADY_BEING_CREATED');
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/t'] }, 'INVALID_ARGUMENT', alice, /is the target/);
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/a', '/d/a'] }, 'INVALID_ARGUMENT', alice, /twice/);
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/big'] }, 'INVALID_ARGUMENT', alice, /block size/);
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/none'] }, 'NOT_FOUND');
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d'] }, 'IS_DIRECTORY');
    assertRefused(state, { type: 'concat', target: '/d/t', sources: [] }, 'INVALID_ARGUMENT');
  });

  test('files of different FMS shards: CONCAT_ACROSS_SHARDS', () => {
    const state = fresh();
    const t = file(state, '/d/t', 5);
    const u = file(state, '/d/u', 5); // the next id: the other shard
    assert.notEqual(t % 2, u % 2);
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/u'] }, 'CONCAT_ACROSS_SHARDS', alice, /fms-/);
  });

  test('permissions: write on the target, read on each source, write on each source’s directory', () => {
    const state = fresh();
    const [, ,] = sameShardFiles(state, ['/d/t', '/d/a', '/d/b'], [1, 2, 3]);
    ok(apply(state, { type: 'setPermission', path: '/d/a', permission: 0o200 }));
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/a'] }, 'PERMISSION_DENIED', alice, /access=READ/);
    ok(apply(state, { type: 'setPermission', path: '/d/a', permission: 0o644 }));
    ok(apply(state, { type: 'setPermission', path: '/d/t', permission: 0o444 }));
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/a'] }, 'PERMISSION_DENIED', alice, /access=WRITE/);
    ok(apply(state, { type: 'setPermission', path: '/d/t', permission: 0o666 }));
    ok(apply(state, { type: 'setPermission', path: '/d/a', permission: 0o666 }));
    assertRefused(state, { type: 'concat', target: '/d/t', sources: ['/d/a'] }, 'PERMISSION_DENIED', bob, /access=WRITE_EXECUTE/);
  });
});

test('an image taken with every new answer in the retry cache, and files open for append and truncate, loads back equal', () => {
  const state = fresh();
  file(state, '/d/r', 3);
  file(state, '/d/p', 30);
  file(state, '/d/q', 30);
  ok(apply(state, { type: 'setReplication', path: '/d/r', replication: 2 }));
  ok(apply(state, { type: 'append', path: '/d/p' }));
  ok(apply(state, { type: 'truncate', path: '/d/q', newLength: 1 }));
  if (state.nextFileId % 2 === 1) ok(apply(state, { type: 'mkdirs', path: '/skip' }, root));
  file(state, '/d/t', 1);
  ok(apply(state, { type: 'mkdirs', path: '/skip2' }, root));
  file(state, '/d/s', 2);
  ok(apply(state, { type: 'concat', target: '/d/t', sources: ['/d/s'] }));
  const loaded = machine.fromImage(unpack(pack(machine.toImage(state))) as ReturnType<typeof machine.toImage>);
  assertNamespaceInvariants(loaded);
  assert.deepEqual(canonicalDump(loaded), canonicalDump(state));
  assert.equal(loaded.openFiles.size, 3);
});
