// Property tests over random op sequences on a few files, two writers and a handful of
// block ids (so ops collide). Most ops name the block the file's state expects (the
// sequence is resolved against a live state while it is built), so writes get far:
//   1. determinism: the same ops on two fresh states give the same answers and digest;
//   2. image round trip (through msgpack) at any point gives the same digest, and the
//      rest of the ops give the same answers on the restored state;
//   3. replaying only the journaled (mutated) ops reproduces the state;
//   4. invariants after every op (every block belongs to a file that lists it, a closed
//      file has no open block, lengths add up), and a refused op changes nothing.
// A small retry cache (age 1 s, 8 entries) so eviction happens within a sequence.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { createFileMetaMachine, canonicalDump, assertFileMetaInvariants, type FileMetaImage, type FileMetaState } from '../../src/filemeta/machine.js';
import type { FileMetaMutation } from '../../src/filemeta/ops.js';

const machine = createFileMetaMachine({ shard: 'fms-0', pools: 2, ownedPools: [0], retryCacheAgeMs: 1_000, retryCacheEntriesMax: 8, blocksPerFileMax: 4 });
const packr = new Packr({ useRecords: false });
const NUM_RUNS = 200;
const targets = [{ id: 'dn1', data: 'h:1' }];

const step = fc.record({
  kind: fc.oneof(
    { arbitrary: fc.constant('addBlock' as const), weight: 6 },
    { arbitrary: fc.constantFrom('updatePipeline' as const, 'complete' as const, 'recoverLease' as const), weight: 4 },
    { arbitrary: fc.constant('deleteFiles' as const), weight: 1 },
    { arbitrary: fc.constantFrom('setReplication' as const, 'append' as const, 'truncate' as const, 'concat' as const), weight: 3 },
  ),
  fileId: fc.integer({ min: 1, max: 4 }),
  /** 'own' is the file's usual writer (by file id); 'other' is someone else. */
  holder: fc.constantFrom('own', 'own', 'own', 'other'),
  expected: fc.constantFrom(true, true, true, false),
  blockSeq: fc.integer({ min: 0, max: 8 }),
  length: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constant(65)),
  pool: fc.constantFrom(0, 0, 0, 0, 0, 1),
  clientId: fc.constantFrom('c1', 'c2'),
  /** Mostly fresh calls, sometimes a repeat (a retry, or a retry-cache hit with another op). */
  callId: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 5, max: 1_000_000 })),
  elapsedMs: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(1_500)),
});
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

/** The op a step stands for, resolved against `state` (the block the file expects, when `expected`). */
function toOp(state: FileMetaState, s: Step, time: number): FileMetaMutation {
  const file = state.files.get(s.fileId);
  const lastId = file?.blocks[file.blocks.length - 1];
  const guess = s.blockSeq === 0 ? 'fms-1_1' : `fms-0_${s.blockSeq}`;
  const extent = s.expected ? (lastId === undefined ? null : { blockId: lastId, length: s.length }) : { blockId: guess, length: s.length };
  const holder = s.holder === 'own' ? `w${s.fileId % 2}` : `w${(s.fileId + 1) % 2}`;
  const base = { clientId: s.clientId, callId: s.callId, time, user: 'u' };
  switch (s.kind) {
    case 'addBlock':
      return { ...base, type: 'addBlock', fileId: s.fileId, pool: s.pool, replication: 2, blockSize: 64, holder, previous: extent, targets };
    case 'updatePipeline':
      return { ...base, type: 'updatePipeline', blockId: extent?.blockId ?? guess, holder, length: s.length, targets };
    case 'complete':
      return { ...base, type: 'complete', fileId: s.fileId, holder, last: extent };
    case 'recoverLease':
      return { ...base, type: 'recoverLease', fileId: s.fileId, last: extent };
    case 'setReplication':
      return { ...base, type: 'setReplication', fileId: s.fileId, replication: 1 + (s.length % 3) };
    case 'append':
      return { ...base, type: 'append', fileId: s.fileId, pool: s.pool, replication: 2, blockSize: 64, holder };
    case 'truncate':
      // Anywhere in the file (block boundaries included: 0 and 65 give 0 and the whole length), sometimes past its end.
      return { ...base, type: 'truncate', fileId: s.fileId, newLength: file && s.expected ? Math.floor((file.length * s.length) / 65) : s.length, holder };
    case 'concat':
      return { ...base, type: 'concat', fileId: s.fileId, pool: s.pool, replication: 2, blockSize: 64, sources: s.blockSeq > 4 ? [((s.fileId + s.blockSeq) % 4) + 1, s.fileId % 4 + 1] : [((s.fileId + s.blockSeq) % 4) + 1] };
    default:
      return { ...base, type: 'deleteFiles', fileIds: s.length > 60 ? [s.fileId, s.fileId + 1] : [s.fileId] };
  }
}

