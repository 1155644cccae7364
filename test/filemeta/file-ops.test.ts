// setReplication, append, truncate and concat in the file-metadata machine: success and
// error paths, "a refused op changes nothing", the retry cache, lease recovery of an
// appended file, and images holding files reopened by append or being truncated.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { pack, unpack } from 'msgpackr';
import { createFileMetaMachine, canonicalDump, assertFileMetaInvariants, type FileMetaState } from '../../src/filemeta/machine.js';
import type { FileMetaMutation, PipelineAnswer, TruncateAnswer } from '../../src/filemeta/ops.js';
import { fileMetaTester, ok, type Body } from './tester.js';
import { ownedPoolsOf } from '../../src/filemeta/config.js';


// Shard fms-0 of two over 4 pools: it owns pools 0 and 2 (file ids ≡ 0 or 2 mod 4).
const machine = createFileMetaMachine({ shard: 'fms-0', pools: 4, ownedPools: ownedPoolsOf('fms-0', ['fms-0', 'fms-1'], 4) });
const { apply, assertRefused, lastCallId } = fileMetaTester(machine);
const targets = [{ id: 'dn1', data: 'h1:9866' }];



/** Writes a closed file with blocks of these lengths (block size 100) as holder 'writer'. */
function written(state: FileMetaState, fileId: number, lengths: number[], holder = 'writer'): string[] {
  const blocks: string[] = [];
  let previous: { blockId: string; length: number } | null = null;
  for (const length of lengths) {
    const answer: PipelineAnswer = ok<PipelineAnswer>(apply(state, { type: 'addBlock', fileId, pool: fileId % 4, replication: 3, blockSize: 100, holder, previous, targets }, { clientId: holder }));
    blocks.push(answer.blockId);
    previous = { blockId: answer.blockId, length };
  }
  ok(apply(state, { type: 'complete', fileId, holder, last: previous }, { clientId: holder }));
  return blocks;
}

const fileOf = (state: FileMetaState, fileId: number) => state.files.get(fileId)!;

describe('setReplication', () => {
  test('changes a known file’s target; an unknown (empty) file is fine; another shard’s is refused', () => {
    const state = machine.initial();
    written(state, 4, [10]);
    assert.deepEqual(ok(apply(state, { type: 'setReplication', fileId: 4, replication: 1 })), { replication: 1, known: true });
    assert.equal(fileOf(state, 4).replication, 1);
    assert.deepEqual(ok(apply(state, { type: 'setReplication', fileId: 8, replication: 2 })), { replication: 2, known: false });
    assertRefused(state, { type: 'setReplication', fileId: 5, replication: 2 }, 'WRONG_SHARD');
    assertRefused(state, { type: 'setReplication', fileId: 4, replication: 0 }, 'INVALID_ARGUMENT');
  });
});

describe('append', () => {
  test('reopens a closed file; the next addBlock starts a new block after the complete ones; complete sums them', () => {
    const state = machine.initial();
    const [first] = written(state, 4, [60]);
    assert.deepEqual(ok(apply(state, { type: 'append', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'appender' }, { clientId: 'appender' })), { length: 60 });
    assert.deepEqual([fileOf(state, 4).state, fileOf(state, 4).holder], ['open', 'appender']);
    assert.deepEqual(machine.openFiles(state), [{ fileId: 4, holder: 'appender', truncating: false, last: null }], 'no open block until one is added');
    assertRefused(state, { type: 'addBlock', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'appender', previous: { blockId: first!, length: 60 }, targets }, 'INVALID_ARGUMENT', /no open block/);
    assertRefused(state, { type: 'addBlock', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'other', previous: null, targets }, 'LEASE_MISMATCH');
    const added = ok<PipelineAnswer>(apply(state, { type: 'addBlock', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'appender', previous: null, targets }));
    assert.deepEqual(ok(apply(state, { type: 'complete', fileId: 4, holder: 'appender', last: { blockId: added.blockId, length: 30 } })), { length: 90 });
    assert.deepEqual(fileOf(state, 4).blocks, [first, added.blockId]);
  });
  test('an appended file with nothing added completes, or is recovered, with last null at its old length', () => {
    const state = machine.initial();
    written(state, 4, [60]);
    ok(apply(state, { type: 'append', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'appender' }));
    assert.deepEqual(ok(apply(state, { type: 'recoverLease', fileId: 4, last: null })), { length: 60 });
    ok(apply(state, { type: 'append', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'appender' }));
    assert.deepEqual(ok(apply(state, { type: 'complete', fileId: 4, holder: 'appender', last: null })), { length: 60 });
  });
  test('an unknown file (empty, never written) is created open with no block', () => {
    const state = machine.initial();
    assert.deepEqual(ok(apply(state, { type: 'append', fileId: 8, pool: 0, replication: 2, blockSize: 100, holder: 'appender' })), { length: 0 });
    assert.deepEqual([fileOf(state, 8).state, fileOf(state, 8).replication, fileOf(state, 8).blocks.length], ['open', 2, 0]);
  });
  test('errors: open file (ALREADY_BEING_CREATED), wrong shard, pool not the file’s', () => {
    const state = machine.initial();
    written(state, 4, [60]);
    ok(apply(state, { type: 'append', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'appender' }));
    assertRefused(state, { type: 'append', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'second' }, 'ALREADY_BEING_CREATED');
    assertRefused(state, { type: 'append', fileId: 5, pool: 1, replication: 3, blockSize: 100, holder: 'w' }, 'WRONG_SHARD');
    assertRefused(state, { type: 'append', fileId: 6, pool: 0, replication: 3, blockSize: 100, holder: 'w' }, 'INVALID_ARGUMENT', /pool/);
  });
});

