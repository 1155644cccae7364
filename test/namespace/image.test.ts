// Images: a round trip through msgpack reproduces the state exactly, two replicas with
// the same logical state write the same image, and a malformed image is refused loudly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { createNamespaceMachine, canonicalDump, assertNamespaceInvariants, type NamespaceImage, type NamespaceState } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';

const machine = createNamespaceMachine({ superuser: 'hdfs', pools: 3 });
const packr = new Packr({ useRecords: false });
let callId = 0;

function run(state: NamespaceState, op: Record<string, unknown>, user = 'hdfs', time = 1_000): void {
  const outcome = machine.apply(state, { clientId: 'image-test', callId: ++callId, time, user, groups: ['staff'], ...op } as unknown as NamespaceMutation);
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
}

function sample(): NamespaceState {
  const state = machine.initial();
  run(state, { type: 'mkdirs', path: '/user/alice/data' });
  run(state, { type: 'setOwner', path: '/user/alice/data', owner: 'alice', group: 'staff' });
  run(state, { type: 'setPermission', path: '/user/alice/data', permission: 0o750 });
  run(state, { type: 'create', path: '/user/alice/data/part-0', overwrite: false, replication: 2 }, 'alice', 2_000);
  run(state, { type: 'create', path: '/user/alice/data/part-1', overwrite: false }, 'alice', 3_000);
  run(state, { type: 'complete', path: '/user/alice/data/part-1', fileId: state.nextFileId - 1, length: 12_345 }, 'alice');
  run(state, { type: 'setTimes', path: '/user/alice/data/part-1', atime: 1_700_000_000_123 });
  run(state, { type: 'mkdirs', path: '/tmp/日本/é' });
  run(state, { type: 'setPermission', path: '/tmp', permission: 0o1777 });
  return state;
}

function roundTrip(image: NamespaceImage): NamespaceImage {
  return packr.unpack(packr.pack(image)) as NamespaceImage;
}

test('toImage → msgpack → fromImage reproduces canonicalDump, retry cache included', () => {
  const state = sample();
  const restored = machine.fromImage(roundTrip(machine.toImage(state)));
  assertNamespaceInvariants(restored);
  assert.deepEqual(canonicalDump(restored), canonicalDump(state));
  assert.equal(restored.retryCache.size, 9);
});

test('the restored state behaves like the original: retries hit, ids continue', () => {
  const state = sample();
  const restored = machine.fromImage(roundTrip(machine.toImage(state)));
  const retry = { type: 'mkdirs', path: '/user/alice/data', clientId: 'image-test', callId: callId - 8, time: 5_000, user: 'hdfs', groups: [] } as NamespaceMutation;
  assert.deepEqual(machine.apply(restored, retry), machine.apply(state, retry));
  const create = { type: 'create', path: '/new', overwrite: false, clientId: 'x', callId: 1, time: 5_000, user: 'hdfs', groups: [] } as NamespaceMutation;
  assert.deepEqual(machine.apply(restored, create), machine.apply(state, create));
  assert.deepEqual(canonicalDump(restored), canonicalDump(state));
});

test('the same logical state written in a different order gives the same image', () => {
  const first = machine.initial();
  const second = machine.initial();
  for (const name of ['b', 'a', 'c']) run(first, { type: 'mkdirs', path: `/${name}` }, 'hdfs', 1);
  for (const name of ['c', 'a', 'b']) run(second, { type: 'mkdirs', path: `/${name}` }, 'hdfs', 1);
  const strip = (state: NamespaceState) => ({ ...machine.toImage(state), retry: null, inodes: { ...machine.toImage(state).inodes, id: null } });
  assert.deepEqual(strip(first), strip(second));
});

test('an empty namespace round-trips', () => {
  const state = machine.initial();
  assert.deepEqual(canonicalDump(machine.fromImage(roundTrip(machine.toImage(state)))), canonicalDump(state));
});

/** A mutilated copy of the sample image. */
function corrupt(change: (image: NamespaceImage) => void): unknown {
  const image = structuredClone(machine.toImage(sample()));
  change(image);
  return image;
}

test('malformed images throw a plain Error that says what is wrong', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'hello', /not an object/],
    ['wrong version', corrupt((image) => (image.version = 3)), /version/],
    ['version zero', corrupt((image) => (image.version = 0)), /version/],
    ['other pools', corrupt((image) => (image.pools = 4)), /pools=4/],
    ['nextFileId too small', corrupt((image) => (image.nextFileId = 16385)), /nextFileId/],
    ['no inodes', corrupt((image) => ((image as { inodes: unknown }).inodes = 'x')), /inodes is not an object/],
    ['short column', corrupt((image) => image.inodes.mtime.pop()), /inodes\.mtime has/],
    ['forward parent', corrupt((image) => (image.inodes.parent[1] = 5)), /inodes\.parent\[1\]/],
    ['second root', corrupt((image) => (image.inodes.parent[2] = -1)), /only inode 0/],
    [
      'child of a file',
      corrupt((image) => {
        const flags = image.inodes.flags;
        const file = flags.findIndex((flag) => (flag & 1) === 0);
        const later = flags.length - 1;
        assert.ok(file >= 0 && file < later, 'the sample has a file before its last inode');
        image.inodes.parent[later] = file;
      }),
      /has a file/,
    ],
    [
      'duplicate sibling',
      corrupt((image) => {
        const second = image.inodes.parent.lastIndexOf(0);
        assert.ok(second > 1, 'the root has two children');
        image.inodes.name[second] = image.inodes.name[1]!;
      }),
      /two children named/,
    ],
    ['bad name', corrupt((image) => (image.inodes.name[1] = 'a/b')), /contains '\/'/],
    ['duplicate id', corrupt((image) => (image.inodes.id[2] = image.inodes.id[1]!)), /appears twice/],
    ['id beyond nextFileId', corrupt((image) => (image.inodes.id[2] = image.nextFileId)), /inodes\.id\[2\]/],
    ['root is a file', corrupt((image) => (image.inodes.flags[0] = 0)), /root inode is not a directory/],
    ['directory under construction', corrupt((image) => (image.inodes.flags[1] = 3)), /under construction/],
    ['mode out of range', corrupt((image) => (image.inodes.permission[1] = 0o10000)), /inodes\.permission\[1\]/],
    ['string index out of range', corrupt((image) => (image.inodes.owner[1] = 99)), /inodes\.owner\[1\]/],
    ['non-integer time', corrupt((image) => (image.inodes.mtime[1] = 1.5)), /inodes\.mtime\[1\]/],
    ['bad retry value', corrupt((image) => ((image.retry.value as unknown[])[0] = { fileId: 'x' })), /retry\.value\[0\]/],
    ['duplicate retry key', corrupt((image) => {
      image.retry.clientId[1] = image.retry.clientId[0]!;
      image.retry.callId[1] = image.retry.callId[0]!;
    }), /twice/],
    ['short retry column', corrupt((image) => image.retry.time.pop()), /retry\.time has/],
  ];
  for (const [what, image, message] of cases) {
    assert.throws(() => machine.fromImage(image as NamespaceImage), (error: unknown) => {
      assert.ok(error !== undefined, what);
      assert.ok(error instanceof Error, what);
      assert.match(error.message, /^malformed namespace image: /, what);
      assert.match(error.message, message, `${what}: ${error.message}`);
      return true;
    }, what);
  }
});
