// Every namespace mutation and query, one behaviour per test, including every error code
// each can answer with. Rename has its own file (rename.test.ts), as do permissions.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createNamespaceMachine, canonicalDump, inodeCount, assertNamespaceInvariants, type NamespaceState } from '../../src/namespace/machine.js';
import type { MutationBase, NamespaceMutation, FileStatus } from '../../src/namespace/ops.js';
import { sortedChildNames } from '../../src/namespace/inode.js';

type Body = NamespaceMutation extends infer M ? (M extends unknown ? Omit<M, keyof MutationBase> : never) : never;

const machine = createNamespaceMachine({ superuser: 'hdfs', supergroup: 'supergroup', pools: 4 });
const alice = { user: 'alice', groups: ['alice', 'staff'] };
const root = { user: 'hdfs', groups: ['hdfs'] };
let callId = 0;

function apply(state: NamespaceState, body: Body, caller = alice, time = 1_000) {
  const outcome = machine.apply(state, { clientId: 'ops-test', callId: ++callId, time, ...caller, ...body } as NamespaceMutation);
  assertNamespaceInvariants(state);
  return outcome;
}

/** A namespace where alice owns /home/alice (0o755) and may work freely. */
function fresh(): NamespaceState {
  const state = machine.initial();
  assert.equal(apply(state, { type: 'mkdirs', path: '/home/alice' }, root).ok, true);
  assert.equal(apply(state, { type: 'setOwner', path: '/home/alice', owner: 'alice', group: 'staff' }, root).ok, true);
  return state;
}

function status(state: NamespaceState, path: string): FileStatus | null {
  const info = machine.getFileInfo(state, path, root);
  assert.ok(info.ok);
  return info.value;
}

function errorCode(outcome: { ok: boolean; error?: { code: string } }): string | undefined {
  assert.equal(outcome.ok, false, 'expected an error outcome');
  return outcome.error?.code;
}

/** apply() must leave the state untouched when it fails. */
function assertFailsWithoutChange(state: NamespaceState, body: Body, code: string, caller = alice): void {
  const before = canonicalDump(state);
  const outcome = apply(state, body, caller);
  assert.equal(errorCode(outcome), code);
  assert.deepEqual(canonicalDump(state), before);
}

describe('initial state', () => {
  test('is a root directory 16385 owned by the superuser, and the next id is 16386', () => {
    const state = machine.initial();
    const rootStatus = status(state, '/');
    assert.equal(rootStatus?.fileId, 16385);
    assert.equal(rootStatus?.type, 'directory');
    assert.equal(rootStatus?.name, '');
    assert.equal(rootStatus?.owner, 'hdfs');
    assert.equal(rootStatus?.group, 'supergroup');
    assert.equal(rootStatus?.permission, 0o755);
    assert.equal(state.nextFileId, 16386);
    assert.equal(inodeCount(state), 1);
  });
});

describe('mkdirs', () => {
  test('creates missing parents, default 0o755, owner = caller, group = parent group, parent mtime = op time', () => {
    const state = fresh();
    const outcome = apply(state, { type: 'mkdirs', path: '/home/alice/a/b/c' }, alice, 5_000);
    assert.deepEqual(outcome, { ok: true, value: true, mutated: true });
    for (const path of ['/home/alice/a', '/home/alice/a/b', '/home/alice/a/b/c']) {
      const dir = status(state, path);
      assert.equal(dir?.type, 'directory');
      assert.equal(dir?.owner, 'alice');
      assert.equal(dir?.group, 'staff');
      assert.equal(dir?.permission, 0o755);
      assert.equal(dir?.mtime, 5_000);
    }
    assert.equal(status(state, '/home/alice')?.mtime, 5_000);
    assert.equal(inodeCount(state), 6);
  });

  test('gives the final directory the requested permission and intermediates u+wx as well', () => {
    const state = fresh();
    assert.equal(apply(state, { type: 'mkdirs', path: '/home/alice/x/y', permission: 0o500 }).ok, true);
    assert.equal(status(state, '/home/alice/x/y')?.permission, 0o500);
    assert.equal(status(state, '/home/alice/x')?.permission, 0o700);
  });

  test('an existing directory answers true and changes nothing but the retry cache', () => {
    const state = fresh();
    const before = canonicalDump(state);
    const outcome = apply(state, { type: 'mkdirs', path: '/home/alice' });
    assert.deepEqual(outcome, { ok: true, value: true, mutated: true });
    const after = canonicalDump(state);
    assert.deepEqual(after.root, before.root);
    assert.equal(after.retryCache.length, before.retryCache.length + 1);
  });

  test('FILE_EXISTS when the path is a file', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assertFailsWithoutChange(state, { type: 'mkdirs', path: '/home/alice/f' }, 'FILE_EXISTS');
  });

  test('PARENT_NOT_DIRECTORY when an ancestor is a file', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assertFailsWithoutChange(state, { type: 'mkdirs', path: '/home/alice/f/g/h' }, 'PARENT_NOT_DIRECTORY');
  });

  test('INVALID_ARGUMENT for a permission outside 0..0o7777', () => {
    const state = fresh();
    assertFailsWithoutChange(state, { type: 'mkdirs', path: '/home/alice/d', permission: 0o10000 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'mkdirs', path: '/home/alice/d', permission: -1 }, 'INVALID_ARGUMENT');
  });

  test('INVALID_PATH for a bad path', () => {
    assertFailsWithoutChange(fresh(), { type: 'mkdirs', path: '/home//alice' }, 'INVALID_PATH');
  });

  test('mkdirs of / answers true', () => {
    assert.deepEqual(apply(fresh(), { type: 'mkdirs', path: '/' }), { ok: true, value: true, mutated: true });
  });
});