describe('truncate', () => {
  test('at a block boundary: later blocks go, the file stays closed, done', () => {
    const state = machine.initial();
    const blocks = written(state, 4, [100, 100, 40]);
    const answer = ok<TruncateAnswer>(apply(state, { type: 'truncate', fileId: 4, newLength: 100, holder: 't' }));
    assert.deepEqual(answer, { length: 100, done: true, removed: blocks.slice(1) });
    assert.deepEqual([fileOf(state, 4).state, fileOf(state, 4).blocks, fileOf(state, 4).length], ['closed', blocks.slice(0, 1), 100]);
    assert.equal(state.blocks.has(blocks[1]!), false);
    assert.deepEqual(ok(apply(state, { type: 'truncate', fileId: 4, newLength: 100, holder: 't' })), { length: 100, done: true, removed: [] }, 'to the current length: nothing to do');
    assert.deepEqual(ok(apply(state, { type: 'truncate', fileId: 4, newLength: 0, holder: 't' })), { length: 0, done: true, removed: blocks.slice(0, 1) });
    assert.equal(fileOf(state, 4).blocks.length, 0);
  });
  test('inside a block: that block reopens at the cut length with a new genStamp, the file is open and truncating until closed', () => {
    const state = machine.initial();
    const blocks = written(state, 4, [100, 100, 40]);
    const genStamp = state.blocks.get(blocks[1]!)!.genStamp;
    const answer = ok<TruncateAnswer>(apply(state, { type: 'truncate', fileId: 4, newLength: 130, holder: 't' }));
    assert.deepEqual(answer, { length: 130, done: false, removed: blocks.slice(2) });
    const cut = state.blocks.get(blocks[1]!)!;
    assert.deepEqual([cut.state, cut.length], ['open', 30]);
    assert.ok(cut.genStamp > genStamp);
    assert.deepEqual(machine.openFiles(state), [{ fileId: 4, holder: 't', truncating: true, last: { blockId: blocks[1]!, genStamp: cut.genStamp, length: 30 } }]);
    // The writer's ops cannot touch it; only lease recovery (the active's truncate recovery) closes it.
    assertRefused(state, { type: 'complete', fileId: 4, holder: 't', last: { blockId: blocks[1]!, length: 30 } }, 'ALREADY_BEING_CREATED', /being truncated/);
    assertRefused(state, { type: 'addBlock', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 't', previous: { blockId: blocks[1]!, length: 30 }, targets }, 'ALREADY_BEING_CREATED');
    assertRefused(state, { type: 'updatePipeline', blockId: blocks[1]!, holder: 't', length: 30, targets }, 'ALREADY_BEING_CREATED');
    assertRefused(state, { type: 'truncate', fileId: 4, newLength: 10, holder: 't' }, 'ALREADY_BEING_CREATED');
    assert.deepEqual(ok(apply(state, { type: 'recoverLease', fileId: 4, last: { blockId: blocks[1]!, length: 30 } })), { length: 130 });
    assert.deepEqual([fileOf(state, 4).state, fileOf(state, 4).truncating, cut.state], ['closed', false, 'complete']);
  });
  test('errors: longer than the file, unknown file, open file, another shard’s', () => {
    const state = machine.initial();
    written(state, 4, [50]);
    assertRefused(state, { type: 'truncate', fileId: 4, newLength: 51, holder: 't' }, 'INVALID_ARGUMENT', /fewer than 51/);
    assertRefused(state, { type: 'truncate', fileId: 8, newLength: 0, holder: 't' }, 'NOT_FOUND');
    assertRefused(state, { type: 'truncate', fileId: 5, newLength: 0, holder: 't' }, 'WRONG_SHARD');
    ok(apply(state, { type: 'append', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'appender' }));
    assertRefused(state, { type: 'truncate', fileId: 4, newLength: 10, holder: 't' }, 'ALREADY_BEING_CREATED');
  });
});

