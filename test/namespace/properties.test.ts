// Property tests over random op sequences on a small path alphabet (so ops collide) and
// three users (alice, bob, the superuser):
//   1. determinism: the same ops on two fresh states give the same outcomes and state;
//   2. replay(image, edits) equals live state, through msgpack, with only the journaled
//      (mutated) ops replayed, as a restarting replica would;
//   3. structural invariants hold after every op, a refused op or a retry-cache hit
//      changes nothing, and queries change nothing.
// A small retry cache (age 1 s, 8 entries) so eviction happens within a sequence.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { createNamespaceMachine, canonicalDump, assertNamespaceInvariants, inodeCount, type NamespaceImage, type NamespaceState } from '../../src/namespace/machine.js';
import type { Caller, MutationBase, NamespaceMutation } from '../../src/namespace/ops.js';
import type { Outcome } from '../../src/replication/state-machine.js';

const machine = createNamespaceMachine({ superuser: 'hdfs', supergroup: 'supergroup', pools: 3, poolShards: ['fms-0', 'fms-1', 'fms-0'], retryCacheAgeMs: 1_000, retryCacheEntriesMax: 8 });
const packr = new Packr({ useRecords: false });
const NUM_RUNS = 200;

const callers: Caller[] = [
  { user: 'alice', groups: ['alice', 'staff'] },
  { user: 'bob', groups: ['bob'] },
  { user: 'hdfs', groups: ['hdfs'] },
];

type Body = NamespaceMutation extends infer M ? (M extends unknown ? Omit<M, keyof MutationBase> : never) : never;

const path = fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 3 }).map((names) => `/${names.join('/')}`);
const mode = fc.option(fc.constantFrom(0o755, 0o700, 0o777, 0o644, 0o711, 0o10000), { nil: undefined });
const time = fc.option(fc.constantFrom(-1, 0, 5, 1_700_000_000_000), { nil: undefined });

const body: fc.Arbitrary<Body> = fc.oneof(
  fc.record({ type: fc.constant('mkdirs' as const), path, permission: mode }),
  fc.record({ type: fc.constant('create' as const), path, overwrite: fc.boolean(), permission: mode }),
  fc.record({ type: fc.constant('complete' as const), path, fileId: fc.integer({ min: 16386, max: 16420 }), length: fc.nat(1_000) }),
  fc.record({ type: fc.constant('delete' as const), path, recursive: fc.boolean() }),
  fc.record({ type: fc.constant('rename' as const), src: path, dst: path }),
  fc.record({ type: fc.constant('setPermission' as const), path, permission: fc.constantFrom(0o755, 0o700, 0o777, 0o000, 0o10000) }),
  fc.record({
    type: fc.constant('setOwner' as const),
    path,
    owner: fc.option(fc.constantFrom('alice', 'bob', 'hdfs'), { nil: undefined }),
    group: fc.option(fc.constantFrom('staff', 'bob', 'wheel'), { nil: undefined }),
  }),
  fc.record({ type: fc.constant('setTimes' as const), path, mtime: time, atime: time }),
  fc.record({ type: fc.constant('recoverLease' as const), fileId: fc.integer({ min: 16386, max: 16420 }), length: fc.nat(1_000) }),
  fc.record({ type: fc.constant('setReplication' as const), path, replication: fc.constantFrom(0, 1, 3) }),
  fc.record({ type: fc.constant('append' as const), path }),
  fc.record({ type: fc.constant('truncate' as const), path, newLength: fc.constantFrom(0, 5, 500, 2_000) }),
  fc.record({ type: fc.constant('concat' as const), target: path, sources: fc.array(path, { minLength: 0, maxLength: 3 }) }),
);

const step = fc.record({
  body,
  caller: fc.constantFrom(...callers),
  clientId: fc.constantFrom('c1', 'c2'),
  callId: fc.integer({ min: 1, max: 6 }),
  /** Time since the previous op: mostly small, sometimes past the retry cache's age. */
  elapsedMs: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(1_500)),
});

/** Half the sequences open the root to everyone first, so alice and bob get work done. */
const sequence = fc
  .tuple(fc.boolean(), fc.array(step, { maxLength: 60, size: 'max' }))
  .map(([openRoot, steps]) => toOps(openRoot ? [{ body: { type: 'setPermission', path: '/', permission: 0o777 }, caller: callers[2]!, clientId: 'setup', callId: 0, elapsedMs: 0 }, ...steps] : steps));