describe('create', () => {
  test('creates an under-construction file with HDFS defaults, fileId from the counter, pool = fileId % pools', () => {
    const state = fresh();
    const expectedId = state.nextFileId;
    const outcome = apply(state, { type: 'create', path: '/home/alice/f', overwrite: false }, alice, 7_000);
    assert.deepEqual(outcome, { ok: true, value: { fileId: expectedId, pool: expectedId % 4 }, mutated: true });
    const file = status(state, '/home/alice/f');
    assert.deepEqual(file, {
      name: 'f',
      type: 'file',
      fileId: expectedId,
      permission: 0o644,
      owner: 'alice',
      group: 'staff',
      mtime: 7_000,
      atime: 7_000,
      replication: 3,
      blockSize: 128 * 1024 * 1024,
      length: 0,
      pool: expectedId % 4,
      underConstruction: true,
      childrenCount: 0,
    });
    assert.equal(status(state, '/home/alice')?.mtime, 7_000);
    assert.equal(state.nextFileId, expectedId + 1);
  });

  test('takes permission, replication and block size from the op', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false, permission: 0o600, replication: 2, blockSize: 1024 });
    const file = status(state, '/home/alice/f');
    assert.equal(file?.permission, 0o600);
    assert.equal(file?.replication, 2);
    assert.equal(file?.blockSize, 1024);
  });

  test('creates missing parents 0o755 in the group of the deepest existing ancestor', () => {
    const state = fresh();
    assert.equal(apply(state, { type: 'create', path: '/home/alice/p/q/f', overwrite: false }).ok, true);
    assert.equal(status(state, '/home/alice/p')?.permission, 0o755);
    assert.equal(status(state, '/home/alice/p/q')?.group, 'staff');
    assert.equal(status(state, '/home/alice/p/q/f')?.type, 'file');
    assert.equal(inodeCount(state), 6);
  });

  test('overwrite replaces an existing file with a new inode and a new fileId', () => {
    const state = fresh();
    const first = apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assert.ok(first.ok);
    const count = inodeCount(state);
    const second = apply(state, { type: 'create', path: '/home/alice/f', overwrite: true });
    assert.ok(second.ok);
    assert.notEqual((second.value as { fileId: number }).fileId, (first.value as { fileId: number }).fileId);
    assert.equal(status(state, '/home/alice/f')?.fileId, (second.value as { fileId: number }).fileId);
    assert.equal(inodeCount(state), count);
  });

  test('FILE_EXISTS for an existing file without overwrite', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assertFailsWithoutChange(state, { type: 'create', path: '/home/alice/f', overwrite: false }, 'FILE_EXISTS');
  });

  test('IS_DIRECTORY for an existing directory, whatever overwrite says', () => {
    const state = fresh();
    assertFailsWithoutChange(state, { type: 'create', path: '/home/alice', overwrite: false }, 'IS_DIRECTORY');
    assertFailsWithoutChange(state, { type: 'create', path: '/home/alice', overwrite: true }, 'IS_DIRECTORY');
    assertFailsWithoutChange(state, { type: 'create', path: '/', overwrite: true }, 'IS_DIRECTORY', root);
  });

  test('PARENT_NOT_DIRECTORY when an ancestor is a file', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assertFailsWithoutChange(state, { type: 'create', path: '/home/alice/f/g', overwrite: true }, 'PARENT_NOT_DIRECTORY');
  });

  test('INVALID_ARGUMENT for bad replication, block size, permission or overwrite', () => {
    const state = fresh();
    const path = '/home/alice/f';
    assertFailsWithoutChange(state, { type: 'create', path, overwrite: false, replication: 0 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'create', path, overwrite: false, replication: 1.5 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'create', path, overwrite: false, blockSize: 0 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'create', path, overwrite: false, permission: 0o17777 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'create', path, overwrite: 'yes' as unknown as boolean }, 'INVALID_ARGUMENT');
  });
});

