// The block map, the FMS member's soft state: reports placed, deferred on a standby and
// replayed after apply, invalidated on the active; dead datanodes and corrupt replicas
// re-replicated, throttled; safe mode; target choice; leases.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ANY_GEN_STAMP, BlockMap, type DatanodeCommand, type ReplicaReport } from '../../src/filemeta/block-map.js';
import { LeaseTable, expiredLeases } from '../../src/filemeta/leases.js';
import { createFileMetaMachine, type FileMetaState } from '../../src/filemeta/machine.js';
import type { FileMetaMutation, FileMetaMutationBase, PipelineAnswer } from '../../src/filemeta/ops.js';

type Body = FileMetaMutation extends infer M ? (M extends unknown ? Omit<M, keyof FileMetaMutationBase> : never) : never;

const GIB = 1024 ** 3;
const machine = createFileMetaMachine({
  shard: 'fms-0',
  pools: 1,
  ownedPools: [0],
  deferredReportsMax: 3,
  heartbeatDeadlineMs: 10_000,
  replicationWorkPerDatanodeMax: 2,
  deleteBlocksPerCommandMax: 2,
  pendingReplicationTimeoutMs: 60_000,
  leaseHardLimitMs: 1_000,
});
const pipeline = [{ id: 'dn1', data: 'h1:1' }];
let callId = 0;

function apply(state: FileMetaState, body: Body): unknown {
  const outcome = machine.apply(state, { clientId: 'c', callId: ++callId, time: 1, user: 'u', ...body } as FileMetaMutation);
  assert.ok(outcome.ok, outcome.ok ? '' : outcome.error.message);
  return outcome.value;
}

/** A closed file `fileId` of one block of 10 bytes at replication `replication`; answers the block id. */
function closedFile(state: FileMetaState, fileId: number, replication = 3): string {
  const { blockId } = apply(state, { type: 'addBlock', fileId, pool: 0, replication, blockSize: 100, holder: 'w', previous: null, targets: pipeline }) as PipelineAnswer;
  apply(state, { type: 'complete', fileId, holder: 'w', last: { blockId, length: 10 } });
  return blockId;
}

/** A sequence of numbers in [0, 1) that repeats, so random choices are reproducible. */
function seeded(values = [0.1, 0.7, 0.4, 0.9, 0.2]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

function heartbeat(map: BlockMap, id: string, now: number, freeGiB = 10): void {
  map.heartbeat({ id, rpc: `${id}:1`, data: `${id}:2`, http: `${id}:3`, capacityBytes: 100 * GIB, usedBytes: (100 - freeGiB) * GIB }, now);
}

function replica(blockId: string, genStamp: number, length = 10, finalized = true): ReplicaReport {
  return { blockId, genStamp, length, finalized };
}

function commandsOf(work: Map<string, DatanodeCommand[]>, type: DatanodeCommand['type']): [string, DatanodeCommand][] {
  const found: [string, DatanodeCommand][] = [];
  for (const [datanodeId, commands] of work) for (const command of commands) if (command.type === type) found.push([datanodeId, command]);
  return found;
}

/** An active map out of safe mode with dn1..dnN alive at time 0. */
function activeMap(state: FileMetaState, datanodes: number, random = seeded()): BlockMap {
  const map = new BlockMap(machine.config, random);
  map.becomeActive(state);
  map.leaveSafeMode();
  for (let i = 1; i <= datanodes; i++) heartbeat(map, `dn${i}`, 0);
  return map;
}

describe('standby: deferred reports', () => {
  test('a report for a block the journal has not reached is deferred, then placed after the apply', () => {
    const active = machine.initial();
    const standby = machine.initial();
    const blockId = closedFile(active, 7); // the standby has not applied it yet
    const map = new BlockMap(machine.config, seeded());
    heartbeat(map, 'dn1', 0);
    assert.deepEqual(map.fullReport('dn1', [replica(blockId, 1)], standby, 0), { recorded: 0, deferred: 1, invalidated: 0, ignored: 0 });
    assert.equal(map.deferredCount(), 1);
    assert.deepEqual(map.locations(blockId, standby, 0), []);
    // The standby applies what the active journaled, then replays.
    const standbyMachineState = machine.fromImage(machine.toImage(active));
    assert.equal(map.replayDeferred(standbyMachineState), 1);
    assert.equal(map.deferredCount(), 0);
    assert.deepEqual(map.locations(blockId, standbyMachineState, 0), [{ id: 'dn1', data: 'dn1:2', length: 10, finalized: true }]);
  });

  test('an open block lists its pipeline\'s replicas, finalized first', () => {
    const state = machine.initial();
    const { blockId } = apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 2, blockSize: 100, holder: 'w', previous: null, targets: pipeline }) as PipelineAnswer;
    const map = activeMap(state, 2);
    map.incrementalReport('dn1', { received: [replica(blockId, 1, 3, false)], deleted: [] }, state, 0);
    map.incrementalReport('dn2', { received: [replica(blockId, 1, 8, true)], deleted: [] }, state, 0);
    assert.deepEqual(map.locations(blockId, state, 0).map((l) => [l.id, l.finalized]), [
      ['dn2', true],
      ['dn1', false],
    ]);
  });

  test('a newer genStamp than the standby has seen is deferred until the updatePipeline is applied', () => {
    const state = machine.initial();
    const { blockId } = apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 1, blockSize: 100, holder: 'w', previous: null, targets: pipeline }) as PipelineAnswer;
    const map = new BlockMap(machine.config, seeded());
    heartbeat(map, 'dn1', 0);
    assert.equal(map.incrementalReport('dn1', { received: [replica(blockId, 2, 5, false)], deleted: [] }, state, 0).deferred, 1);
    assert.equal(map.replayDeferred(state), 0, 'nothing moved');
    apply(state, { type: 'updatePipeline', blockId, holder: 'w', length: 5, targets: pipeline });
    assert.equal(map.replayDeferred(state), 1);
    assert.deepEqual(map.replicasOf(blockId), [{ datanodeId: 'dn1', genStamp: 2, length: 5, finalized: false }]);
  });

  test('the deferred queue is bounded: the oldest are dropped and counted', () => {
    const state = machine.initial();
    const map = new BlockMap(machine.config, seeded());
    for (let seq = 1; seq <= 5; seq++) map.incrementalReport('dn1', { received: [replica(`fms-0_${seq}`, 1)], deleted: [] }, state, 0);
    assert.equal(map.deferredCount(), 3);
    assert.equal(map.deferredDropped(), 2);
    // A deleted report cancels a deferred one; a repeated report does not take a second slot.
    map.incrementalReport('dn1', { received: [replica('fms-0_5', 1)], deleted: ['fms-0_4'] }, state, 0);
    assert.equal(map.deferredCount(), 2);
  });

  test('a datanode whose deferred reports were dropped owes a full report, asked once the queue has room', () => {
    const active = machine.initial();
    const blocks = [1, 2, 3, 4, 5].map((fileId) => closedFile(active, fileId));
    const standby = machine.initial();
    const map = new BlockMap(machine.config, seeded());
    for (const blockId of blocks.slice(0, 2)) map.incrementalReport('dn1', { received: [replica(blockId, 1)], deleted: [] }, standby, 0);
    for (const blockId of blocks.slice(2)) map.incrementalReport('dn2', { received: [replica(blockId, 1)], deleted: [] }, standby, 0);
    assert.equal(map.deferredDropped(), 2, 'dn1\'s two reports were the oldest');
    assert.equal(map.takeFullReportOwed('dn1'), false, 'the queue is full: asking now would only drop more');
    assert.equal(map.replayDeferred(machine.fromImage(machine.toImage(active))), 3);
    assert.equal(map.takeFullReportOwed('dn2'), false, 'nothing of dn2 was dropped');
    assert.equal(map.takeFullReportOwed('dn1'), true);
    assert.equal(map.takeFullReportOwed('dn1'), false, 'asked once');
  });

  test('a standby schedules deletion of deleted blocks (seq below nextBlockSeq) but hands out nothing', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7);
    apply(state, { type: 'deleteFiles', fileIds: [7] });
    const map = new BlockMap(machine.config, seeded());
    heartbeat(map, 'dn1', 0);
    assert.equal(map.fullReport('dn1', [replica(blockId, 1)], state, 0).invalidated, 1);
    assert.deepEqual(map.pendingDeletes('dn1'), [blockId]);
    assert.equal(map.computeWork(state, 0).size, 0);
  });

  test('becoming active judges what is still deferred as the active does', () => {
    const state = machine.initial();
    const map = new BlockMap(machine.config, seeded());
    heartbeat(map, 'dn1', 0);
    map.fullReport('dn1', [replica('fms-0_9', 1)], state, 0);
    assert.equal(map.deferredCount(), 1);
    map.becomeActive(state);
    assert.equal(map.deferredCount(), 0);
    assert.deepEqual(map.pendingDeletes('dn1'), ['fms-0_9']);
  });
});

