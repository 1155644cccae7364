// Every file-metadata mutation and query, one behaviour per test, including every error
// code each can answer with, the retry cache, and "a refused op changes nothing".

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createFileMetaMachine, canonicalDump, type FileMetaState } from '../../src/filemeta/machine.js';
import type { FileMetaMutation, PipelineAnswer } from '../../src/filemeta/ops.js';
import { fileMetaTester, ok, type Body } from './tester.js';
import { ownedPoolsOf, fileMetaConfigWith } from '../../src/filemeta/config.js';


// Shard fms-0 of two over 4 pools: it owns pools 0 and 2.
const machine = createFileMetaMachine({ shard: 'fms-0', pools: 4, ownedPools: ownedPoolsOf('fms-0', ['fms-0', 'fms-1'], 4), blocksPerFileMax: 3 });
const { apply, assertRefused, lastCallId } = fileMetaTester(machine);
const targets = [
  { id: 'dn1', data: 'h1:9866' },
  { id: 'dn2', data: 'h2:9866' },
];


function addBlock(state: FileMetaState, fileId: number, previous: { blockId: string; length: number } | null, holder = 'writer') {
  return apply(state, { type: 'addBlock', fileId, pool: 0, replication: 2, blockSize: 100, holder, previous, targets });
}


describe('config', () => {
  test('ownedPoolsOf follows pool % shards', () => {
    assert.deepEqual(ownedPoolsOf('fms-1', ['fms-0', 'fms-1', 'fms-2'], 8), [1, 4, 7]);
    assert.throws(() => ownedPoolsOf('fms-9', ['fms-0'], 8), /not one of/);
  });
  test('without ownedPools a shard owns every pool', () => {
    assert.deepEqual(fileMetaConfigWith({ pools: 3 }).ownedPools, [0, 1, 2]);
    assert.deepEqual(fileMetaConfigWith().ownedPools, [0, 1, 2, 3, 4, 5, 6, 7]);
  });
  test('refuses bad configs', () => {
    assert.throws(() => fileMetaConfigWith({ shard: 'fms_0' }), /shard/);
    assert.throws(() => fileMetaConfigWith({ pools: 2, ownedPools: [2] }), /ownedPools/);
    assert.throws(() => fileMetaConfigWith({ ownedPools: [0, 0] }), /twice/);
    assert.throws(() => fileMetaConfigWith({ ownedPools: [] }), /non-empty/);
    assert.throws(() => fileMetaConfigWith({ safeModeThreshold: 1.5 }), /safeModeThreshold/);
    assert.throws(() => fileMetaConfigWith({ heartbeatDeadlineMs: 0 }), /heartbeatDeadlineMs/);
  });
});

