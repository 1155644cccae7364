// The pending-delete queue: a deleted or overwritten file's id waits there until the NS
// active has handed it to the owning FMS shard and journaled deletesDelivered.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNamespaceMachine, canonicalDump, type NamespaceState } from '../../src/namespace/machine.js';
import { toImage } from '../../src/namespace/image.js';
import type { MutationBase, NamespaceMutation, CreateResult } from '../../src/namespace/ops.js';
import { pack, unpack } from 'msgpackr';

type Body = NamespaceMutation extends infer M ? (M extends unknown ? Omit<M, keyof MutationBase> : never) : never;
const root = { user: 'hdfs', groups: ['hdfs'] };
const alice = { user: 'alice', groups: [] as string[] };
let callId = 0;

function machineWith(trackDeletes: boolean) {
  const machine = createNamespaceMachine({ superuser: 'hdfs', pools: 4, trackDeletes });
  const apply = (state: NamespaceState, body: Body, caller = root) =>
    machine.apply(state, { clientId: 'pd-test', callId: ++callId, time: 5_000, ...caller, ...body } as NamespaceMutation);
  return { machine, apply };
}

function fileId(outcome: { ok: boolean; value?: unknown }): number {
  assert.ok(outcome.ok);
  return (outcome.value as CreateResult).fileId;
}

test('a recursive delete and an overwrite queue every removed file with its pool; directories are not queued', () => {
  const { machine, apply } = machineWith(true);
  const state = machine.initial();
  const a = fileId(apply(state, { type: 'create', path: '/d/a', overwrite: false }));
  const b = fileId(apply(state, { type: 'create', path: '/d/sub/b', overwrite: false }));
  const c = fileId(apply(state, { type: 'create', path: '/c', overwrite: false }));
  fileId(apply(state, { type: 'create', path: '/c', overwrite: true }));
  assert.deepEqual([...state.pendingDeletes], [[c, c % 4]]);
  assert.equal(apply(state, { type: 'delete', path: '/d', recursive: true }).ok, true);
  assert.deepEqual(new Set(state.pendingDeletes.keys()), new Set([a, b, c]));
  for (const [id, pool] of state.pendingDeletes) assert.equal(pool, id % 4);
});

test('deletesDelivered: superuser only, removes the delivered ids, and a repeat removes nothing', () => {
  const { machine, apply } = machineWith(true);
  const state = machine.initial();
  const a = fileId(apply(state, { type: 'create', path: '/a', overwrite: false }));
  const b = fileId(apply(state, { type: 'create', path: '/b', overwrite: false }));
  apply(state, { type: 'delete', path: '/a', recursive: false });
  apply(state, { type: 'delete', path: '/b', recursive: false });
  const before = canonicalDump(state);
  const denied = apply(state, { type: 'deletesDelivered', fileIds: [a] }, alice);
  assert.equal(denied.ok ? 'ok' : denied.error.code, 'PERMISSION_DENIED');
  assert.deepEqual(canonicalDump(state), before);
  const bad = apply(state, { type: 'deletesDelivered', fileIds: ['x' as unknown as number] });
  assert.equal(bad.ok ? 'ok' : bad.error.code, 'INVALID_ARGUMENT');
  const delivered = apply(state, { type: 'deletesDelivered', fileIds: [a, 999_999] });
  assert.deepEqual(delivered.ok && delivered.value, 1);
  assert.deepEqual([...state.pendingDeletes.keys()], [b]);
  const again = apply(state, { type: 'deletesDelivered', fileIds: [a] });
  assert.deepEqual(again.ok && again.value, 0);
});

test('the queue survives an image round trip, and a version-1 image loads with an empty queue', () => {
  const { machine, apply } = machineWith(true);
  const state = machine.initial();
  apply(state, { type: 'create', path: '/a', overwrite: false });
  apply(state, { type: 'delete', path: '/a', recursive: false });
  const image = unpack(pack(toImage(state)));
  const loaded = machine.fromImage(image);
  assert.deepEqual(canonicalDump(loaded), canonicalDump(state));
  const v1 = { ...toImage(machine.initial()), version: 1 } as Record<string, unknown>;
  delete v1.pendingDeletes;
  assert.equal(machine.fromImage(v1 as never).pendingDeletes.size, 0);
  const broken = { ...toImage(state), pendingDeletes: { fileId: [2, 2], pool: [2, 2] } };
  assert.throws(() => machine.fromImage(broken), /pendingDeletes/);
});

test('without FMS shards (trackDeletes false) nothing is queued', () => {
  const { machine, apply } = machineWith(false);
  const state = machine.initial();
  apply(state, { type: 'create', path: '/a', overwrite: false });
  apply(state, { type: 'delete', path: '/a', recursive: false });
  assert.equal(state.pendingDeletes.size, 0);
});
