// Permission checks, HDFS style: owner bits, else group bits, else other bits; the
// superuser and the supergroup pass everything. Each rule is tested denied and allowed.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createNamespaceMachine, canonicalDump, type NamespaceState } from '../../src/namespace/machine.js';
import type { Caller, NamespaceMutation } from '../../src/namespace/ops.js';
import type { Outcome } from '../../src/replication/state-machine.js';

const machine = createNamespaceMachine({ superuser: 'hdfs', supergroup: 'supergroup' });
const hdfs: Caller = { user: 'hdfs', groups: [] };
const admin: Caller = { user: 'root-ish', groups: ['supergroup'] };
const alice: Caller = { user: 'alice', groups: ['staff'] };
const bob: Caller = { user: 'bob', groups: ['bob'] };
let callId = 0;

function run(state: NamespaceState, caller: Caller, op: Record<string, unknown>): Outcome<unknown> {
  return machine.apply(state, { clientId: 'perm-test', callId: ++callId, time: 1_000, ...caller, ...op } as unknown as NamespaceMutation);
}

function ok(outcome: Outcome<unknown>): void {
  assert.equal(outcome.ok, true, outcome.ok ? '' : outcome.error.message);
}

/** Denied, with an HDFS-like message, and nothing changed. */
function denied(state: NamespaceState, caller: Caller, op: Record<string, unknown>, messagePart?: string): void {
  const before = canonicalDump(state);
  const outcome = run(state, caller, op);
  assert.equal(outcome.ok, false, `expected ${JSON.stringify(op)} by ${caller.user} to be denied`);
  if (outcome.ok) return;
  assert.equal(outcome.error.code, 'PERMISSION_DENIED');
  if (messagePart !== undefined) assert.ok(outcome.error.message.includes(messagePart), outcome.error.message);
  assert.deepEqual(canonicalDump(state), before);
}

/**
 * /home 755 hdfs:supergroup; /home/alice 755 alice:staff; /private 700 hdfs;
 * /shared 775 hdfs:staff; /home/alice/f 644 alice:staff (open, fileId in the result).
 */
function setUp(): { state: NamespaceState; fileId: number } {
  const state = machine.initial();
  ok(run(state, hdfs, { type: 'mkdirs', path: '/home/alice' }));
  ok(run(state, hdfs, { type: 'setOwner', path: '/home/alice', owner: 'alice', group: 'staff' }));
  ok(run(state, hdfs, { type: 'mkdirs', path: '/private/inner', permission: 0o700 }));
  ok(run(state, hdfs, { type: 'setPermission', path: '/private', permission: 0o700 }));
  ok(run(state, hdfs, { type: 'mkdirs', path: '/shared', permission: 0o775 }));
  ok(run(state, hdfs, { type: 'setOwner', path: '/shared', group: 'staff' }));
  const created = run(state, alice, { type: 'create', path: '/home/alice/f', overwrite: false });
  assert.ok(created.ok);
  return { state, fileId: (created.value as { fileId: number }).fileId };
}

describe('traversal', () => {
  test('needs x on every ancestor directory', () => {
    const { state } = setUp();
    denied(state, alice, { type: 'mkdirs', path: '/private/inner/x' }, 'user=alice, access=EXECUTE, inode="/private":hdfs:supergroup:drwx------');
    const info = machine.getFileInfo(state, '/private/inner', alice);
    assert.equal(!info.ok && info.error.code, 'PERMISSION_DENIED');
  });

  test('getFileInfo needs traversal only, not access to the inode itself', () => {
    const { state } = setUp();
    const info = machine.getFileInfo(state, '/private', bob);
    assert.ok(info.ok && info.value?.permission === 0o700);
  });

  test('the superuser and supergroup members traverse anything', () => {
    const { state } = setUp();
    assert.ok(machine.getFileInfo(state, '/private/inner', hdfs).ok);
    assert.ok(machine.getFileInfo(state, '/private/inner', admin).ok);
    ok(run(state, admin, { type: 'mkdirs', path: '/private/inner/x' }));
  });
});

describe('creating', () => {
  test('mkdirs and create need w+x on the deepest existing ancestor', () => {
    const { state } = setUp();
    denied(state, alice, { type: 'mkdirs', path: '/home/bob/x' }, 'user=alice, access=WRITE_EXECUTE, inode="/home"');
    denied(state, bob, { type: 'create', path: '/home/alice/g', overwrite: false }, 'inode="/home/alice"');
    ok(run(state, alice, { type: 'mkdirs', path: '/home/alice/x/y' }));
    ok(run(state, hdfs, { type: 'mkdirs', path: '/home/bob/x' }));
  });

  test('group bits apply to group members, other bits to everyone else', () => {
    const { state } = setUp();
    ok(run(state, alice, { type: 'create', path: '/shared/a', overwrite: false }));
    denied(state, bob, { type: 'create', path: '/shared/b', overwrite: false }, 'user=bob, access=WRITE_EXECUTE, inode="/shared"');
  });

  test("the owner's bits decide for the owner even when group bits would allow", () => {
    const { state } = setUp();
    ok(run(state, alice, { type: 'setPermission', path: '/home/alice', permission: 0o075 }));
    denied(state, alice, { type: 'mkdirs', path: '/home/alice/x' });
  });

  test('create with overwrite needs w+x on the parent', () => {
    const { state } = setUp();
    ok(run(state, alice, { type: 'setPermission', path: '/home/alice/f', permission: 0o666 }));
    denied(state, bob, { type: 'create', path: '/home/alice/f', overwrite: true });
    ok(run(state, alice, { type: 'create', path: '/home/alice/f', overwrite: true }));
  });
});