describe('active: invalidation', () => {
  test('unknown blocks are scheduled for deletion; a stale genStamp is kept while its block is open, deleted once it is complete; foreign shard ids are ignored', () => {
    const state = machine.initial();
    const { blockId } = apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 1, blockSize: 100, holder: 'w', previous: null, targets: pipeline }) as PipelineAnswer;
    apply(state, { type: 'updatePipeline', blockId, holder: 'w', length: 0, targets: pipeline }); // genStamp 2
    const map = activeMap(state, 2);
    const summary = map.fullReport('dn1', [replica('fms-0_99', 1), replica(blockId, 1, 0, false), replica('fms-1_1', 1), replica('garbage', 1), replica(blockId.replace('fms-0', 'fms-00'), 1)], state, 0);
    assert.deepEqual(summary, { recorded: 1, deferred: 0, invalidated: 1, ignored: 3 });
    assert.equal(map.deferredCount(), 0);
    assert.deepEqual(map.locations(blockId, state, 0), [], 'a stale replica is no location');
    // The unknown block goes whatever its genStamp; the stale replica stays while its writer may still resume it.
    assert.deepEqual(commandsOf(map.computeWork(state, 0), 'delete'), [['dn1', { type: 'delete', blockIds: ['fms-0_99'], genStampsMax: [ANY_GEN_STAMP] }]]);
    // The block is complete and whole on dn2: the stale replica goes, only while it is still at genStamp 1.
    apply(state, { type: 'complete', fileId: 7, holder: 'w', last: { blockId, length: 10 } });
    map.incrementalReport('dn2', { received: [replica(blockId, 2)], deleted: [] }, state, 0);
    assert.deepEqual(commandsOf(map.computeWork(state, 0), 'delete'), [['dn1', { type: 'delete', blockIds: [blockId], genStampsMax: [1] }]]);
    assert.deepEqual(map.replicasOf(blockId).map((r) => r.datanodeId), ['dn2']);
  });

  test('a pipeline member that finalized at the old genStamp, reported after the recovery bumped it, keeps its replica for the recovery to resume', () => {
    // The writer's last packet reached dn1 before its downstream broke: dn1 finalized its
    // replica at genStamp 1 and reported it, and the writer's recovery (genStamp 2, dn1 a
    // survivor) is about to resume that replica. A delete now would take it from under the
    // recovery (the rebuilt pipeline is refused at dn1 and loses a member).
    const state = machine.initial();
    const targets = [1, 2, 3].map((i) => ({ id: `dn${i}`, data: `dn${i}:2` }));
    const { blockId } = apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets }) as PipelineAnswer;
    apply(state, { type: 'updatePipeline', blockId, holder: 'w', length: 60, targets: [targets[0]!, targets[2]!, { id: 'dn4', data: 'dn4:2' }] }); // dn2 failed: genStamp 2
    const map = activeMap(state, 4);
    assert.equal(map.incrementalReport('dn1', { received: [replica(blockId, 1, 100)], deleted: [] }, state, 0).invalidated, 0);
    assert.equal(commandsOf(map.computeWork(state, 0), 'delete').length, 0, 'no delete of the replica the recovery resumes');
    // The rebuilt pipeline finishes the block at genStamp 2 on dn1, dn3, dn4.
    for (const dn of ['dn1', 'dn3', 'dn4']) map.incrementalReport(dn, { received: [replica(blockId, 2, 100)], deleted: [] }, state, 0);
    apply(state, { type: 'complete', fileId: 7, holder: 'w', last: { blockId, length: 100 } });
    assert.deepEqual(map.locations(blockId, state, 0).map((l) => l.id).sort(), ['dn1', 'dn3', 'dn4']);
    assert.equal(map.computeWork(state, 0).size, 0, 'whole: nothing to copy or delete');
  });

  test('a datanode left with a stale replica of a complete block is a copy target (the copy resumes it); a stale one not needed is deleted', () => {
    // dn3 finalized at genStamp 1, reported, then failed the pipeline; the block was finished
    // at genStamp 2 on dn1 and dn2. dn3 is the only live datanode that can take a third copy.
    const state = machine.initial();
    const targets = [1, 2, 3].map((i) => ({ id: `dn${i}`, data: `dn${i}:2` }));
    const { blockId } = apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets }) as PipelineAnswer;
    const map = activeMap(state, 3);
    map.incrementalReport('dn3', { received: [replica(blockId, 1, 100)], deleted: [] }, state, 0);
    apply(state, { type: 'updatePipeline', blockId, holder: 'w', length: 100, targets: targets.slice(0, 2) }); // genStamp 2
    for (const dn of ['dn1', 'dn2']) map.incrementalReport(dn, { received: [replica(blockId, 2, 100)], deleted: [] }, state, 0);
    apply(state, { type: 'complete', fileId: 7, holder: 'w', last: { blockId, length: 100 } });

    const work = map.computeWork(state, 0);
    assert.deepEqual(commandsOf(work, 'replicate').map(([, c]) => (c as { targets: { id: string }[] }).targets.map((t) => t.id)), [['dn3']]);
    assert.equal(commandsOf(work, 'delete').length, 0, 'the copy on its way resumes the stale replica: no delete races it');
    map.incrementalReport('dn3', { received: [replica(blockId, 2, 100)], deleted: [] }, state, 0);
    assert.equal(map.locations(blockId, state, 0).length, 3);
    assert.equal(map.computeWork(state, 0).size, 0);

    // With a fourth datanode holding it, a stale replica is not needed: it is deleted at its genStamp.
    const other = machine.initial();
    const { blockId: second } = apply(other, { type: 'addBlock', fileId: 8, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets }) as PipelineAnswer;
    const four = activeMap(other, 4);
    four.incrementalReport('dn3', { received: [replica(second, 1, 100)], deleted: [] }, other, 0);
    apply(other, { type: 'updatePipeline', blockId: second, holder: 'w', length: 100, targets: [targets[0]!, targets[1]!, { id: 'dn4', data: 'dn4:2' }] });
    for (const dn of ['dn1', 'dn2', 'dn4']) four.incrementalReport(dn, { received: [replica(second, 2, 100)], deleted: [] }, other, 0);
    apply(other, { type: 'complete', fileId: 8, holder: 'w', last: { blockId: second, length: 100 } });
    const trimmed = four.computeWork(other, 0);
    assert.deepEqual(commandsOf(trimmed, 'delete'), [['dn3', { type: 'delete', blockIds: [second], genStampsMax: [1] }]]);
    assert.equal(commandsOf(trimmed, 'replicate').length, 0);
  });

  test('a block being truncated keeps its older replicas (the cut is made from them); once complete, an uncut one is a copy target, never deleted under the copy', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7); // genStamp 1, 10 bytes
    apply(state, { type: 'truncate', fileId: 7, newLength: 4, holder: 't' }); // the block reopens at genStamp 2
    const map = activeMap(state, 2);
    // A full report after the truncate, before the datanodes cut: recorded, not deleted (a delete would race the recover).
    assert.deepEqual(map.fullReport('dn1', [replica(blockId, 1)], state, 0), { recorded: 1, deferred: 0, invalidated: 0, ignored: 0 });
    map.fullReport('dn2', [replica(blockId, 1)], state, 0);
    assert.deepEqual(commandsOf(map.computeWork(state, 0), 'delete'), []);
    const located = map.blockLocations(state, 7, 0);
    assert.deepEqual(located.ok && located.value.blocks[0]!.locations, [], 'an old replica serves no reader');
    // dn1 cuts its replica; the file closes. dn2's uncut replica is stale now: dn2 is the
    // only datanode that can take a second copy, and the copy resumes its replica there.
    map.incrementalReport('dn1', { received: [replica(blockId, 2, 4)], deleted: [] }, state, 0);
    apply(state, { type: 'recoverLease', fileId: 7, last: { blockId, length: 4 } });
    const work = map.computeWork(state, 0);
    assert.deepEqual(commandsOf(work, 'delete'), [], 'no delete races the copy');
    assert.deepEqual(commandsOf(work, 'replicate').map(([source, c]) => [source, (c as { targets: { id: string }[] }).targets.map((t) => t.id)]), [['dn1', ['dn2']]]);
    map.incrementalReport('dn2', { received: [replica(blockId, 2, 4)], deleted: [] }, state, 0);
    assert.deepEqual(map.locations(blockId, state, 0).map((l) => l.id).sort(), ['dn1', 'dn2']);
    assert.equal(map.computeWork(state, 0).size, 0, 'whole: nothing to copy or delete');
  });

  test('blockLocations lists every block of a file with its live replicas', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7);
    const map = activeMap(state, 2);
    map.fullReport('dn2', [replica(blockId, 1)], state, 0);
    map.fullReport('dn1', [replica(blockId, 1, 4, false)], state, 0); // not a whole copy: no location
    const located = map.blockLocations(state, 7, 0);
    assert.ok(located.ok);
    assert.deepEqual(located.value.blocks, [
      {
        blockId,
        genStamp: 1,
        length: 10,
        offset: 0,
        state: 'complete',
        locations: [
          { id: 'dn2', data: 'dn2:2', length: 10, finalized: true },
        ],
      },
    ]);
    const unknown = map.blockLocations(state, 8, 0);
    assert.equal(unknown.ok ? 'ok' : unknown.error.code, 'NOT_FOUND');
  });

  test('a full report replaces what the datanode reported before', () => {
    const state = machine.initial();
    const a = closedFile(state, 7);
    const b = closedFile(state, 8);
    const map = activeMap(state, 1);
    map.fullReport('dn1', [replica(a, 1), replica(b, 2)], state, 0);
    assert.equal(map.locations(b, state, 0).length, 1);
    map.fullReport('dn1', [replica(a, 1)], state, 0);
    assert.equal(map.locations(b, state, 0).length, 0);
    assert.equal(map.locations(a, state, 0).length, 1);
  });

  test('a finalized replica of a complete block with another length is corrupt', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 1);
    const map = activeMap(state, 2);
    assert.equal(map.fullReport('dn1', [replica(blockId, 1, 9)], state, 0).invalidated, 1);
    assert.deepEqual(map.locations(blockId, state, 0), []);
  });

  test('blocks of deleted files are deleted on every datanode that holds them, in bounded commands', () => {
    const state = machine.initial();
    const blocks = [7, 8, 9].map((fileId) => closedFile(state, fileId, 2));
    const map = activeMap(state, 2);
    for (const dn of ['dn1', 'dn2']) map.fullReport(dn, blocks.map((b, i) => replica(b, i + 1)), state, 0);
    const { blocks: deleted } = apply(state, { type: 'deleteFiles', fileIds: [7, 8, 9] }) as { blocks: string[] };
    map.forgetBlocks(deleted);
    const first = commandsOf(map.computeWork(state, 0), 'delete');
    assert.deepEqual(first.map(([dn, c]) => [dn, (c as { blockIds: string[] }).blockIds.length]), [
      ['dn1', 2],
      ['dn2', 2],
    ]);
    const second = commandsOf(map.computeWork(state, 0), 'delete');
    assert.deepEqual(second.map(([dn, c]) => [dn, (c as { blockIds: string[] }).blockIds]), [
      ['dn1', [blocks[2]]],
      ['dn2', [blocks[2]]],
    ]);
    assert.equal(map.computeWork(state, 0).size, 0);
  });
});