describe('complete', () => {
  function withOpenFile(): { state: NamespaceState; fileId: number } {
    const state = fresh();
    const created = apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assert.ok(created.ok);
    return { state, fileId: (created.value as { fileId: number }).fileId };
  }

  test('sets the length, clears underConstruction and sets mtime', () => {
    const { state, fileId } = withOpenFile();
    const outcome = apply(state, { type: 'complete', path: '/home/alice/f', fileId, length: 4096 }, alice, 9_000);
    assert.deepEqual(outcome, { ok: true, value: true, mutated: true });
    const file = status(state, '/home/alice/f');
    assert.equal(file?.length, 4096);
    assert.equal(file?.underConstruction, false);
    assert.equal(file?.mtime, 9_000);
  });

  test('NOT_FOUND for a missing path, a directory, or another fileId', () => {
    const { state, fileId } = withOpenFile();
    assertFailsWithoutChange(state, { type: 'complete', path: '/home/alice/g', fileId, length: 1 }, 'NOT_FOUND');
    assertFailsWithoutChange(state, { type: 'complete', path: '/home/alice', fileId, length: 1 }, 'NOT_FOUND');
    assertFailsWithoutChange(state, { type: 'complete', path: '/home/alice/f', fileId: fileId + 1, length: 1 }, 'NOT_FOUND');
  });

  test('a writer whose file was overwritten gets NOT_FOUND', () => {
    const { state, fileId } = withOpenFile();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: true });
    assertFailsWithoutChange(state, { type: 'complete', path: '/home/alice/f', fileId, length: 1 }, 'NOT_FOUND');
  });

  test('FILE_NOT_OPEN for a file that is already complete', () => {
    const { state, fileId } = withOpenFile();
    apply(state, { type: 'complete', path: '/home/alice/f', fileId, length: 1 });
    assertFailsWithoutChange(state, { type: 'complete', path: '/home/alice/f', fileId, length: 2 }, 'FILE_NOT_OPEN');
  });

  test('INVALID_ARGUMENT for a negative length', () => {
    const { state, fileId } = withOpenFile();
    assertFailsWithoutChange(state, { type: 'complete', path: '/home/alice/f', fileId, length: -1 }, 'INVALID_ARGUMENT');
  });
});

describe('delete', () => {
  test('a missing path answers false', () => {
    const state = fresh();
    const before = canonicalDump(state).root;
    assert.deepEqual(apply(state, { type: 'delete', path: '/home/alice/nope', recursive: false }), { ok: true, value: false, mutated: true });
    assert.deepEqual(apply(state, { type: 'delete', path: '/nope/deeper', recursive: true }, root), { ok: true, value: false, mutated: true });
    assert.deepEqual(canonicalDump(state).root, before);
  });

  test('ROOT_NOT_DELETABLE for /', () => {
    assertFailsWithoutChange(fresh(), { type: 'delete', path: '/', recursive: true }, 'ROOT_NOT_DELETABLE', root);
  });

  test('DIRECTORY_NOT_EMPTY without recursive', () => {
    const state = fresh();
    apply(state, { type: 'mkdirs', path: '/home/alice/d/e' });
    assertFailsWithoutChange(state, { type: 'delete', path: '/home/alice/d', recursive: false }, 'DIRECTORY_NOT_EMPTY');
  });

  test('removes a file, an empty directory, and a whole subtree; parent mtime = op time', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/d/e/f', overwrite: false });
    apply(state, { type: 'mkdirs', path: '/home/alice/empty' });
    apply(state, { type: 'create', path: '/home/alice/g', overwrite: false });
    assert.equal(inodeCount(state), 8);
    assert.deepEqual(apply(state, { type: 'delete', path: '/home/alice/g', recursive: false }), { ok: true, value: true, mutated: true });
    assert.deepEqual(apply(state, { type: 'delete', path: '/home/alice/empty', recursive: false }), { ok: true, value: true, mutated: true });
    assert.deepEqual(apply(state, { type: 'delete', path: '/home/alice/d', recursive: true }, alice, 11_000), { ok: true, value: true, mutated: true });
    assert.equal(status(state, '/home/alice/d'), null);
    assert.equal(status(state, '/home/alice')?.mtime, 11_000);
    assert.equal(status(state, '/home/alice')?.childrenCount, 0);
    assert.equal(inodeCount(state), 3);
  });

  test('INVALID_ARGUMENT when recursive is not a boolean', () => {
    assertFailsWithoutChange(fresh(), { type: 'delete', path: '/home/alice', recursive: undefined as unknown as boolean }, 'INVALID_ARGUMENT');
  });
});

