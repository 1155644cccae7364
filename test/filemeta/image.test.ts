// File-metadata images: a round trip through msgpack reproduces the state exactly, and a
// corrupt, truncated or mismatched image is refused with a message saying what is wrong.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { createFileMetaMachine, canonicalDump, assertFileMetaInvariants, type FileMetaImage, type FileMetaState } from '../../src/filemeta/machine.js';
import type { FileMetaMutation, FileMetaMutationBase } from '../../src/filemeta/ops.js';

type Body = FileMetaMutation extends infer M ? (M extends unknown ? Omit<M, keyof FileMetaMutationBase> : never) : never;

const machine = createFileMetaMachine({ shard: 'fms-1', pools: 4, ownedPools: [1, 3] });
const packr = new Packr({ useRecords: false });
const targets = [
  { id: 'dn1', data: 'h1:1' },
  { id: 'dn2', data: 'h2:1' },
];
let callId = 0;

function run(state: FileMetaState, body: Body): void {
  const outcome = machine.apply(state, { clientId: 'image-test', callId: ++callId, time: 1_000 + callId, user: 'u', ...body } as FileMetaMutation);
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
}

/** Closed, open, empty-closed and deleted files; every kind of retry answer. */
function sample(): FileMetaState {
  const state = machine.initial();
  run(state, { type: 'addBlock', fileId: 5, pool: 1, replication: 3, blockSize: 100, holder: 'w', previous: null, targets });
  run(state, { type: 'addBlock', fileId: 5, pool: 1, replication: 3, blockSize: 100, holder: 'w', previous: { blockId: 'fms-1_1', length: 100 }, targets });
  run(state, { type: 'complete', fileId: 5, holder: 'w', last: { blockId: 'fms-1_2', length: 7 } });
  run(state, { type: 'addBlock', fileId: 9, pool: 3, replication: 1, blockSize: 50, holder: 'w2', previous: null, targets: [targets[1]!] });
  run(state, { type: 'updatePipeline', blockId: 'fms-1_3', holder: 'w2', length: 20, targets: [targets[0]!] });
  run(state, { type: 'addBlock', fileId: 11, pool: 3, replication: 2, blockSize: 50, holder: 'w3', previous: null, targets });
  run(state, { type: 'recoverLease', fileId: 11, last: { blockId: 'fms-1_4', length: 0 } });
  run(state, { type: 'addBlock', fileId: 13, pool: 1, replication: 2, blockSize: 50, holder: 'w3', previous: null, targets });
  run(state, { type: 'deleteFiles', fileIds: [13, 99] });
  return state;
}

function roundTrip(image: FileMetaImage): FileMetaImage {
  return packr.unpack(packr.pack(image)) as FileMetaImage;
}

test('toImage → msgpack → fromImage reproduces canonicalDump, retry cache and open-file index included', () => {
  const state = sample();
  const restored = machine.fromImage(roundTrip(machine.toImage(state)));
  assertFileMetaInvariants(restored);
  assert.deepEqual(canonicalDump(restored), canonicalDump(state));
  assert.deepEqual(machine.openFiles(restored), machine.openFiles(state));
  assert.deepEqual(machine.toImage(restored), machine.toImage(state));
  // The restored state goes on handing out the same ids.
  const body: Body = { type: 'addBlock', fileId: 9, pool: 3, replication: 1, blockSize: 50, holder: 'w2', previous: { blockId: 'fms-1_3', length: 30 }, targets };
  const op = { clientId: 'next', callId: 1, time: 5_000, user: 'u', ...body } as FileMetaMutation;
  assert.deepEqual(machine.apply(restored, op), machine.apply(state, op));
});

test('the image is columnar and does not store what it can derive', () => {
  const image = machine.toImage(sample());
  assert.deepEqual(image.files.fileId, [5, 9, 11]);
  assert.deepEqual(image.files.holder, [null, 'w2', null]);
  assert.deepEqual(image.files.blockCount, [2, 1, 1]);
  assert.deepEqual(image.blocks, { seq: [1, 2, 3, 4], genStamp: [1, 2, 4, 5], length: [100, 7, 20, 0] });
  assert.equal(image.retry.clientId.length, 9);
});