describe('replication work', () => {
  test('a dead datanode\'s blocks are re-replicated, at most replicationWorkPerDatanodeMax per source per round', () => {
    const state = machine.initial();
    const blocks = [1, 2, 3, 4, 5].map((fileId) => closedFile(state, fileId, 2));
    const map = activeMap(state, 3);
    for (const dn of ['dn1', 'dn2']) map.fullReport(dn, blocks.map((b, i) => replica(b, i + 1)), state, 0);
    assert.equal(map.computeWork(state, 0).size, 0, 'fully replicated: no work');

    // dn2 stops heartbeating; dn1 and dn3 stay alive.
    heartbeat(map, 'dn1', 10_000);
    heartbeat(map, 'dn3', 10_000);
    const now = 15_000;
    assert.deepEqual(map.liveDatanodes(now).map((d) => d.id), ['dn1', 'dn3']);
    const first = commandsOf(map.computeWork(state, now), 'replicate');
    assert.equal(first.length, 2, 'dn1 is the only source and copies at most 2 per round');
    for (const [source, command] of first) {
      assert.equal(source, 'dn1');
      assert.deepEqual((command as { targets: unknown }).targets, [{ id: 'dn3', data: 'dn3:2' }]);
    }
    // Scheduled copies are pending: the next round takes the next blocks, not the same ones again.
    const second = commandsOf(map.computeWork(state, now), 'replicate');
    const third = commandsOf(map.computeWork(state, now), 'replicate');
    const copied = [...first, ...second, ...third].map(([, c]) => (c as { blockId: string }).blockId);
    assert.deepEqual(copied.sort(), [...blocks].sort());
    assert.equal(map.computeWork(state, now).size, 0);
    // dn3 reports the copies: they count, nothing is pending.
    map.incrementalReport('dn3', { received: blocks.map((b, i) => replica(b, i + 1)), deleted: [] }, state, now);
    assert.equal(map.locations(blocks[0]!, state, now).length, 2);
  });

  test('a source with copies outstanding gets only the rest of its budget; a delete not yet taken holds back the next batch', () => {
    const state = machine.initial();
    const blocks = [1, 2, 3, 4].map((fileId) => closedFile(state, fileId, 2));
    const map = activeMap(state, 2);
    map.fullReport('dn1', blocks.map((b, i) => replica(b, i + 1)), state, 0);
    map.fullReport('dn2', [replica('fms-0_99', 1), replica('fms-0_98', 1)], state, 0); // unknown: to delete
    const busy = { copies: new Map([['dn1', 1]]), deletes: new Set(['dn2']) };
    const load = { copies: (id: string) => busy.copies.get(id) ?? 0, deletesQueued: (id: string) => busy.deletes.has(id) };
    const first = map.computeWork(state, 0, load);
    assert.equal(commandsOf(first, 'replicate').length, 1, 'dn1 runs one copy already: one more reaches the limit of 2');
    assert.equal(commandsOf(first, 'delete').length, 0, 'dn2 has not taken its last delete command');
    busy.copies.set('dn1', 2);
    assert.equal(map.computeWork(state, 0, load).size, 0, 'at its limit, dn1 gets nothing more');
    busy.copies.set('dn1', 0);
    busy.deletes.clear();
    const later = map.computeWork(state, 0, load);
    assert.equal(commandsOf(later, 'replicate').length, 2, 'done with its copies: two more');
    assert.deepEqual(commandsOf(later, 'delete'), [['dn2', { type: 'delete', blockIds: ['fms-0_99', 'fms-0_98'], genStampsMax: [ANY_GEN_STAMP, ANY_GEN_STAMP] }]]);
  });

  test('a datanode whose ZooKeeper node is gone is dead after a short silence; one still heartbeating stays live', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = new BlockMap({ ...machine.config, heartbeatDeadlineUnregisteredMs: 2_000 }, seeded());
    map.becomeActive(state);
    map.leaveSafeMode();
    for (const dn of ['dn1', 'dn2', 'dn3']) heartbeat(map, dn, 0);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    map.fullReport('dn2', [replica(blockId, 1)], state, 0);
    // Without a word from ZooKeeper only the heartbeat deadline (10 s) counts.
    assert.deepEqual(map.liveDatanodes(3_000).map((d) => d.id), ['dn1', 'dn2', 'dn3']);
    // dn2 crashed (no node, silent); dn3 lost ZooKeeper only (no node, heartbeats on).
    map.setRegisteredDatanodes(['dn1']);
    heartbeat(map, 'dn1', 2_500);
    heartbeat(map, 'dn3', 2_500);
    assert.deepEqual(map.liveDatanodes(2_000).map((d) => d.id), ['dn1', 'dn2', 'dn3'], 'silent for 2 s: not yet');
    assert.deepEqual(map.liveDatanodes(3_000).map((d) => d.id), ['dn1', 'dn3'], 'dn2: node gone and silent past 2 s — long before the 10 s deadline');
    assert.deepEqual(commandsOf(map.computeWork(state, 3_000), 'replicate'), [['dn1', { type: 'replicate', blockId, genStamp: 1, length: 10, targets: [{ id: 'dn3', data: 'dn3:2' }] }]]);
    // dn3 keeps heartbeating without its node: live; silent, it is dead at 2 s too.
    heartbeat(map, 'dn3', 4_000);
    assert.equal(map.datanodes.isLive('dn3', 5_900), true);
    assert.equal(map.datanodes.isLive('dn3', 6_100), false);
    // Registered again (a new session): the full deadline applies again.
    map.setRegisteredDatanodes(['dn1', 'dn3']);
    assert.equal(map.datanodes.isLive('dn3', 6_100), true);
    assert.equal(map.datanodes.isLive('dn3', 14_100), false);
  });

  test('a block closed at its first report is not copied onto its pipeline\'s other datanodes while their reports are on the way', () => {
    // The FMS closes a block once one datanode reported it; the others' reports can lag on a
    // loaded machine. A copy onto them would be refused ("a replica already exists"), and its
    // targets — a fourth datanode among them — would count as pending for minutes.
    const state = machine.initial();
    const targets = [1, 2, 3].map((i) => ({ id: `dn${i}`, data: `dn${i}:2` }));
    const map = activeMap(state, 4);
    const answer = apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets }) as PipelineAnswer;
    map.expectPipeline(answer.blockId, answer.genStamp, answer.targets.map((t) => t.id));
    map.incrementalReport('dn1', { received: [replica(answer.blockId, answer.genStamp, 100)], deleted: [] }, state, 0);
    apply(state, { type: 'complete', fileId: 7, holder: 'w', last: { blockId: answer.blockId, length: 100 } });
    assert.equal(map.computeWork(state, 0).size, 0, 'dn2 and dn3 are expected to report: no copy');
    map.incrementalReport('dn2', { received: [replica(answer.blockId, answer.genStamp, 100)], deleted: [] }, state, 0);
    assert.equal(map.computeWork(state, 0).size, 0);

    // dn3 dies before its report arrives: the block is copied elsewhere at once, not after the pending timeout.
    for (const dn of ['dn1', 'dn2', 'dn4']) heartbeat(map, dn, 10_000);
    const copies = commandsOf(map.computeWork(state, 15_000), 'replicate');
    assert.deepEqual(copies.map(([, c]) => (c as { targets: { id: string }[] }).targets.map((t) => t.id)), [['dn4']]);

    // A member that reported is not on its way any more, even once its replica is found corrupt
    // before the block is first seen complete: the block is copied to the spare at once.
    const other = machine.initial();
    const fresh = activeMap(other, 4);
    const second = apply(other, { type: 'addBlock', fileId: 8, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets }) as PipelineAnswer;
    fresh.expectPipeline(second.blockId, second.genStamp, second.targets.map((t) => t.id));
    for (const dn of ['dn1', 'dn2', 'dn3']) fresh.incrementalReport(dn, { received: [replica(second.blockId, second.genStamp, 100)], deleted: [] }, other, 0);
    apply(other, { type: 'complete', fileId: 8, holder: 'w', last: { blockId: second.blockId, length: 100 } });
    assert.ok(fresh.markCorrupt(second.blockId, 'dn1'));
    const replaced = commandsOf(fresh.computeWork(other, 0), 'replicate');
    assert.deepEqual(replaced.map(([, c]) => (c as { targets: { id: string }[] }).targets.map((t) => t.id)), [['dn4']]);
  });

  test('a copy not reported within the pending timeout is scheduled again', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 2);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    assert.equal(commandsOf(map.computeWork(state, 0), 'replicate').length, 1);
    assert.equal(commandsOf(map.computeWork(state, 1_000), 'replicate').length, 0);
    for (let now = 6_000; now <= 60_000; now += 6_000) for (const dn of ['dn1', 'dn2']) heartbeat(map, dn, now);
    assert.equal(commandsOf(map.computeWork(state, 60_000), 'replicate').length, 1);
  });

  test('a datanode whose delete of a block is queued or not reported done is no copy target for it (setReplication 3 → 1 → 3)', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7); // on dn1, dn2, dn3
    const map = activeMap(state, 3);
    for (const dn of ['dn1', 'dn2', 'dn3']) map.fullReport(dn, [replica(blockId, 1)], state, 0);
    apply(state, { type: 'setReplication', fileId: 7, replication: 1 });
    const trimmed = map.computeWork(state, 0);
    const deletedOn = commandsOf(trimmed, 'delete').map(([dn]) => dn);
    assert.equal(deletedOn.length, 2, 'two copies trimmed');
    // Back to 3 before the datanodes have deleted: a copy onto them would find the replica still there.
    apply(state, { type: 'setReplication', fileId: 7, replication: 3 });
    assert.deepEqual(commandsOf(map.computeWork(state, 0), 'replicate'), [], 'no copy while the deletes are on their way');
    // One reports its delete done (incremental), the other in a full report: now both are targets.
    map.incrementalReport(deletedOn[0]!, { received: [], deleted: [blockId] }, state, 0);
    map.fullReport(deletedOn[1]!, [], state, 0);
    const copies = commandsOf(map.computeWork(state, 0), 'replicate').map(([, c]) => (c as { targets: { id: string }[] }).targets.map((t) => t.id).sort());
    assert.deepEqual(copies, [[...deletedOn].sort()]);
  });

  test('setReplication 3 → 1 → 3 with the deletes reported a round apart: two copies of one block from its one source, to different targets', () => {
    // What the command runner must take as two copies (it once deduplicated by block, and
    // dropped the second without a word: its target then sat pending for the whole timeout).
    const state = machine.initial();
    const blockId = closedFile(state, 7);
    const map = activeMap(state, 3);
    for (const dn of ['dn1', 'dn2', 'dn3']) map.fullReport(dn, [replica(blockId, 1)], state, 0);
    apply(state, { type: 'setReplication', fileId: 7, replication: 1 });
    const deletedOn = commandsOf(map.computeWork(state, 0), 'delete').map(([dn]) => dn);
    assert.equal(deletedOn.length, 2);
    apply(state, { type: 'setReplication', fileId: 7, replication: 3 });
    map.incrementalReport(deletedOn[0]!, { received: [], deleted: [blockId] }, state, 0);
    const first = commandsOf(map.computeWork(state, 0), 'replicate') as [string, { targets: { id: string }[] }][];
    map.incrementalReport(deletedOn[1]!, { received: [], deleted: [blockId] }, state, 500);
    const second = commandsOf(map.computeWork(state, 500), 'replicate') as [string, { targets: { id: string }[] }][];
    const source = ['dn1', 'dn2', 'dn3'].find((dn) => !deletedOn.includes(dn));
    assert.deepEqual(
      [...first, ...second].map(([from, c]) => [from, c.targets.map((t) => t.id)]),
      [[source, [deletedOn[0]]], [source, [deletedOn[1]]]],
    );
  });

  test('a copy reported failed makes its block schedulable again at once, to that target or another', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 3);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    const scheduled = commandsOf(map.computeWork(state, 0), 'replicate') as [string, { targets: { id: string }[] }][];
    const target = scheduled[0]![1].targets[0]!.id;
    assert.equal(commandsOf(map.computeWork(state, 1_000), 'replicate').length, 0, 'pending: not scheduled again');
    assert.equal(map.copyFailed(blockId, target, 1_000), true);
    assert.equal(map.copyFailed(blockId, target, 1_000), false, 'told twice: the entry went the first time');
    const again = commandsOf(map.computeWork(state, 1_000), 'replicate') as [string, { blockId: string; targets: { id: string }[] }][];
    assert.deepEqual(again.map(([source, c]) => [source, c.blockId, c.targets.length]), [['dn1', blockId, 1]]);
  });

  test('a failure for another target, another block, a landed copy or an expired entry changes nothing', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 3);
    const map = activeMap(state, 4);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    const command = (commandsOf(map.computeWork(state, 0), 'replicate') as [string, { targets: { id: string }[] }][])[0]![1];
    const [a, b] = command.targets.map((t) => t.id) as [string, string];
    const notTarget = ['dn2', 'dn3', 'dn4'].find((dn) => dn !== a && dn !== b)!;
    assert.equal(map.copyFailed(blockId, notTarget, 1_000), false, 'not a target of this block');
    assert.equal(map.copyFailed('fms-0_999', a, 1_000), false, 'an unknown block');
    assert.equal(map.copyFailed(blockId, 'dn-unknown', 1_000), false, 'an unknown datanode');
    assert.equal(map.copyFailed('not a block id', a, 1_000), false);
    // `a` has it: its report ends the pending entry, and a late failure does nothing.
    map.incrementalReport(a, { received: [replica(blockId, 1)], deleted: [] }, state, 1_000);
    assert.equal(map.copyFailed(blockId, a, 1_000), false, 'the copy to it landed');
    assert.equal(map.computeWork(state, 1_000).size, 0, 'two live and one pending: nothing to do');
    // `b`'s entry is past its expiry (60 s here): a failure of it changes nothing computeWork would not do anyway.
    for (const dn of ['dn1', 'dn2', 'dn3', 'dn4']) heartbeat(map, dn, 59_000);
    assert.equal(map.copyFailed(blockId, b, 60_000), false, 'expired');
    // Only `b` failed, on time: the block is scheduled again for one replica, `a` stays counted.
    const fresh = activeMap(state, 4);
    fresh.fullReport('dn1', [replica(blockId, 1)], state, 0);
    const first = (commandsOf(fresh.computeWork(state, 0), 'replicate') as [string, { targets: { id: string }[] }][])[0]![1];
    const [x, y] = first.targets.map((t) => t.id) as [string, string];
    assert.equal(fresh.copyFailed(blockId, y, 10), true);
    const again = commandsOf(fresh.computeWork(state, 10), 'replicate') as [string, { targets: { id: string }[] }][];
    assert.equal(again.length, 1);
    assert.equal(again[0]![1].targets.length, 1, 'one replica short: the other target is still pending');
    assert.notEqual(again[0]![1].targets[0]!.id, x, 'never onto the target still pending');
  });

  test('a datanode back from the dead counts its replicas again only once its full report says they are there', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 3);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    map.fullReport('dn2', [replica(blockId, 1)], state, 0);
    // dn2 dies; its block is copied to dn3.
    for (const dn of ['dn1', 'dn3']) heartbeat(map, dn, 9_000);
    assert.deepEqual(commandsOf(map.computeWork(state, 11_000), 'replicate').map(([source]) => source), ['dn1']);
    map.incrementalReport('dn3', { received: [replica(blockId, 1)], deleted: [] }, state, 11_000);
    // dn2 is back, its disk wiped: nothing of it counts before its report, so nothing is trimmed.
    assert.deepEqual(map.heartbeat({ id: 'dn2', rpc: 'dn2:1', data: 'dn2:2', http: '', capacityBytes: 100 * GIB, usedBytes: 0 }, 12_000), { fullReportNeeded: true });
    assert.deepEqual(map.heartbeat({ id: 'dn2', rpc: 'dn2:1', data: 'dn2:2', http: '', capacityBytes: 100 * GIB, usedBytes: 0 }, 12_500), { fullReportNeeded: false });
    assert.deepEqual(map.replicasOf(blockId).map((r) => r.datanodeId), ['dn1', 'dn3']);
    assert.equal(map.computeWork(state, 12_500).size, 0, 'two good copies: no trim, no copy');
    // Had it kept the replica, its report brings it back, and one of three is trimmed.
    map.fullReport('dn2', [replica(blockId, 1)], state, 12_500);
    assert.equal(commandsOf(map.computeWork(state, 12_500), 'delete').length, 1);
  });

  test('a copy to a target that died is scheduled again elsewhere without waiting for the pending timeout', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 3);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    const scheduled = commandsOf(map.computeWork(state, 0), 'replicate') as [string, { targets: { id: string }[] }][];
    assert.equal(scheduled.length, 1);
    const target = scheduled[0]![1].targets[0]!.id;
    const other = target === 'dn2' ? 'dn3' : 'dn2';
    // The target goes silent; the source and the other datanode heartbeat on.
    heartbeat(map, 'dn1', 10_000);
    heartbeat(map, other, 10_000);
    const again = commandsOf(map.computeWork(state, 15_000), 'replicate') as [string, { targets: { id: string }[] }][];
    assert.deepEqual(again.map(([source, c]) => [source, c.targets.map((t) => t.id)]), [['dn1', [other]]]);
  });

  test('closed files come first, then the blocks with the fewest live replicas', () => {
    const state = machine.initial();
    const twoLive = closedFile(state, 1, 3);
    const oneLive = closedFile(state, 2, 3);
    const { blockId: openDone } = apply(state, { type: 'addBlock', fileId: 3, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets: pipeline }) as PipelineAnswer;
    apply(state, { type: 'addBlock', fileId: 3, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: { blockId: openDone, length: 10 }, targets: pipeline });
    const map = new BlockMap({ ...machine.config, replicationWorkPerDatanodeMax: 1 }, seeded());
    map.becomeActive(state);
    map.leaveSafeMode();
    for (let i = 1; i <= 5; i++) heartbeat(map, `dn${i}`, 0);
    map.fullReport('dn1', [replica(twoLive, 1), replica(oneLive, 2), replica(openDone, 3)], state, 0);
    map.fullReport('dn2', [replica(twoLive, 1)], state, 0);
    // One copy per source per round: dn1 is the only source of oneLive and openDone.
    const round = commandsOf(map.computeWork(state, 0), 'replicate').map(([dn, c]) => [dn, (c as { blockId: string }).blockId]);
    assert.deepEqual(round.find(([dn]) => dn === 'dn1'), ['dn1', oneLive]);
    const next = commandsOf(map.computeWork(state, 0), 'replicate').map(([, c]) => (c as { blockId: string }).blockId);
    assert.deepEqual(next, [openDone], 'the complete block of the open file comes after the closed files');
  });

  test('over-replicated blocks are trimmed, fullest datanode first', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 0);
    heartbeat(map, 'dn1', 0, 50);
    heartbeat(map, 'dn2', 0, 5);
    heartbeat(map, 'dn3', 0, 20);
    for (const dn of ['dn1', 'dn2', 'dn3']) map.incrementalReport(dn, { received: [replica(blockId, 1)], deleted: [] }, state, 0);
    const work = map.computeWork(state, 0);
    assert.deepEqual(commandsOf(work, 'delete'), [['dn2', { type: 'delete', blockIds: [blockId], genStampsMax: [1] }]]);
    assert.equal(commandsOf(work, 'replicate').length, 0);
    assert.equal(map.locations(blockId, state, 0).length, 2);
  });

  test('a corrupt replica is replaced: deleted once a good copy exists, and copied again', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 3);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    map.fullReport('dn2', [replica(blockId, 1)], state, 0);
    assert.equal(map.markCorrupt(blockId, 'dn2'), true);
    assert.equal(map.markCorrupt(blockId, 'dn9'), false);
    assert.deepEqual(map.locations(blockId, state, 0).map((l) => l.id), ['dn1']);
    const work = map.computeWork(state, 0);
    assert.deepEqual(commandsOf(work, 'delete'), [['dn2', { type: 'delete', blockIds: [blockId], genStampsMax: [1] }]]);
    assert.deepEqual(commandsOf(work, 'replicate'), [['dn1', { type: 'replicate', blockId, genStamp: 1, length: 10, targets: [{ id: 'dn3', data: 'dn3:2' }] }]]);
    // Reported again before dn2 deleted it: still corrupt, not a location.
    map.incrementalReport('dn2', { received: [replica(blockId, 1)], deleted: [] }, state, 0);
    assert.deepEqual(map.locations(blockId, state, 0).map((l) => l.id), ['dn1']);
  });

  test('the last copy of a block is not deleted even when corrupt', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 2);
    map.fullReport('dn1', [replica(blockId, 1)], state, 0);
    map.markCorrupt(blockId, 'dn1');
    assert.equal(map.computeWork(state, 0).size, 0);
  });

  test('nothing is handed out in safe mode', () => {
    const state = machine.initial();
    const blockId = closedFile(state, 7, 2);
    const map = activeMap(state, 2);
    map.enterSafeMode();
    map.fullReport('dn1', [replica(blockId, 1), replica('fms-0_99', 1)], state, 0);
    assert.equal(map.computeWork(state, 0).size, 0);
  });
});

