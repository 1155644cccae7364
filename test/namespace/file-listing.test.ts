// The namespace's whole-tree views for fsck: listFiles (paged in path order, resumable from
// any path, bounded per page) and findFiles (live, pending delete, or unknown).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createNamespaceMachine, type FileListingPage, type NamespaceState } from '../../src/namespace/machine.js';
import type { MutationBase, NamespaceMutation, CreateResult } from '../../src/namespace/ops.js';

type Body = NamespaceMutation extends infer M ? (M extends unknown ? Omit<M, keyof MutationBase> : never) : never;

const machine = createNamespaceMachine({ superuser: 'hdfs', supergroup: 'supergroup', pools: 4, trackDeletes: true, listPageEntriesMax: 50 });
const root = { user: 'hdfs', groups: [] };
const admins = { user: 'carol', groups: ['supergroup'] };
const alice = { user: 'alice', groups: ['staff'] };
let callId = 0;

function apply<T = unknown>(state: NamespaceState, body: Body): T {
  const outcome = machine.apply(state, { clientId: 'listing-test', callId: ++callId, time: 1_000, ...root, ...body } as NamespaceMutation);
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
  return outcome.value as T;
}

function createFile(state: NamespaceState, path: string, length = 0): number {
  const { fileId } = apply<CreateResult>(state, { type: 'create', path, overwrite: false, replication: 2 });
  if (length > 0) apply(state, { type: 'complete', path, fileId, length });
  return fileId;
}

function page(state: NamespaceState, after: string | undefined, limit: number): FileListingPage {
  const result = machine.listFiles(state, after, limit, root);
  assert.ok(result.ok, result.ok ? '' : result.error.message);
  return result.value;
}

/** Every file, page by page; also checks each page stays within its bound. */
function listAll(state: NamespaceState, limit: number): { paths: string[]; pages: number } {
  const paths: string[] = [];
  let after: string | undefined;
  for (let pages = 1; pages < 10_000; pages++) {
    const p = page(state, after, limit);
    assert.ok(p.files.length <= limit);
    paths.push(...p.files.map((f) => f.path));
    if (p.next === null) return { paths, pages };
    after = p.next;
  }
  throw new Error('listFiles never finished');
}

/** Every file path, by a plain recursive walk through listStatus (the reference). */
function referencePaths(state: NamespaceState, path = '/'): string[] {
  const listing = machine.listStatus(state, path, undefined, 1_000, root);
  assert.ok(listing.ok);
  return listing.value.entries.flatMap((e) => {
    const child = path === '/' ? `/${e.name}` : `${path}/${e.name}`;
    return e.type === 'file' ? [child] : referencePaths(state, child);
  });
}