describe('setPermission, setOwner, setTimes', () => {
  test('setPermission sets the mode bits, sticky bit included', () => {
    const state = fresh();
    assert.deepEqual(apply(state, { type: 'setPermission', path: '/home/alice', permission: 0o1777 }), { ok: true, value: null, mutated: true });
    assert.equal(status(state, '/home/alice')?.permission, 0o1777);
  });

  test('setPermission: INVALID_ARGUMENT outside 0..0o7777, NOT_FOUND for a missing path', () => {
    const state = fresh();
    assertFailsWithoutChange(state, { type: 'setPermission', path: '/home/alice', permission: 0o10000 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'setPermission', path: '/home/alice', permission: 1.5 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'setPermission', path: '/home/alice/x', permission: 0o700 }, 'NOT_FOUND');
  });

  test('setOwner sets owner, group, or both', () => {
    const state = fresh();
    apply(state, { type: 'setOwner', path: '/home/alice', owner: 'bob' }, root);
    assert.equal(status(state, '/home/alice')?.owner, 'bob');
    assert.equal(status(state, '/home/alice')?.group, 'staff');
    apply(state, { type: 'setOwner', path: '/home/alice', group: 'wheel' }, root);
    assert.equal(status(state, '/home/alice')?.group, 'wheel');
    apply(state, { type: 'setOwner', path: '/home/alice', owner: 'carol', group: 'carol' }, root);
    assert.equal(status(state, '/home/alice')?.owner, 'carol');
    assert.equal(status(state, '/home/alice')?.group, 'carol');
  });

  test('setOwner: INVALID_ARGUMENT with neither or an empty name, NOT_FOUND for a missing path', () => {
    const state = fresh();
    assertFailsWithoutChange(state, { type: 'setOwner', path: '/home/alice' }, 'INVALID_ARGUMENT', root);
    assertFailsWithoutChange(state, { type: 'setOwner', path: '/home/alice', owner: '' }, 'INVALID_ARGUMENT', root);
    assertFailsWithoutChange(state, { type: 'setOwner', path: '/nope', owner: 'bob' }, 'NOT_FOUND', root);
  });

  test('setTimes sets mtime and/or atime; -1 or absent leaves a time unchanged', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false }, alice, 100);
    apply(state, { type: 'setTimes', path: '/home/alice/f', mtime: 200 });
    assert.equal(status(state, '/home/alice/f')?.mtime, 200);
    assert.equal(status(state, '/home/alice/f')?.atime, 100);
    apply(state, { type: 'setTimes', path: '/home/alice/f', mtime: -1, atime: 300 });
    assert.equal(status(state, '/home/alice/f')?.mtime, 200);
    assert.equal(status(state, '/home/alice/f')?.atime, 300);
  });

  test('setTimes: INVALID_ARGUMENT below -1, NOT_FOUND for a missing path', () => {
    const state = fresh();
    assertFailsWithoutChange(state, { type: 'setTimes', path: '/home/alice', mtime: -2 }, 'INVALID_ARGUMENT');
    assertFailsWithoutChange(state, { type: 'setTimes', path: '/home/alice/x', mtime: 1 }, 'NOT_FOUND');
  });
});

describe('envelope', () => {
  test('INVALID_ARGUMENT for an unknown op type, a bad time or a missing user', () => {
    const state = fresh();
    const before = canonicalDump(state);
    const base = { clientId: 'c', callId: 1, time: 1, user: 'alice', groups: [] };
    const bad: unknown[] = [
      { ...base, type: 'chmod', path: '/' },
      { ...base, time: Number.NaN, type: 'mkdirs', path: '/x' },
      { ...base, user: '', type: 'mkdirs', path: '/x' },
      { ...base, callId: 'one', type: 'mkdirs', path: '/x' },
      { ...base, groups: 'staff', type: 'mkdirs', path: '/x' },
    ];
    for (const op of bad) assert.equal(errorCode(machine.apply(state, op as NamespaceMutation)), 'INVALID_ARGUMENT');
    assert.deepEqual(canonicalDump(state), before);
  });
});