describe('safe mode', () => {
  test('fraction of complete blocks with a live replica; leaves at the threshold', () => {
    const state = machine.initial();
    const map = new BlockMap(machine.config, seeded());
    assert.equal(map.safeModeFraction(state, 0), 1, 'no blocks: 1');
    const a = closedFile(state, 1);
    const b = closedFile(state, 2);
    apply(state, { type: 'addBlock', fileId: 3, pool: 0, replication: 1, blockSize: 100, holder: 'w', previous: null, targets: pipeline }); // open: not counted
    map.becomeActive(state);
    assert.equal(map.inSafeMode, true);
    heartbeat(map, 'dn1', 0);
    map.fullReport('dn1', [replica(a, 1)], state, 0);
    assert.equal(map.safeModeFraction(state, 0), 0.5);
    assert.equal(map.checkSafeMode(state, 0), true);
    map.incrementalReport('dn1', { received: [replica(b, 2)], deleted: [] }, state, 0);
    assert.equal(map.safeModeFraction(state, 0), 1);
    assert.equal(map.safeModeFraction(state, 20_000), 0, 'dn1 dead: its replicas do not count');
    assert.equal(map.checkSafeMode(state, 0), false);
  });

  test('a complete block of length 0 needs no replica: it is not counted, so it never holds a new active in safe mode', () => {
    const state = machine.initial();
    const map = new BlockMap(machine.config, seeded());
    const { blockId } = apply(state, { type: 'addBlock', fileId: 4, pool: 0, replication: 3, blockSize: 100, holder: 'w', previous: null, targets: pipeline }) as PipelineAnswer;
    apply(state, { type: 'complete', fileId: 4, holder: 'w', last: { blockId, length: 0 } });
    const withBytes = closedFile(state, 5);
    map.becomeActive(state);
    assert.equal(map.safeModeFraction(state, 0), 0, 'the block with bytes is not reported yet');
    heartbeat(map, 'dn1', 0);
    map.fullReport('dn1', [replica(withBytes, 2)], state, 0);
    assert.equal(map.safeModeFraction(state, 0), 1, 'the empty block, never reported, does not count');
    assert.equal(map.checkSafeMode(state, 0), false);
  });
});