describe('addBlock', () => {
  test('first call creates the open file and its first block', () => {
    const state = machine.initial();
    const answer = ok<PipelineAnswer>(addBlock(state, 7, null));
    assert.deepEqual(answer, { blockId: 'fms-0_1', genStamp: 1, targets });
    const file = ok<{ state: string; holder: string; blocks: unknown[] }>(machine.getFile(state, 7));
    assert.deepEqual(file, {
      fileId: 7,
      pool: 0,
      replication: 2,
      blockSize: 100,
      state: 'open',
      holder: 'writer',
      length: 0,
      truncating: false,
      blocks: [{ blockId: 'fms-0_1', genStamp: 1, length: 0, offset: 0, state: 'open' }],
    });
  });

  test('a later call completes previous at its length and appends a block; offsets add up', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    const second = ok<PipelineAnswer>(addBlock(state, 7, { blockId: 'fms-0_1', length: 100 }));
    assert.equal(second.blockId, 'fms-0_2');
    assert.equal(second.genStamp, 2);
    ok(addBlock(state, 7, { blockId: 'fms-0_2', length: 60 }));
    const file = ok<{ length: number; blocks: { offset: number; state: string; length: number }[] }>(machine.getFile(state, 7));
    assert.equal(file.length, 160);
    assert.deepEqual(
      file.blocks.map((b) => [b.offset, b.length, b.state]),
      [
        [0, 100, 'complete'],
        [100, 60, 'complete'],
        [160, 0, 'open'],
      ],
    );
    assert.equal(machine.blockCount(state), 3);
    assert.equal(machine.fileCount(state), 1);
  });

  test('a pool this shard does not own → WRONG_SHARD', () => {
    const state = machine.initial();
    assertRefused(state, { type: 'addBlock', fileId: 7, pool: 1, replication: 2, blockSize: 100, holder: 'w', previous: null, targets }, 'WRONG_SHARD', /pool 1/);
  });

  test('another holder → LEASE_MISMATCH; a closed file → FILE_NOT_OPEN', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    assertRefused(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'other', previous: { blockId: 'fms-0_1', length: 5 }, targets }, 'LEASE_MISMATCH');
    ok(apply(state, { type: 'complete', fileId: 7, holder: 'writer', last: { blockId: 'fms-0_1', length: 5 } }));
    assertRefused(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'writer', previous: { blockId: 'fms-0_1', length: 5 }, targets }, 'FILE_NOT_OPEN');
  });

  test('previous must be the open last block, within the block size', () => {
    const state = machine.initial();
    assertRefused(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'writer', previous: { blockId: 'fms-0_1', length: 5 }, targets }, 'NOT_FOUND');
    addBlock(state, 7, null);
    const base = { type: 'addBlock' as const, fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'writer', targets };
    assertRefused(state, { ...base, previous: null }, 'INVALID_ARGUMENT', /must name the last block/);
    assertRefused(state, { ...base, previous: { blockId: 'fms-0_9', length: 5 } }, 'INVALID_ARGUMENT', /last block of file 7 is fms-0_1/);
    assertRefused(state, { ...base, previous: { blockId: 'fms-0_1', length: 101 } }, 'INVALID_ARGUMENT', /block size/);
    assertRefused(state, { ...base, pool: 2, previous: { blockId: 'fms-0_1', length: 5 } }, 'INVALID_ARGUMENT', /pool 0, not 2/);
  });

  test('malformed arguments → INVALID_ARGUMENT', () => {
    const state = machine.initial();
    const base = { type: 'addBlock' as const, fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'writer', previous: null, targets };
    assertRefused(state, { ...base, fileId: 0 }, 'INVALID_ARGUMENT', /fileId/);
    assertRefused(state, { ...base, pool: 4 }, 'INVALID_ARGUMENT', /pool/);
    assertRefused(state, { ...base, replication: 0 }, 'INVALID_ARGUMENT', /replication/);
    assertRefused(state, { ...base, blockSize: -1 }, 'INVALID_ARGUMENT', /blockSize/);
    assertRefused(state, { ...base, holder: '' }, 'INVALID_ARGUMENT', /holder/);
    assertRefused(state, { ...base, targets: [] }, 'INVALID_ARGUMENT', /targets/);
    assertRefused(state, { ...base, targets: [targets[0]!, targets[0]!] }, 'INVALID_ARGUMENT', /distinct/);
    assertRefused(state, { ...base, targets: [{ id: 'dn1' }] as never }, 'INVALID_ARGUMENT', /targets/);
    assertRefused(state, { ...base, previous: { blockId: 'x' } as never }, 'INVALID_ARGUMENT', /previous/);
  });

  test('blocksPerFileMax bounds a file', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    ok(addBlock(state, 7, { blockId: 'fms-0_1', length: 1 }));
    ok(addBlock(state, 7, { blockId: 'fms-0_2', length: 1 }));
    assertRefused(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'writer', previous: { blockId: 'fms-0_3', length: 1 }, targets }, 'INVALID_ARGUMENT', /most a file may have/);
  });

  test('the answer echoes the targets but the state does not keep them', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    assert.equal(JSON.stringify(canonicalDump(state).files).includes('h1:9866'), false);
  });
});

describe('updatePipeline', () => {
  test('gives the open block a new genStamp and records the acknowledged length', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    const answer = ok<PipelineAnswer>(apply(state, { type: 'updatePipeline', blockId: 'fms-0_1', holder: 'writer', length: 40, targets: [targets[1]!] }));
    assert.deepEqual(answer, { blockId: 'fms-0_1', genStamp: 2, targets: [targets[1]!] });
    const file = ok<{ length: number; blocks: { genStamp: number; length: number }[] }>(machine.getFile(state, 7));
    assert.equal(file.length, 40);
    assert.equal(file.blocks[0]!.genStamp, 2);
    // The acknowledged prefix is never taken back.
    assertRefused(state, { type: 'updatePipeline', blockId: 'fms-0_1', holder: 'writer', length: 39, targets }, 'INVALID_ARGUMENT', /below/);
    assertRefused(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'writer', previous: { blockId: 'fms-0_1', length: 39 }, targets }, 'INVALID_ARGUMENT', /below/);
    assertRefused(state, { type: 'updatePipeline', blockId: 'fms-0_1', holder: 'writer', length: 101, targets }, 'INVALID_ARGUMENT', /block size/);
  });

  test('errors: foreign id, unknown, malformed, complete block, other holder', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    addBlock(state, 7, { blockId: 'fms-0_1', length: 10 });
    const base = { type: 'updatePipeline' as const, holder: 'writer', length: 0, targets };
    assertRefused(state, { ...base, blockId: 'fms-1_1' }, 'WRONG_SHARD');
    assertRefused(state, { ...base, blockId: 'fms-0_99' }, 'NOT_FOUND');
    assertRefused(state, { ...base, blockId: 'nonsense' }, 'INVALID_ARGUMENT');
    assertRefused(state, { ...base, blockId: 'fms-0_1' }, 'FILE_NOT_OPEN', /complete/);
    assertRefused(state, { ...base, blockId: 'fms-0_2', holder: 'thief' }, 'LEASE_MISMATCH');
    assertRefused(state, { ...base, blockId: 'fms-0_2', length: -1 }, 'INVALID_ARGUMENT');
  });
});