/** Applies the steps to a fresh state, checking invariants and "refused changes nothing"; answers the concrete ops and outcomes. */
function run(steps: Step[]): { state: FileMetaState; ops: FileMetaMutation[]; outcomes: unknown[]; mutated: boolean[] } {
  const state = machine.initial();
  const ops: FileMetaMutation[] = [];
  const outcomes: unknown[] = [];
  const mutated: boolean[] = [];
  let time = 1_000;
  for (const s of steps) {
    time += s.elapsedMs;
    const op = toOp(state, s, time);
    const before = canonicalDump(state);
    const outcome = machine.apply(state, op);
    assertFileMetaInvariants(state);
    if (!outcome.ok || !outcome.mutated) assert.deepEqual(canonicalDump(state), before, 'a refused op or a retry-cache hit changed the state');
    ops.push(op);
    outcomes.push(outcome);
    mutated.push(outcome.ok && outcome.mutated);
  }
  return { state, ops, outcomes, mutated };
}

function roundTrip(image: FileMetaImage): FileMetaImage {
  return packr.unpack(packr.pack(image)) as FileMetaImage;
}

const steps = fc.array(step, { maxLength: 60, size: 'max' });

test('determinism: the same ops on two fresh states give the same answers and digest', () => {
  fc.assert(
    fc.property(steps, (sequence) => {
      const first = run(sequence);
      const second = machine.initial();
      const outcomes = first.ops.map((op) => machine.apply(second, op));
      assert.deepEqual(outcomes, first.outcomes);
      assert.deepEqual(canonicalDump(second), canonicalDump(first.state));
      assert.deepEqual(machine.toImage(second), machine.toImage(first.state));
    }),
    { numRuns: NUM_RUNS },
  );
});

test('the sequences get somewhere: most runs add blocks and close files', () => {
  let closed = 0;
  let blocks = 0;
  fc.assert(
    fc.property(steps, (sequence) => {
      const { state } = run(sequence);
      blocks += state.blocks.size;
      closed += [...state.files.values()].filter((f) => f.state === 'closed' && f.blocks.length > 1).length;
    }),
    { numRuns: 100, seed: 4 },
  );
  assert.ok(blocks > 100 && closed > 3, `blocks ${blocks}, closed multi-block files ${closed}`);
});

test('the file operations beyond create succeed in some runs, a truncate inside a block included', () => {
  const succeeded = new Map<string, number>();
  let cutInside = 0;
  fc.assert(
    fc.property(steps, (sequence) => {
      const { ops, outcomes } = run(sequence);
      ops.forEach((op, i) => {
        const outcome = outcomes[i] as { ok: boolean; value?: { done?: boolean } };
        if (!outcome.ok) return;
        succeeded.set(op.type, (succeeded.get(op.type) ?? 0) + 1);
        if (op.type === 'truncate' && outcome.value?.done === false) cutInside++;
      });
    }),
    { numRuns: 100, seed: 4 },
  );
  for (const type of ['setReplication', 'append', 'truncate', 'concat']) assert.ok((succeeded.get(type) ?? 0) > 5, `${type} succeeded ${succeeded.get(type) ?? 0} times`);
  assert.ok(cutInside > 0, 'some truncate fell inside a block');
});

test('image round trip at any point: same digest, and the remaining ops give the same answers', () => {
  fc.assert(
    fc.property(steps, fc.nat(), (sequence, cut) => {
      const { ops, outcomes, state } = run(sequence);
      const at = ops.length === 0 ? 0 : cut % (ops.length + 1);
      const prefix = machine.initial();
      for (const op of ops.slice(0, at)) machine.apply(prefix, op);
      const restored = machine.fromImage(roundTrip(machine.toImage(prefix)));
      assertFileMetaInvariants(restored);
      assert.deepEqual(canonicalDump(restored), canonicalDump(prefix));
      const rest = ops.slice(at).map((op) => machine.apply(restored, op));
      assert.deepEqual(rest, outcomes.slice(at));
      assert.deepEqual(canonicalDump(restored), canonicalDump(state));
    }),
    { numRuns: NUM_RUNS },
  );
});

test('replaying only the journaled (mutated) ops reproduces the state', () => {
  fc.assert(
    fc.property(steps, (sequence) => {
      const { ops, mutated, state } = run(sequence);
      const replica = machine.initial();
      ops.forEach((op, i) => {
        if (mutated[i]) assert.equal(machine.apply(replica, op).ok, true);
      });
      assert.deepEqual(canonicalDump(replica), canonicalDump(state));
    }),
    { numRuns: NUM_RUNS },
  );
});