describe('chooseTargets', () => {
  test('most free space first, excludes, skips dead and full datanodes, fewer than asked is fine, none → NO_DATANODES', () => {
    const map = new BlockMap(machine.config, seeded());
    heartbeat(map, 'dn1', 0, 10);
    heartbeat(map, 'dn2', 0, 30);
    heartbeat(map, 'dn3', 0, 20);
    heartbeat(map, 'dn4', 0, 0);
    heartbeat(map, 'old', -20_000, 90);
    const ids = (result: ReturnType<BlockMap['chooseTargets']>) => (result.ok ? result.value.map((t) => t.id) : result.error.code);
    assert.deepEqual(ids(map.chooseTargets(2, [], 0)), ['dn2', 'dn3']);
    assert.deepEqual(ids(map.chooseTargets(3, ['dn2'], 0)), ['dn3', 'dn1']);
    assert.deepEqual(ids(map.chooseTargets(3, ['dn2', 'dn3'], 0)), ['dn1']);
    assert.equal(ids(map.chooseTargets(3, ['dn1', 'dn2', 'dn3'], 0)), 'NO_DATANODES');
    assert.deepEqual(map.chooseTargets(1, [], 0), { ok: true, value: [{ id: 'dn2', data: 'dn2:2' }] });
  });

  test('ties are broken by the injected random', () => {
    const pick = (random: () => number) => {
      const map = new BlockMap(machine.config, random);
      for (const id of ['a', 'b', 'c']) heartbeat(map, id, 0);
      const chosen = map.chooseTargets(1, [], 0);
      return chosen.ok ? chosen.value[0]!.id : '';
    };
    assert.equal(pick(seeded([0.9, 0.1, 0.5])), 'b');
    assert.equal(pick(seeded([0.1, 0.9, 0.5])), 'a');
  });

  test('a malformed heartbeat is refused', () => {
    const map = new BlockMap(machine.config, seeded());
    assert.throws(() => map.heartbeat({ id: '', rpc: 'a', data: 'b', http: 'c', capacityBytes: 1, usedBytes: 0 }, 0), /INVALID_ARGUMENT|non-empty/);
    assert.throws(() => map.heartbeat({ id: 'x', rpc: 'a', data: 'b', http: 'c', capacityBytes: -1, usedBytes: 0 }, 0), /capacityBytes/);
  });
});