describe('complete', () => {
  test('completes the last block and closes the file; length is the sum', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    addBlock(state, 7, { blockId: 'fms-0_1', length: 100 });
    assert.deepEqual(ok(apply(state, { type: 'complete', fileId: 7, holder: 'writer', last: { blockId: 'fms-0_2', length: 23 } })), { length: 123 });
    const file = ok<{ state: string; holder: null; blocks: { state: string }[] }>(machine.getFile(state, 7));
    assert.equal(file.state, 'closed');
    assert.equal(file.holder, null);
    assert.ok(file.blocks.every((b) => b.state === 'complete'));
    assert.deepEqual(machine.openFiles(state), []);
  });

  test('a block-less file completes with last null at length 0; a file with blocks needs last', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    assertRefused(state, { type: 'complete', fileId: 7, holder: 'writer', last: null }, 'INVALID_ARGUMENT');
    // Ops never make a block-less file (the FMS learns of a file at its first addBlock), but
    // the rule holds for one: build it by hand, as an image could hold it.
    state.files.set(8, { fileId: 8, pool: 2, replication: 1, blockSize: 10, blocks: [], state: 'open', holder: 'writer', length: 0, truncating: false });
    state.openFiles.add(8);
    assertRefused(state, { type: 'complete', fileId: 8, holder: 'writer', last: { blockId: 'fms-0_1', length: 0 } }, 'INVALID_ARGUMENT', /no open block/);
    assert.deepEqual(ok(apply(state, { type: 'complete', fileId: 8, holder: 'writer', last: null })), { length: 0 });
  });

  test('a repeated complete by the same call is answered from the retry cache; another call gets FILE_NOT_OPEN', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    const body: Body = { type: 'complete', fileId: 7, holder: 'writer', last: { blockId: 'fms-0_1', length: 9 } };
    const first = apply(state, body, { callId: 500 });
    assert.deepEqual(first, { ok: true, value: { length: 9 }, mutated: true });
    const before = canonicalDump(state);
    assert.deepEqual(apply(state, body, { callId: 500 }), { ok: true, value: { length: 9 }, mutated: false });
    assert.deepEqual(canonicalDump(state), before);
    assertRefused(state, body, 'FILE_NOT_OPEN');
  });

  test('errors: unknown file, other holder, wrong last block, too short', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    apply(state, { type: 'updatePipeline', blockId: 'fms-0_1', holder: 'writer', length: 50, targets });
    assertRefused(state, { type: 'complete', fileId: 9, holder: 'writer', last: null }, 'NOT_FOUND');
    assertRefused(state, { type: 'complete', fileId: 7, holder: 'other', last: { blockId: 'fms-0_1', length: 50 } }, 'LEASE_MISMATCH');
    assertRefused(state, { type: 'complete', fileId: 7, holder: 'writer', last: { blockId: 'fms-0_2', length: 50 } }, 'INVALID_ARGUMENT');
    assertRefused(state, { type: 'complete', fileId: 7, holder: 'writer', last: { blockId: 'fms-0_1', length: 49 } }, 'INVALID_ARGUMENT', /below/);
    assertRefused(state, { type: 'complete', fileId: 7, holder: '', last: null }, 'INVALID_ARGUMENT', /holder/);
  });
});

