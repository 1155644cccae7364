// HDFS rename v1 (FileSystem.rename): which cases answer true, which false, and the one
// that is an error (into its own subtree).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNamespaceMachine, canonicalDump, assertNamespaceInvariants, type NamespaceState } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';

const machine = createNamespaceMachine({ superuser: 'hdfs' });
const root = { user: 'hdfs', groups: [] };
let callId = 0;

function run(state: NamespaceState, op: Record<string, unknown>, time = 1_000) {
  const outcome = machine.apply(state, { clientId: 'rename-test', callId: ++callId, time, ...root, ...op } as unknown as NamespaceMutation);
  assertNamespaceInvariants(state);
  return outcome;
}

function rename(state: NamespaceState, src: string, dst: string, time = 5_000) {
  return run(state, { type: 'rename', src, dst }, time);
}

/** /a/b/f (file), /a/c (dir), /g (file), /e (empty dir), /e2/f (file) */
function tree(): NamespaceState {
  const state = machine.initial();
  run(state, { type: 'create', path: '/a/b/f', overwrite: false });
  run(state, { type: 'mkdirs', path: '/a/c' });
  run(state, { type: 'create', path: '/g', overwrite: false });
  run(state, { type: 'mkdirs', path: '/e' });
  run(state, { type: 'create', path: '/e2/f', overwrite: false });
  return state;
}

function info(state: NamespaceState, path: string) {
  const outcome = machine.getFileInfo(state, path, root);
  assert.ok(outcome.ok);
  return outcome.value;
}

/** A rename answering false changes nothing but the retry cache. */
function assertFalse(src: string, dst: string): void {
  const state = tree();
  const before = canonicalDump(state).root;
  assert.deepEqual(rename(state, src, dst), { ok: true, value: false, mutated: true });
  assert.deepEqual(canonicalDump(state).root, before);
}

test('a file to a new name keeps its fileId and sets both parents mtime', () => {
  const state = tree();
  const id = info(state, '/a/b/f')?.fileId;
  assert.deepEqual(rename(state, '/a/b/f', '/a/c/h', 9_000), { ok: true, value: true, mutated: true });
  assert.equal(info(state, '/a/b/f'), null);
  assert.equal(info(state, '/a/c/h')?.fileId, id);
  assert.equal(info(state, '/a/b')?.mtime, 9_000);
  assert.equal(info(state, '/a/c')?.mtime, 9_000);
});

test('a directory moves with its whole subtree', () => {
  const state = tree();
  assert.equal(rename(state, '/a', '/z').ok, true);
  assert.equal(info(state, '/z/b/f')?.type, 'file');
  assert.equal(info(state, '/a'), null);
});

test('into an existing directory: the target becomes dst/<src name>', () => {
  const state = tree();
  const id = info(state, '/g')?.fileId;
  assert.deepEqual(rename(state, '/g', '/a/c'), { ok: true, value: true, mutated: true });
  assert.equal(info(state, '/a/c/g')?.fileId, id);
});

test('into the root directory', () => {
  const state = tree();
  assert.equal(rename(state, '/a/b/f', '/').ok, true);
  assert.equal(info(state, '/f')?.type, 'file');
});

test('false when dst/<src name> already exists in a directory destination', () => {
  assertFalse('/e2/f', '/a/b');
});

test('false for a missing source, or a source below a file', () => {
  assertFalse('/nope', '/x');
  assertFalse('/g/x', '/x');
});

test('false for the root as source', () => {
  assertFalse('/', '/x');
});

test('false when dst is an existing file', () => {
  assertFalse('/a/b/f', '/g');
  assertFalse('/a', '/g');
});

test("false when dst's parent is missing or a file", () => {
  assertFalse('/g', '/missing/x');
  assertFalse('/a/b/f', '/g/x');
});

test('RENAME_INTO_SELF for a destination inside the source subtree', () => {
  for (const [src, dst] of [
    ['/a', '/a/c/x'],
    ['/a', '/a/b'], // /a/b is a directory, so the target is /a/b/a
    ['/a', '/a/missing/x'],
    ['/a', '/a'], // /a is a directory, so the target is /a/a
  ] as const) {
    const state = tree();
    const before = canonicalDump(state);
    const outcome = rename(state, src, dst);
    assert.equal(outcome.ok, false, `${src} → ${dst}`);
    assert.equal(!outcome.ok && outcome.error.code, 'RENAME_INTO_SELF');
    assert.deepEqual(canonicalDump(state), before);
  }
});

test('true with no change when the source equals the final target', () => {
  for (const [src, dst] of [
    ['/g', '/g'], // a file onto itself
    ['/a/b', '/a'], // into its own parent: the target is /a/b again
    ['/a/b/f', '/a/b'],
  ] as const) {
    const state = tree();
    const before = canonicalDump(state).root;
    assert.deepEqual(rename(state, src, dst), { ok: true, value: true, mutated: true }, `${src} → ${dst}`);
    assert.deepEqual(canonicalDump(state).root, before);
  }
});

test('INVALID_PATH for a bad source or destination', () => {
  const state = tree();
  for (const [src, dst] of [
    ['a', '/b'],
    ['/a', '/b/'],
  ] as const) {
    const outcome = rename(state, src, dst);
    assert.equal(!outcome.ok && outcome.error.code, 'INVALID_PATH');
  }
});

test('INVALID_PATH when dst/<src name> would exceed the depth limit', () => {
  const shallow = createNamespaceMachine({ superuser: 'hdfs', pathDepthMax: 2 });
  const state = shallow.initial();
  const base = { clientId: 'c', time: 1, ...root };
  shallow.apply(state, { ...base, callId: 1, type: 'mkdirs', path: '/a/b' });
  shallow.apply(state, { ...base, callId: 2, type: 'mkdirs', path: '/c' });
  const outcome = shallow.apply(state, { ...base, callId: 3, type: 'rename', src: '/c', dst: '/a/b' });
  assert.equal(!outcome.ok && outcome.error.code, 'INVALID_PATH');
});