describe('getFileInfo', () => {
  test('answers null for a missing path or a path below a file', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assert.deepEqual(machine.getFileInfo(state, '/home/alice/x', alice), { ok: true, value: null, mutated: false });
    assert.deepEqual(machine.getFileInfo(state, '/home/alice/f/x', alice), { ok: true, value: null, mutated: false });
  });

  test('INVALID_PATH for a bad path', () => {
    assert.equal(errorCode(machine.getFileInfo(fresh(), 'home', alice)), 'INVALID_PATH');
  });

  test('reports a directory with its children count', () => {
    const state = fresh();
    apply(state, { type: 'mkdirs', path: '/home/alice/a' });
    apply(state, { type: 'mkdirs', path: '/home/alice/b' });
    const info = machine.getFileInfo(state, '/home/alice', alice);
    assert.ok(info.ok);
    assert.equal(info.value?.childrenCount, 2);
    assert.equal(info.value?.length, 0);
    assert.equal(info.value?.replication, 0);
  });
});

describe('listStatus', () => {
  function withNames(names: string[]): NamespaceState {
    const state = fresh();
    for (const name of names) apply(state, { type: 'create', path: `/home/alice/${name}`, overwrite: false });
    return state;
  }

  test('lists children sorted by plain string compare', () => {
    const names = ['b', 'a', 'C', 'é', 'aa', '10', '9'];
    const state = withNames(names);
    const page = machine.listStatus(state, '/home/alice', undefined, undefined, alice);
    assert.ok(page.ok);
    assert.deepEqual(
      page.value.entries.map((entry) => entry.name),
      [...names].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
    );
    assert.equal(page.value.remaining, 0);
  });

  test('pages: entries strictly after startAfter, at most min(limit, listPageEntriesMax)', () => {
    const small = createNamespaceMachine({ superuser: 'hdfs', listPageEntriesMax: 3 });
    const state = small.initial();
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
      small.apply(state, { type: 'mkdirs', path: `/${name}`, clientId: 'p', callId: name.charCodeAt(0), time: 1, ...root });
    }
    const first = small.listStatus(state, '/', undefined, 100, root);
    assert.ok(first.ok);
    assert.deepEqual(first.value.entries.map((entry) => entry.name), ['a', 'b', 'c']);
    assert.equal(first.value.remaining, 4);
    const second = small.listStatus(state, '/', 'c', 2, root);
    assert.ok(second.ok);
    assert.deepEqual(second.value.entries.map((entry) => entry.name), ['d', 'e']);
    assert.equal(second.value.remaining, 2);
    const between = small.listStatus(state, '/', 'cc', undefined, root);
    assert.ok(between.ok);
    assert.deepEqual(between.value.entries.map((entry) => entry.name), ['d', 'e', 'f']);
    const past = small.listStatus(state, '/', 'z', undefined, root);
    assert.ok(past.ok);
    assert.deepEqual(past.value, { entries: [], remaining: 0 });
  });

  test('the listing follows changes to the directory (the sorted cache is invalidated)', () => {
    const state = withNames(['b', 'd']);
    const names = () => {
      const page = machine.listStatus(state, '/home/alice', undefined, undefined, alice);
      assert.ok(page.ok);
      return page.value.entries.map((entry) => entry.name);
    };
    assert.deepEqual(names(), ['b', 'd']);
    apply(state, { type: 'create', path: '/home/alice/c', overwrite: false });
    assert.deepEqual(names(), ['b', 'c', 'd']);
    apply(state, { type: 'rename', src: '/home/alice/b', dst: '/home/alice/e' });
    assert.deepEqual(names(), ['c', 'd', 'e']);
    apply(state, { type: 'delete', path: '/home/alice/d', recursive: false });
    assert.deepEqual(names(), ['c', 'e']);
  });

  test('a file lists as itself', () => {
    const state = withNames(['f']);
    const page = machine.listStatus(state, '/home/alice/f', undefined, undefined, alice);
    assert.ok(page.ok);
    assert.equal(page.value.entries.length, 1);
    assert.equal(page.value.entries[0]?.name, 'f');
    assert.equal(page.value.remaining, 0);
  });

  test('NOT_FOUND for a missing path; INVALID_ARGUMENT for a bad limit', () => {
    const state = fresh();
    assert.equal(errorCode(machine.listStatus(state, '/nope', undefined, undefined, alice)), 'NOT_FOUND');
    assert.equal(errorCode(machine.listStatus(state, '/', undefined, 0, alice)), 'INVALID_ARGUMENT');
  });

  test('listing a static directory reuses its sorted names instead of sorting again', () => {
    // Speed is measured by `tandem bench meta --op list`; here we check the mechanism behind it.
    const state = fresh();
    for (let i = 0; i < 500; i++) apply(state, { type: 'create', path: `/home/alice/file-${i}`, overwrite: false });
    const directory = state.root.children!.get('home')!.children!.get('alice')!;
    const page = machine.listStatus(state, '/home/alice', undefined, undefined, alice);
    assert.ok(page.ok && page.value.entries.length === 500);
    const cached = sortedChildNames(directory);
    assert.ok(machine.listNames(state, '/home/alice', undefined, undefined, alice).ok);
    assert.equal(sortedChildNames(directory), cached, 'a second listing must hit the cache');
    apply(state, { type: 'create', path: '/home/alice/new', overwrite: false });
    assert.notEqual(sortedChildNames(directory), cached, 'a change must invalidate it');
  });
});