function toOps(steps: { body: Body; caller: Caller; clientId: string; callId: number; elapsedMs: number }[]): NamespaceMutation[] {
  let now = 1_000;
  return steps.map((s) => {
    now += s.elapsedMs;
    return { ...s.body, ...s.caller, clientId: s.clientId, callId: s.callId, time: now } as NamespaceMutation;
  });
}

function roundTrip(image: NamespaceImage): NamespaceImage {
  return packr.unpack(packr.pack(image)) as NamespaceImage;
}

test('determinism: the same ops on two fresh states give the same outcomes and the same state', () => {
  fc.assert(
    fc.property(sequence, (ops) => {
      const first = machine.initial();
      const second = machine.initial();
      for (const op of ops) assert.deepEqual(machine.apply(first, op), machine.apply(second, op));
      assert.deepEqual(canonicalDump(first), canonicalDump(second));
    }),
    { numRuns: NUM_RUNS },
  );
});

test('replay(image, journaled edits) equals the live state', () => {
  fc.assert(
    fc.property(sequence, fc.nat(), (ops, cutSeed) => {
      const cut = cutSeed % (ops.length + 1);
      const live = machine.initial();
      let image: NamespaceImage | undefined;
      const outcomes: Outcome<unknown>[] = [];
      ops.forEach((op, index) => {
        if (index === cut) image = roundTrip(machine.toImage(live));
        outcomes.push(machine.apply(live, op));
      });
      image ??= roundTrip(machine.toImage(live));

      const replayed = machine.fromImage(image);
      for (let index = cut; index < ops.length; index++) {
        const outcome = outcomes[index]!;
        if (!(outcome.ok && outcome.mutated)) continue;
        assert.deepEqual(machine.apply(replayed, ops[index]!), outcome, `op ${index} replays to the same answer`);
      }
      assertNamespaceInvariants(replayed);
      assert.deepEqual(canonicalDump(replayed), canonicalDump(live));
    }),
    { numRuns: NUM_RUNS },
  );
});

test('invariants hold after every op; refusals, retry hits and queries change nothing', () => {
  fc.assert(
    fc.property(sequence, (ops) => {
      const state: NamespaceState = machine.initial();
      for (const op of ops) {
        const before = canonicalDump(state);
        const outcome = machine.apply(state, op);
        assertNamespaceInvariants(state);
        const after = canonicalDump(state);
        assert.equal(after.inodeCount, inodeCount(state));
        if (!outcome.ok || !outcome.mutated) {
          assert.deepEqual(after, before, `${op.type} answered ${JSON.stringify(outcome)} and must not change the state`);
        } else {
          assert.ok(state.retryCache.lookup(op.clientId, op.callId, op.time), 'an applied op is in the retry cache');
        }
        // Queries build sorted-name caches; the invariants check those caches match.
        const target = 'path' in op ? op.path : 'src' in op ? op.src : '/';
        machine.listStatus(state, target, undefined, 2, op);
        machine.listStatus(state, '/', 'a', undefined, op);
        machine.contentSummary(state, '/', op);
        machine.getFileInfo(state, target, op);
        assertNamespaceInvariants(state);
        assert.deepEqual(canonicalDump(state), after, 'queries change nothing');
      }
    }),
    { numRuns: NUM_RUNS },
  );
});

test('the random sequences reach interesting states (guards against a vacuous generator)', () => {
  let maxInodes = 0;
  const codes = new Set<string>();
  let hits = 0;
  fc.assert(
    fc.property(sequence, (ops) => {
      const state = machine.initial();
      for (const op of ops) {
        const outcome = machine.apply(state, op);
        if (!outcome.ok) codes.add(outcome.error.code);
        else if (!outcome.mutated) hits++;
      }
      maxInodes = Math.max(maxInodes, inodeCount(state));
    }),
    { numRuns: NUM_RUNS, seed: 42 },
  );
  assert.ok(maxInodes >= 6, `largest tree had ${maxInodes} inodes`);
  assert.ok(hits > 0, 'some retry-cache hits');
  for (const code of ['PERMISSION_DENIED', 'FILE_EXISTS', 'NOT_FOUND', 'PARENT_NOT_DIRECTORY', 'INVALID_ARGUMENT', 'RENAME_INTO_SELF']) {
    assert.ok(codes.has(code), `some op answered ${code}; saw ${[...codes].join(', ')}`);
  }
});