/** Applies `mutate` to a copy of the sample's image and expects fromImage to refuse it with `pattern`. */
function assertRefused(mutate: (image: Record<string, unknown> & FileMetaImage) => void, pattern: RegExp, into = machine): void {
  const image = structuredClone(machine.toImage(sample())) as Record<string, unknown> & FileMetaImage;
  mutate(image);
  assert.throws(() => into.fromImage(image), (error: Error) => {
    assert.match(error.message, /^malformed file-metadata image: /);
    assert.match(error.message, pattern);
    return true;
  });
}

test('not an image, another version', () => {
  assert.throws(() => machine.fromImage(null as unknown as FileMetaImage), /not an object/);
  assert.throws(() => machine.fromImage([] as unknown as FileMetaImage), /not an object/);
  assertRefused((image) => (image.version = 3), /version is 3, this build reads 1..2/);
});

test('another shard, pool count or pool ownership', () => {
  assertRefused(() => {}, /belongs to shard "fms-1", but this is shard "fms-0"/, createFileMetaMachine({ shard: 'fms-0', pools: 4, ownedPools: [1, 3] }));
  assertRefused(() => {}, /pools=4 but this shard is configured with pools=8/, createFileMetaMachine({ shard: 'fms-1', pools: 8, ownedPools: [1, 3] }));
  assertRefused(() => {}, /owns pools \[1,3\] but this shard is configured to own \[1\]/, createFileMetaMachine({ shard: 'fms-1', pools: 4, ownedPools: [1] }));
  assertRefused((image) => (image.files.pool[0] = 0), /pool 0, which this shard does not own/);
});

test('truncated: a missing or short column', () => {
  assertRefused((image) => delete (image as Partial<FileMetaImage>).files, /files is not an object/);
  assertRefused((image) => image.files.pool.pop(), /files.pool has 2 entries, expected 3/);
  assertRefused((image) => image.blocks.length.pop(), /blocks.length has 3 entries, expected 4/);
  assertRefused((image) => (image.files.blockCount = [2, 1, 2]), /files.blockCount\[2\] is 2, expected an integer in 0..1/);
  assertRefused((image) => (image.files.blockCount = [2, 1, 0]), /blocks holds 4 entries but the files own 3/);
  assertRefused((image) => delete (image as Partial<FileMetaImage>).retry, /retry is not an object/);
  assertRefused((image) => image.retry.time.pop(), /retry.time has 8 entries, expected 9/);
});

test('corrupt values', () => {
  assertRefused((image) => (image.nextBlockSeq = 0), /nextBlockSeq 0/);
  assertRefused((image) => (image.nextGenStamp = 1.5), /nextGenStamp 1.5/);
  assertRefused((image) => (image.files.fileId = [5, 5, 11]), /files.fileId\[1\] is 5, expected an integer in 6\.\./);
  assertRefused((image) => (image.files.replication[0] = 0), /files.replication\[0\]/);
  assertRefused((image) => (image.files.blockSize[1] = -1), /files.blockSize\[1\]/);
  assertRefused((image) => (image.files.holder[1] = 7 as unknown as string), /files.holder\[1\] is neither null nor a client id/);
  assertRefused((image) => (image.blocks.seq[1] = 1), /block fms-1_1 appears twice/);
  assertRefused((image) => (image.blocks.seq[0] = 99), /blocks.seq\[0\] is 99, expected an integer in 1..5/);
  assertRefused((image) => (image.blocks.genStamp[0] = 7), /blocks.genStamp\[0\] is 7, expected an integer in 1..6/);
  assertRefused((image) => (image.blocks.length[0] = 101), /blocks.length\[0\] is 101, expected an integer in 0..100/);
  assertRefused((image) => (image.retry.clientId[0] = 3 as unknown as string), /retry.clientId\[0\]/);
  assertRefused((image) => (image.retry.value[0] = { length: 1, extra: true } as never), /retry.value\[0\] is not a file-metadata op's answer/);
  assertRefused((image) => (image.retry.value[0] = { blockId: 'x', genStamp: 1, targets: [{ id: 'a' }] } as never), /retry.value\[0\]/);
  assertRefused((image) => (image.retry.callId[1] = image.retry.callId[0]!), /twice/);
});