test('knownDatanodes lists every datanode heard from, the dead ones too, with when it was last heard', () => {
  const map = activeMap(machine.initial(), 2);
  heartbeat(map, 'dn2', 9_000, 40);
  const known = map.datanodes.knownDatanodes(12_000);
  assert.deepEqual(
    known.map((d) => [d.id, d.live, d.lastHeartbeatMs, d.usedBytes / GIB]),
    [
      ['dn1', false, 0, 90],
      ['dn2', true, 9_000, 60],
    ],
  );
});

describe('leases', () => {
  test('a holder silent for longer than the hard limit loses its files; unknown holders start their lease when first seen', () => {
    const state = machine.initial();
    apply(state, { type: 'addBlock', fileId: 7, pool: 0, replication: 1, blockSize: 100, holder: 'w1', previous: null, targets: pipeline });
    apply(state, { type: 'addBlock', fileId: 8, pool: 0, replication: 1, blockSize: 100, holder: 'w2', previous: null, targets: pipeline });
    const leases = new LeaseTable(machine.config.leaseHardLimitMs);
    leases.renew('w1', 0);
    leases.renew('gone', 0);
    assert.deepEqual(leases.expired(state, 500), []);
    leases.renew('w1', 900);
    assert.deepEqual(leases.expired(state, 1_600).map((f) => f.fileId), [8], 'w2 first seen at 500');
    assert.equal(leases.lastRenewedAt('gone'), undefined, 'a holder without open files is pruned once its lease ran out');
    assert.deepEqual(expiredLeases(state, 2_000, new Map([['w1', 900]]), 1_000).map((f) => f.holder), ['w1']);
  });
});

