// The open-file index and recoverLease: a file whose writer died is found by its id alone,
// wherever it was renamed to, and closed at the length its FMS shard agreed on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack, unpack } from 'msgpackr';
import { createNamespaceMachine, canonicalDump, type NamespaceState } from '../../src/namespace/machine.js';
import { toImage } from '../../src/namespace/image.js';
import { assertNamespaceInvariants } from '../../src/namespace/invariants.js';
import type { MutationBase, NamespaceMutation, CreateResult, FileStatus } from '../../src/namespace/ops.js';

type Body = NamespaceMutation extends infer M ? (M extends unknown ? Omit<M, keyof MutationBase> : never) : never;
const root = { user: 'hdfs', groups: ['hdfs'] };
const alice = { user: 'alice', groups: [] as string[] };
let callId = 0;

const machine = createNamespaceMachine({ superuser: 'hdfs', pools: 4, trackDeletes: true });
const apply = (state: NamespaceState, body: Body, caller = root) => {
  const outcome = machine.apply(state, { clientId: 'of-test', callId: ++callId, time: 7_000, ...caller, ...body } as NamespaceMutation);
  assertNamespaceInvariants(state);
  return outcome;
};
const create = (state: NamespaceState, path: string, overwrite = false): number => {
  const outcome = apply(state, { type: 'create', path, overwrite });
  assert.ok(outcome.ok);
  return (outcome.value as CreateResult).fileId;
};
const info = (state: NamespaceState, path: string): FileStatus | null => {
  const outcome = machine.getFileInfo(state, path, root);
  assert.ok(outcome.ok);
  return outcome.value;
};

test('the index follows create, complete, rename, overwrite and delete', () => {
  const state = machine.initial();
  const a = create(state, '/d/a');
  const b = create(state, '/d/b');
  const c = create(state, '/c');
  assert.deepEqual(new Set(state.openFiles.keys()), new Set([a, b, c]));
  assert.ok(apply(state, { type: 'complete', path: '/d/a', fileId: a, length: 3 }).ok);
  assert.ok(apply(state, { type: 'rename', src: '/d/b', dst: '/e' }).ok);
  create(state, '/c', true); // overwritten: the old open file leaves the index, the new one enters
  assert.equal(state.openFiles.has(c), false);
  assert.ok(apply(state, { type: 'delete', path: '/d', recursive: true }).ok);
  assert.deepEqual([...state.openFiles.values()].map((inode) => inode.name).sort(), ['c', 'e']);
  assert.ok(state.openFiles.has(b), 'a renamed open file is still found by its id');
});

test('recoverLease closes an open file by id at the given length, once; superuser only', () => {
  const state = machine.initial();
  const id = create(state, '/w/file');
  assert.ok(apply(state, { type: 'rename', src: '/w', dst: '/moved' }).ok);
  const denied = apply(state, { type: 'recoverLease', fileId: id, length: 10 }, alice);
  assert.equal(denied.ok ? 'ok' : denied.error.code, 'PERMISSION_DENIED');
  const bad = apply(state, { type: 'recoverLease', fileId: id, length: -1 });
  assert.equal(bad.ok ? 'ok' : bad.error.code, 'INVALID_ARGUMENT');
  const closed = apply(state, { type: 'recoverLease', fileId: id, length: 1234 });
  assert.deepEqual(closed.ok && closed.value, true);
  const status = info(state, '/moved/file');
  assert.equal(status?.length, 1234);
  assert.equal(status?.underConstruction, false);
  const again = apply(state, { type: 'recoverLease', fileId: id, length: 99 });
  assert.deepEqual(again.ok && again.value, false, 'a repeat changes nothing');
  assert.equal(info(state, '/moved/file')?.length, 1234);
  // A writer that comes back late cannot complete it any more.
  const late = apply(state, { type: 'complete', path: '/moved/file', fileId: id, length: 5 });
  assert.equal(late.ok ? 'ok' : late.error.code, 'FILE_NOT_OPEN');
});

test('an image rebuilds the index from the inodes', () => {
  const state = machine.initial();
  const open = create(state, '/x/open');
  const done = create(state, '/x/done');
  apply(state, { type: 'complete', path: '/x/done', fileId: done, length: 1 });
  const loaded = machine.fromImage(unpack(pack(toImage(state))));
  assert.deepEqual(canonicalDump(loaded), canonicalDump(state));
  assert.deepEqual([...loaded.openFiles.keys()], [open]);
  assertNamespaceInvariants(loaded);
  assert.ok(machine.apply(loaded, { type: 'recoverLease', fileId: open, length: 0, clientId: 'of-test', callId: ++callId, time: 8_000, ...root }).ok);
  assert.equal(loaded.openFiles.size, 0);
});
