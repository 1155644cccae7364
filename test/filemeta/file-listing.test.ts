// The FMS shard's file listing for fsck: pages in fileId order whatever order files were
// created in, bounded by files and by blocks, with the block map's replica counts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFileMetaMachine, type FileMetaState } from '../../src/filemeta/machine.js';
import { describeFiles, listFilePage, type ReplicaHealth } from '../../src/filemeta/file-listing.js';
import { BlockMap } from '../../src/filemeta/block-map.js';
import type { BlockRecord } from '../../src/filemeta/state.js';
import type { FileMetaMutation, PipelineAnswer } from '../../src/filemeta/ops.js';

const machine = createFileMetaMachine({ shard: 'fms-0', pools: 1 });
const targets = [{ id: 'dn1', data: 'h1:9866' }];
let callId = 0;

function apply<T>(state: FileMetaState, op: Record<string, unknown>): T {
  const outcome = machine.apply(state, { clientId: 'w', callId: ++callId, time: 1_000, user: 'alice', ...op } as FileMetaMutation);
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
  return outcome.value as T;
}

/** A closed file of `blocks` full blocks of 10 bytes. */
function writeFile(state: FileMetaState, fileId: number, blocks: number): void {
  let previous: { blockId: string; length: number } | null = null;
  for (let i = 0; i < blocks; i++) {
    const added: PipelineAnswer = apply(state, { type: 'addBlock', fileId, pool: 0, replication: 3, blockSize: 10, holder: 'w', previous, targets });
    previous = { blockId: added.blockId, length: 10 };
  }
  apply(state, { type: 'complete', fileId, holder: 'w', last: previous });
}

const health = (block: BlockRecord): ReplicaHealth => ({ live: block.genStamp % 3, corrupt: block.genStamp % 2 });

function allIds(state: FileMetaState, limit: number, blocksMax: number): number[] {
  const ids: number[] = [];
  let after = 0;
  for (let pages = 0; pages < 1_000; pages++) {
    const page = listFilePage(state, after, limit, blocksMax, health);
    ids.push(...page.files.map((f) => f.fileId));
    if (page.next === null) return ids;
    assert.ok(page.next > after);
    after = page.next;
  }
  throw new Error('never finished');
}

describe('listFilePage', () => {
  test('files come in fileId order, whatever order they were created in, once each, for any page size', () => {
    const state = machine.initial();
    const ids = [50, 3, 17, 99, 4, 1, 60, 8, 23, 42];
    for (const id of ids) writeFile(state, id, 1);
    const sorted = [...ids].sort((a, b) => a - b);
    for (const limit of [1, 3, 4, 10, 11, 1_000]) assert.deepEqual(allIds(state, limit, 1_000), sorted, `limit ${limit}`);
  });

  test('a page stops once its blocks reach blocksMax, but always holds one file', () => {
    const state = machine.initial();
    writeFile(state, 1, 5);
    writeFile(state, 2, 2);
    writeFile(state, 3, 2);
    const first = listFilePage(state, 0, 100, 3, health);
    assert.deepEqual(first.files.map((f) => f.fileId), [1]);
    assert.equal(first.next, 1);
    const second = listFilePage(state, 1, 100, 3, health);
    assert.deepEqual(second.files.map((f) => f.fileId), [2, 3]);
    assert.equal(second.next, null);
    assert.deepEqual(allIds(state, 100, 3), [1, 2, 3]);
  });

  test('each block carries its replica counts; an open file lists its open last block', () => {
    const state = machine.initial();
    writeFile(state, 7, 2);
    apply(state, { type: 'addBlock', fileId: 8, pool: 0, replication: 2, blockSize: 10, holder: 'w', previous: null, targets });
    const { files } = listFilePage(state, 0, 10, 100, health);
    assert.equal(files.length, 2);
    const [closed, open] = files;
    assert.equal(closed!.state, 'closed');
    assert.equal(closed!.length, 20);
    assert.equal(closed!.replication, 3);
    for (const block of closed!.blocks) {
      assert.equal(block.state, 'complete');
      assert.equal(block.live, block.genStamp % 3);
      assert.equal(block.corrupt, block.genStamp % 2);
    }
    assert.equal(open!.state, 'open');
    assert.deepEqual(open!.blocks.map((b) => b.state), ['open']);
  });

  test('an empty shard is one empty last page; bad bounds are a bug', () => {
    assert.deepEqual(listFilePage(machine.initial(), 0, 10, 10, health), { files: [], next: null });
    assert.throws(() => listFilePage(machine.initial(), 0, 0, 10, health), /positive/);
  });
});

describe('describeFiles', () => {
  test('answers the known ids in the order asked, once each', () => {
    const state = machine.initial();
    writeFile(state, 5, 1);
    writeFile(state, 6, 1);
    assert.deepEqual(describeFiles(state, [6, 404, 5, 6], health).map((f) => f.fileId), [6, 5]);
  });
});

describe('BlockMap.replicaHealth', () => {
  test('counts good live replicas (not dead, stale, short or corrupt ones) and corrupt marks', () => {
    const state = machine.initial();
    writeFile(state, 1, 1);
    const block = state.blocks.get(state.files.get(1)!.blocks[0]!)!;
    const map = new BlockMap({ ...machine.config, heartbeatDeadlineMs: 1_000 }, () => 0.5);
    map.becomeActive(state);
    map.leaveSafeMode();
    for (const id of ['dn1', 'dn2', 'dn3', 'dn4']) map.heartbeat({ id, rpc: `${id}:1`, data: `${id}:2`, http: '', capacityBytes: 1e12, usedBytes: 0 }, 0);
    const whole = { blockId: block.blockId, genStamp: block.genStamp, length: 10, finalized: true };
    map.fullReport('dn1', [whole], state, 0);
    map.fullReport('dn2', [whole], state, 0);
    map.fullReport('dn3', [{ ...whole, length: 7 }], state, 0); // a finalized replica of another length: corrupt
    map.fullReport('dn4', [whole], state, 0);
    assert.deepEqual(map.replicaHealth(block, 0), { live: 3, corrupt: 1 });
    assert.equal(map.markCorrupt(block.blockId, 'dn4'), true); // a reader found a bad checksum
    assert.deepEqual(map.replicaHealth(block, 0), { live: 2, corrupt: 2 });
    map.heartbeat({ id: 'dn1', rpc: 'dn1:1', data: 'dn1:2', http: '', capacityBytes: 1e12, usedBytes: 0 }, 900);
    // dn2 fell silent past the heartbeat deadline: its replica no longer counts.
    assert.deepEqual(map.replicaHealth(block, 1_500), { live: 1, corrupt: 2 });
  });
});