describe('recoverLease', () => {
  test('closes an open file at the agreed length, whoever held it, even below a recorded length', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    apply(state, { type: 'updatePipeline', blockId: 'fms-0_1', holder: 'writer', length: 50, targets });
    assert.deepEqual(machine.openFiles(state), [{ fileId: 7, holder: 'writer', truncating: false, last: { blockId: 'fms-0_1', genStamp: 2, length: 50 } }]);
    assert.deepEqual(ok(apply(state, { type: 'recoverLease', fileId: 7, last: { blockId: 'fms-0_1', length: 30 } }, { clientId: 'fms-active' })), { length: 30 });
    const file = ok<{ state: string; holder: null }>(machine.getFile(state, 7));
    assert.equal(file.state, 'closed');
    assert.equal(file.holder, null);
    // The old writer's complete is now refused.
    assertRefused(state, { type: 'complete', fileId: 7, holder: 'writer', last: { blockId: 'fms-0_1', length: 30 } }, 'FILE_NOT_OPEN');
  });

  test('errors: unknown, closed, wrong block, beyond block size', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    assertRefused(state, { type: 'recoverLease', fileId: 9, last: null }, 'NOT_FOUND');
    assertRefused(state, { type: 'recoverLease', fileId: 7, last: null }, 'INVALID_ARGUMENT');
    assertRefused(state, { type: 'recoverLease', fileId: 7, last: { blockId: 'fms-0_1', length: 101 } }, 'INVALID_ARGUMENT');
    ok(apply(state, { type: 'recoverLease', fileId: 7, last: { blockId: 'fms-0_1', length: 0 } }));
    assertRefused(state, { type: 'recoverLease', fileId: 7, last: { blockId: 'fms-0_1', length: 0 } }, 'FILE_NOT_OPEN');
  });
});

describe('deleteFiles', () => {
  test('removes files and their blocks, lists the blocks, ignores unknown ids', () => {
    const state = machine.initial();
    addBlock(state, 7, null);
    addBlock(state, 7, { blockId: 'fms-0_1', length: 100 });
    addBlock(state, 8, null, 'other');
    const answer = ok(apply(state, { type: 'deleteFiles', fileIds: [7, 99, 7] }));
    assert.deepEqual(answer, { deleted: 1, blocks: ['fms-0_1', 'fms-0_2'] });
    assert.equal(machine.getFile(state, 7).ok, false);
    assert.equal(machine.blockCount(state), 1);
    assert.deepEqual(ok(apply(state, { type: 'deleteFiles', fileIds: [7] })), { deleted: 0, blocks: [] });
    assert.deepEqual(machine.openFiles(state).map((f) => f.fileId), [8]);
  });

  test('malformed ids → INVALID_ARGUMENT', () => {
    const state = machine.initial();
    assertRefused(state, { type: 'deleteFiles', fileIds: [1, -2] }, 'INVALID_ARGUMENT');
    assertRefused(state, { type: 'deleteFiles', fileIds: 'all' as never }, 'INVALID_ARGUMENT');
  });
});

describe('envelope and retry cache', () => {
  test('a bad envelope or unknown type → INVALID_ARGUMENT, nothing changes', () => {
    const state = machine.initial();
    const before = canonicalDump(state);
    for (const op of [
      { type: 'deleteFiles', fileIds: [], clientId: 1, callId: 1, time: 1, user: 'a' },
      { type: 'deleteFiles', fileIds: [], clientId: 'c', callId: 1.5, time: 1, user: 'a' },
      { type: 'deleteFiles', fileIds: [], clientId: 'c', callId: 1, time: 'now', user: 'a' },
      { type: 'deleteFiles', fileIds: [], clientId: 'c', callId: 1, time: 1, user: '' },
      { type: 'rename', clientId: 'c', callId: 1, time: 1, user: 'a' },
    ]) {
      const outcome = machine.apply(state, op as unknown as FileMetaMutation);
      assert.equal(outcome.ok ? 'ok' : outcome.error.code, 'INVALID_ARGUMENT');
    }
    assert.deepEqual(canonicalDump(state), before);
  });

  test('a repeated (clientId, callId) gets the first answer and changes nothing; errors are not cached', () => {
    const state = machine.initial();
    const first = addBlock(state, 7, null);
    assert.equal(first.ok && first.mutated, true);
    const before = canonicalDump(state);
    // Same call again (a retry after a lost reply): same block, no second allocation.
    const again = apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'writer', previous: null, targets }, { callId: lastCallId() });
    assert.deepEqual(again, { ok: true, value: (first as { value: unknown }).value, mutated: false });
    assert.deepEqual(canonicalDump(state), before);
    // An error is not cached: the same call id may succeed later.
    const refused = apply(state, { type: 'complete', fileId: 7, holder: 'writer', last: null }, { callId: 9_000 });
    assert.equal(refused.ok, false);
    const retried = apply(state, { type: 'complete', fileId: 7, holder: 'writer', last: { blockId: 'fms-0_1', length: 1 } }, { callId: 9_000 });
    assert.deepEqual(retried, { ok: true, value: { length: 1 }, mutated: true });
  });

  test('every fresh ok answer reports mutated: true, even a delete of nothing', () => {
    const state = machine.initial();
    assert.deepEqual(apply(state, { type: 'deleteFiles', fileIds: [] }), { ok: true, value: { deleted: 0, blocks: [] }, mutated: true });
    assert.equal(state.retryCache.size, 1);
  });
});