describe('decommission', () => {
  test("a decommissioning datanode's replicas do not count: they are copied elsewhere, nothing new goes there, none is trimmed", () => {
    const state = machine.initial();
    const blocks = [1, 2].map((fileId) => closedFile(state, fileId, 2));
    const map = activeMap(state, 3);
    for (const dn of ['dn1', 'dn2']) map.fullReport(dn, blocks.map((b, i) => replica(b, i + 1)), state, 0);
    assert.equal(map.computeWork(state, 0).size, 0);

    map.setDecommissioning(['dn1']);
    assert.deepEqual(map.decommissionProgress(state, 0), { dn1: { replicas: 2, waiting: 2, stuck: 0, live: true } });
    const copies = commandsOf(map.computeWork(state, 0), 'replicate');
    assert.equal(copies.length, 2);
    for (const [, command] of copies) assert.deepEqual((command as { targets: unknown }).targets, [{ id: 'dn3', data: 'dn3:2' }], 'only dn3: dn1 is leaving, dn2 holds it');
    const chosen = map.chooseTargets(3, [], 0);
    assert.ok(chosen.ok && chosen.value.every((t) => t.id !== 'dn1'), 'no new block is placed on dn1');

    map.incrementalReport('dn3', { received: blocks.map((b, i) => replica(b, i + 1)), deleted: [] }, state, 0);
    assert.deepEqual(map.decommissionProgress(state, 0), { dn1: { replicas: 2, waiting: 0, stuck: 0, live: true } });
    // Three live replicas of a replication-2 block, but dn1's does not count: nothing is trimmed, and dn1 still serves reads.
    assert.equal(commandsOf(map.computeWork(state, 0), 'delete').length, 0);
    assert.ok(map.locations(blocks[0]!, state, 0).some((l) => l.id === 'dn1'));
  });
});