describe('listFiles', () => {
  test('lists every file once, in path order, with id, pool, length, replication and state', () => {
    const state = machine.initial();
    apply(state, { type: 'mkdirs', path: '/empty/deeper' });
    const b = createFile(state, '/a/b', 300);
    createFile(state, '/a/c');
    createFile(state, '/a-z', 5);
    createFile(state, '/z', 7);
    const whole = page(state, undefined, 50);
    assert.equal(whole.next, null);
    assert.deepEqual(whole.files.map((f) => f.path), ['/a/b', '/a/c', '/a-z', '/z']);
    assert.deepEqual(whole.files[0], { fileId: b, pool: b % 4, path: '/a/b', length: 300, replication: 2, underConstruction: false });
    assert.equal(whole.files[1]!.underConstruction, true);
  });

  test('pages of any size give the same files as a full walk, and a page visits at most `limit` inodes', () => {
    const state = machine.initial();
    // A tree with wide and deep parts, empty directories, and names that sort around '/'.
    for (let i = 0; i < 30; i++) createFile(state, `/wide/f${String(i).padStart(2, '0')}`, i + 1);
    createFile(state, '/deep/1/2/3/4/5/file', 1);
    for (let i = 0; i < 12; i++) apply(state, { type: 'mkdirs', path: `/hollow/d${i}/e` });
    createFile(state, '/hollow/d5/e/x', 1);
    createFile(state, '/a.b', 1);
    createFile(state, '/a/b', 1);
    const expected = referencePaths(state);
    assert.equal(expected.length, 34);
    for (const limit of [1, 2, 3, 7, 50]) {
      const { paths, pages } = listAll(state, limit);
      assert.deepEqual(paths, expected, `limit ${limit}`);
      if (limit === 1) assert.ok(pages > 60, 'directories count against a page, so tiny pages are many');
    }
  });

  test('a page is capped at listPageEntriesMax whatever limit asks', () => {
    const state = machine.initial();
    for (let i = 0; i < 70; i++) createFile(state, `/f${String(i).padStart(2, '0')}`);
    const first = page(state, undefined, 1_000_000);
    assert.equal(first.files.length, 50);
    assert.equal(first.next, '/f49');
  });

  test('resumes after a cursor that is gone, was a file and is now a directory, or is a directory', () => {
    const state = machine.initial();
    for (const path of ['/a/1', '/b/1', '/b/2', '/c/1']) createFile(state, path);
    // The cursor's inode was deleted between pages: the walk goes on from where it sorted.
    assert.deepEqual(page(state, '/b/1x', 10).files.map((f) => f.path), ['/b/2', '/c/1']);
    assert.deepEqual(page(state, '/aa/zz', 10).files.map((f) => f.path), ['/b/1', '/b/2', '/c/1']);
    // A directory as the cursor: its subtree comes after it.
    assert.deepEqual(page(state, '/b', 10).files.map((f) => f.path), ['/b/1', '/b/2', '/c/1']);
    // A file cursor under a path that is now a file: nothing below a file.
    assert.deepEqual(page(state, '/a/1/deeper', 10).files.map((f) => f.path), ['/b/1', '/b/2', '/c/1']);
    assert.deepEqual(page(state, '/c/1', 10), { files: [], next: null });
    assert.deepEqual(page(state, '/', 10).files.length, 4);
  });

  test('a file added behind the cursor is not seen; one added ahead is', () => {
    const state = machine.initial();
    for (const path of ['/m/1', '/m/2', '/m/3']) createFile(state, path);
    const first = page(state, undefined, 2);
    assert.deepEqual(first.files.map((f) => f.path), ['/m/1']);
    createFile(state, '/a');
    createFile(state, '/z');
    const rest = listAll(state, 50);
    assert.ok(rest.paths.includes('/a'));
    const second = page(state, first.next!, 50);
    assert.deepEqual(second.files.map((f) => f.path), ['/m/2', '/m/3', '/z']);
  });

  test('only the superuser (or the supergroup) may list, and arguments are checked', () => {
    const state = machine.initial();
    createFile(state, '/x');
    const denied = machine.listFiles(state, undefined, 10, alice);
    assert.equal(denied.ok, false);
    assert.equal(!denied.ok && denied.error.code, 'PERMISSION_DENIED');
    assert.equal(machine.listFiles(state, undefined, 10, admins).ok, true);
    const badLimit = machine.listFiles(state, undefined, 0, root);
    assert.equal(!badLimit.ok && badLimit.error.code, 'INVALID_ARGUMENT');
    const badCursor = machine.listFiles(state, 'relative/path', 10, root);
    assert.equal(!badCursor.ok && badCursor.error.code, 'INVALID_PATH');
  });
});

describe('findFiles', () => {
  test('answers live files with their path, pending deletes with their pool, and leaves out the unknown', () => {
    const state = machine.initial();
    const kept = createFile(state, '/d/kept', 10);
    const gone = createFile(state, '/d/gone', 20);
    apply(state, { type: 'rename', src: '/d/kept', dst: '/elsewhere' });
    apply(state, { type: 'delete', path: '/d/gone', recursive: false });
    const found = machine.findFiles(state, [kept, gone, 999_999, kept], root);
    assert.ok(found.ok);
    assert.deepEqual(found.value, [
      { fileId: kept, status: 'live', file: { fileId: kept, pool: kept % 4, path: '/elsewhere', length: 10, replication: 2, underConstruction: false } },
      { fileId: gone, status: 'pendingDelete', pool: gone % 4 },
    ]);
    // Once its FMS acknowledged the delete, the namespace forgets it.
    apply(state, { type: 'deletesDelivered', fileIds: [gone] });
    const after = machine.findFiles(state, [gone], root);
    assert.ok(after.ok);
    assert.deepEqual(after.value, []);
  });

  test('only the superuser, at most listPageEntriesMax ids, positive integers', () => {
    const state = machine.initial();
    const denied = machine.findFiles(state, [1], alice);
    assert.equal(!denied.ok && denied.error.code, 'PERMISSION_DENIED');
    const tooMany = machine.findFiles(state, Array.from({ length: 51 }, (_, i) => i + 1), root);
    assert.equal(!tooMany.ok && tooMany.error.code, 'INVALID_ARGUMENT');
    const bad = machine.findFiles(state, [0], root);
    assert.equal(!bad.ok && bad.error.code, 'INVALID_ARGUMENT');
  });
});