describe('concat', () => {
  test('moves the sources’ blocks, in order, to the end of the target; unknown sources are skipped; repeatable', () => {
    const state = machine.initial();
    const t = written(state, 4, [100, 20]);
    const a = written(state, 8, [100, 5]);
    const b = written(state, 12, [7]);
    const body: Body = { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [8, 16, 12] };
    assert.deepEqual(ok(apply(state, body)), { length: 232 });
    assert.deepEqual(fileOf(state, 4).blocks, [...t, ...a, ...b]);
    for (const blockId of [...a, ...b]) assert.equal(state.blocks.get(blockId)!.fileId, 4);
    assert.equal(state.files.has(8) || state.files.has(12), false);
    // Another callId after it was done: the sources are gone, nothing moves.
    assert.deepEqual(ok(apply(state, body)), { length: 232 });
  });
  test('an unknown (empty) target is created from the op’s fields', () => {
    const state = machine.initial();
    const a = written(state, 8, [9]);
    assert.deepEqual(ok(apply(state, { type: 'concat', fileId: 4, pool: 0, replication: 2, blockSize: 100, sources: [8] })), { length: 9 });
    assert.deepEqual([fileOf(state, 4).blocks, fileOf(state, 4).replication, fileOf(state, 4).state], [a, 2, 'closed']);
  });
  test('errors: a source of another shard (CONCAT_ACROSS_SHARDS), open target or source, other block size, repeated ids', () => {
    const state = machine.initial();
    written(state, 4, [10]);
    written(state, 8, [10]);
    assertRefused(state, { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [5] }, 'CONCAT_ACROSS_SHARDS');
    assertRefused(state, { type: 'concat', fileId: 5, pool: 1, replication: 3, blockSize: 100, sources: [8] }, 'WRONG_SHARD');
    assertRefused(state, { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [8, 8] }, 'INVALID_ARGUMENT');
    assertRefused(state, { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [4] }, 'INVALID_ARGUMENT');
    ok(apply(state, { type: 'addBlock', fileId: 12, pool: 0, replication: 3, blockSize: 200, holder: 'w', previous: null, targets }));
    assertRefused(state, { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [12] }, 'ALREADY_BEING_CREATED');
    ok(apply(state, { type: 'complete', fileId: 12, holder: 'w', last: { blockId: fileOf(state, 12).blocks[0]!, length: 150 } }));
    assertRefused(state, { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [12] }, 'INVALID_ARGUMENT', /block size/);
    ok(apply(state, { type: 'append', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'w' }));
    assertRefused(state, { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [8] }, 'ALREADY_BEING_CREATED');
  });
});

test('retries of every new op with the same callId get the first answer and change nothing', () => {
  const state = machine.initial();
  written(state, 4, [100, 50]);
  written(state, 8, [10]);
  const bodies: Body[] = [
    { type: 'setReplication', fileId: 4, replication: 2 },
    { type: 'concat', fileId: 4, pool: 0, replication: 3, blockSize: 100, sources: [8] },
    { type: 'truncate', fileId: 4, newLength: 120, holder: 't' },
  ];
  for (const body of bodies) {
    const first = ok(apply(state, body));
    const id = lastCallId();
    const before = canonicalDump(state);
    assert.deepEqual(machine.apply(state, { clientId: 'writer', callId: id, time: 1_001, user: 'alice', ...body } as FileMetaMutation), { ok: true, value: first, mutated: false });
    assert.deepEqual(canonicalDump(state), before);
  }
});

test('an image holds a file reopened by append, one being truncated and the new answers; version 1 images still load', () => {
  const state = machine.initial();
  written(state, 4, [100, 50]);
  written(state, 8, [10]);
  written(state, 12, [30]);
  ok(apply(state, { type: 'setReplication', fileId: 8, replication: 1 }));
  ok(apply(state, { type: 'append', fileId: 8, pool: 0, replication: 3, blockSize: 100, holder: 'appender' }));
  ok(apply(state, { type: 'truncate', fileId: 4, newLength: 120, holder: 't' }));
  ok(apply(state, { type: 'concat', fileId: 16, pool: 0, replication: 3, blockSize: 100, sources: [12] }));
  const image = unpack(pack(machine.toImage(state))) as ReturnType<typeof machine.toImage>;
  const loaded = machine.fromImage(image);
  assertFileMetaInvariants(loaded);
  assert.deepEqual(canonicalDump(loaded), canonicalDump(state));

  // Version 1 had no flags: every open file's last block was open.
  const old = machine.initial();
  written(old, 4, [100]);
  ok(apply(old, { type: 'addBlock', fileId: 8, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets }));
  const v1 = unpack(pack(machine.toImage(old))) as ReturnType<typeof machine.toImage>;
  v1.version = 1;
  Reflect.deleteProperty(v1.files, 'flags');
  assert.deepEqual(canonicalDump(machine.fromImage(v1)), canonicalDump(old));
});