describe('listNames', () => {
  test('names only, in the same order and pages as listStatus', () => {
    const small = createNamespaceMachine({ superuser: 'hdfs', listPageEntriesMax: 3 });
    const state = small.initial();
    for (const name of ['g', 'a', 'e', 'c', 'b', 'f', 'd']) {
      small.apply(state, { type: 'mkdirs', path: `/${name}`, clientId: 'n', callId: name.charCodeAt(0), time: 1, ...root });
    }
    assert.deepEqual(small.listNames(state, '/', undefined, undefined, root), { ok: true, mutated: false, value: { names: ['a', 'b', 'c'], remaining: 4 } });
    assert.deepEqual(small.listNames(state, '/', 'c', 2, root), { ok: true, mutated: false, value: { names: ['d', 'e'], remaining: 2 } });
    const statuses = small.listStatus(state, '/', 'b', undefined, root);
    const names = small.listNames(state, '/', 'b', undefined, root);
    assert.ok(statuses.ok && names.ok);
    assert.deepEqual(names.value.names, statuses.value.entries.map((e) => e.name));
  });

  test('a file lists as its own name; errors as listStatus', () => {
    const state = fresh();
    apply(state, { type: 'create', path: '/home/alice/f', overwrite: false });
    assert.deepEqual(machine.listNames(state, '/home/alice/f', undefined, undefined, alice), { ok: true, mutated: false, value: { names: ['f'], remaining: 0 } });
    assert.equal(errorCode(machine.listNames(state, '/nope', undefined, undefined, alice)), 'NOT_FOUND');
    assert.equal(errorCode(machine.listNames(state, '/home/alice', undefined, -1, alice)), 'INVALID_ARGUMENT');
    apply(state, { type: 'setPermission', path: '/home/alice', permission: 0o700 });
    assert.equal(errorCode(machine.listNames(state, '/home/alice', undefined, undefined, { user: 'bob', groups: [] })), 'PERMISSION_DENIED');
  });
});

describe('contentSummary', () => {
  test('counts files, bytes and directories, the directory itself included', () => {
    const state = fresh();
    const created = apply(state, { type: 'create', path: '/home/alice/a/f', overwrite: false });
    assert.ok(created.ok);
    apply(state, { type: 'complete', path: '/home/alice/a/f', fileId: (created.value as { fileId: number }).fileId, length: 10 });
    apply(state, { type: 'create', path: '/home/alice/a/b/g', overwrite: false });
    apply(state, { type: 'mkdirs', path: '/home/alice/c' });
    assert.deepEqual(machine.contentSummary(state, '/home/alice', alice), {
      ok: true,
      value: { length: 10, fileCount: 2, directoryCount: 4 },
      mutated: false,
    });
    assert.deepEqual(machine.contentSummary(state, '/home/alice/a/f', alice), {
      ok: true,
      value: { length: 10, fileCount: 1, directoryCount: 0 },
      mutated: false,
    });
  });

  test('NOT_FOUND for a missing path', () => {
    assert.equal(errorCode(machine.contentSummary(fresh(), '/nope', alice)), 'NOT_FOUND');
  });
});