describe('complete', () => {
  test('needs w on the file', () => {
    const { state, fileId } = setUp();
    denied(state, bob, { type: 'complete', path: '/home/alice/f', fileId, length: 1 }, 'access=WRITE, inode="/home/alice/f"');
    ok(run(state, alice, { type: 'complete', path: '/home/alice/f', fileId, length: 1 }));
  });
});

describe('delete', () => {
  test('needs w+x on the parent', () => {
    const { state } = setUp();
    denied(state, alice, { type: 'delete', path: '/home/alice', recursive: true }, 'inode="/home"');
    denied(state, bob, { type: 'delete', path: '/home/alice/f', recursive: false });
    ok(run(state, alice, { type: 'delete', path: '/home/alice/f', recursive: false }));
  });

  test('recursive: needs w+x on every non-empty directory inside; empty ones do not matter', () => {
    const { state } = setUp();
    ok(run(state, hdfs, { type: 'mkdirs', path: '/home/alice/d/locked/x' }));
    ok(run(state, hdfs, { type: 'mkdirs', path: '/home/alice/d/empty' }));
    ok(run(state, hdfs, { type: 'setOwner', path: '/home/alice/d', owner: 'alice' }));
    denied(state, alice, { type: 'delete', path: '/home/alice/d', recursive: true }, 'inode="/home/alice/d/locked"');
    ok(run(state, hdfs, { type: 'delete', path: '/home/alice/d/locked/x', recursive: false }));
    // locked is now empty and owned by hdfs 755, like empty: alice may delete the lot.
    ok(run(state, alice, { type: 'delete', path: '/home/alice/d', recursive: true }));
  });
});

describe('rename', () => {
  test('needs w+x on both parents', () => {
    const { state } = setUp();
    denied(state, alice, { type: 'rename', src: '/home/alice/f', dst: '/home/f' }, 'inode="/home"');
    denied(state, bob, { type: 'rename', src: '/home/alice/f', dst: '/shared/f' }, 'inode="/home/alice"');
    ok(run(state, alice, { type: 'rename', src: '/home/alice/f', dst: '/shared/f' }));
    ok(run(state, alice, { type: 'rename', src: '/shared/f', dst: '/home/alice' }));
  });
});

describe('owner-only operations', () => {
  test('setPermission and setTimes: owner or superuser', () => {
    const { state } = setUp();
    denied(state, bob, { type: 'setPermission', path: '/home/alice/f', permission: 0o777 }, 'user=bob is not the owner of inode="/home/alice/f"');
    denied(state, bob, { type: 'setTimes', path: '/home/alice/f', mtime: 5 });
    ok(run(state, alice, { type: 'setPermission', path: '/home/alice/f', permission: 0o600 }));
    ok(run(state, alice, { type: 'setTimes', path: '/home/alice/f', mtime: 5 }));
    ok(run(state, admin, { type: 'setTimes', path: '/home/alice/f', atime: 6 }));
  });

  test('setOwner: changing the owner needs the superuser; changing the group needs membership', () => {
    const { state } = setUp();
    denied(state, alice, { type: 'setOwner', path: '/home/alice/f', owner: 'bob' }, 'cannot change the owner');
    denied(state, alice, { type: 'setOwner', path: '/home/alice/f', group: 'wheel' }, 'does not belong to group wheel');
    denied(state, bob, { type: 'setOwner', path: '/home/alice/f', group: 'bob' }, 'not the owner');
    ok(run(state, alice, { type: 'setOwner', path: '/home/alice/f', group: 'staff' }));
    ok(run(state, alice, { type: 'setOwner', path: '/home/alice/f', owner: 'alice' }));
    ok(run(state, hdfs, { type: 'setOwner', path: '/home/alice/f', owner: 'bob', group: 'wheel' }));
    ok(run(state, admin, { type: 'setOwner', path: '/home/alice/f', owner: 'carol' }));
  });
});

describe('queries', () => {
  test('listStatus needs r+x on the directory', () => {
    const { state } = setUp();
    const refused = machine.listStatus(state, '/private', undefined, undefined, alice);
    assert.equal(!refused.ok && refused.error.code, 'PERMISSION_DENIED');
    assert.ok(!refused.ok && refused.error.message.includes('access=READ_EXECUTE, inode="/private"'));
    ok(run(state, hdfs, { type: 'setPermission', path: '/private', permission: 0o711 }));
    const stillRefused = machine.listStatus(state, '/private', undefined, undefined, alice);
    assert.equal(!stillRefused.ok && stillRefused.error.code, 'PERMISSION_DENIED');
    assert.ok(machine.listStatus(state, '/private', undefined, undefined, hdfs).ok);
    assert.ok(machine.listStatus(state, '/home', undefined, undefined, alice).ok);
  });

  test('contentSummary needs r+x on every directory of the subtree', () => {
    const { state } = setUp();
    ok(run(state, hdfs, { type: 'setPermission', path: '/private', permission: 0o755 }));
    const refused = machine.contentSummary(state, '/', alice);
    assert.equal(!refused.ok && refused.error.code, 'PERMISSION_DENIED');
    assert.ok(!refused.ok && refused.error.message.includes('inode="/private/inner"'));
    assert.ok(machine.contentSummary(state, '/home', alice).ok);
    assert.ok(machine.contentSummary(state, '/', admin).ok);
  });
});
