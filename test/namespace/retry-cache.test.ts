// The retry cache, alone and inside the namespace machine: a repeat gets the first
// answer even after the state moved on; entries leave by age and by count.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RetryCache } from '../../src/replication/retry-cache.js';
import { createNamespaceMachine, canonicalDump } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';

test('lookup misses, then hits what record stored', () => {
  const cache = new RetryCache<string>({ retryCacheAgeMs: 100, retryCacheEntriesMax: 10 });
  assert.equal(cache.lookup('c', 1, 0), undefined);
  cache.record('c', 1, 'first', 0);
  assert.deepEqual(cache.lookup('c', 1, 50), { clientId: 'c', callId: 1, value: 'first', time: 0 });
  assert.equal(cache.lookup('c', 2, 50), undefined);
  assert.equal(cache.lookup('d', 1, 50), undefined);
});

test('a clientId containing NUL and digits cannot collide with another key', () => {
  const cache = new RetryCache<string>({ retryCacheAgeMs: 100, retryCacheEntriesMax: 10 });
  cache.record('a\u00001', 2, 'x', 0);
  assert.equal(cache.lookup('a', 12, 0), undefined);
});

test('eviction by age: entries older than the age at the time of a record are dropped', () => {
  const cache = new RetryCache<string>({ retryCacheAgeMs: 100, retryCacheEntriesMax: 10 });
  cache.record('c', 1, 'a', 0);
  cache.record('c', 2, 'b', 50);
  cache.record('c', 3, 'c', 100); // cutoff 0: entry at 0 is not older than it
  assert.equal(cache.size, 3);
  cache.record('c', 4, 'd', 151); // cutoff 51: drops 0 and 50
  assert.deepEqual(cache.list().map((entry) => entry.callId), [3, 4]);
});

test('an aged-out entry is a miss even before it is evicted', () => {
  const cache = new RetryCache<string>({ retryCacheAgeMs: 100, retryCacheEntriesMax: 10 });
  cache.record('c', 1, 'a', 0);
  assert.ok(cache.lookup('c', 1, 100));
  assert.equal(cache.lookup('c', 1, 101), undefined);
  assert.equal(cache.size, 1, 'lookup changes nothing');
});

test('an entry stored again after it expired moves to the back; its old place does not count', () => {
  const cache = new RetryCache<string>({ retryCacheAgeMs: 100, retryCacheEntriesMax: 2 });
  cache.record('c', 1, 'a', 100);
  cache.record('c', 2, 'b', 0); // an out-of-order time: already old
  assert.equal(cache.lookup('c', 2, 150), undefined);
  cache.record('c', 2, 'b2', 150);
  assert.equal(cache.size, 2);
  assert.deepEqual(cache.list().map((entry) => entry.value), ['a', 'b2']);
  cache.record('c', 3, 'c', 151); // over the count: the oldest live entry (1) goes
  assert.deepEqual(cache.list().map((entry) => entry.value), ['b2', 'c']);
});

test('eviction by count: the oldest stored go first', () => {
  const cache = new RetryCache<number>({ retryCacheAgeMs: 1_000_000, retryCacheEntriesMax: 3 });
  for (let callId = 1; callId <= 5; callId++) cache.record('c', callId, callId * 10, callId);
  assert.deepEqual(cache.list().map((entry) => entry.callId), [3, 4, 5]);
});

test('restore keeps order and refuses duplicates', () => {
  const cache = new RetryCache<number>({ retryCacheAgeMs: 10, retryCacheEntriesMax: 3 });
  const entries = [
    { clientId: 'a', callId: 2, value: 1, time: 5 },
    { clientId: 'a', callId: 1, value: 2, time: 3 },
  ];
  cache.restore(entries);
  assert.deepEqual(cache.list(), entries);
  assert.throws(() => cache.restore([...entries, entries[0]!]), /twice/);
});

const machine = createNamespaceMachine({ superuser: 'hdfs', retryCacheAgeMs: 1_000, retryCacheEntriesMax: 4 });
const hdfs = { user: 'hdfs', groups: [] };

test('a retried create returns the first answer even after the file was deleted and recreated', () => {
  const state = machine.initial();
  const create: NamespaceMutation = { type: 'create', path: '/f', overwrite: true, clientId: 'app', callId: 7, time: 10, ...hdfs };
  const first = machine.apply(state, create);
  assert.ok(first.ok && first.mutated);
  machine.apply(state, { type: 'delete', path: '/f', recursive: false, clientId: 'other', callId: 1, time: 20, ...hdfs });
  machine.apply(state, { type: 'create', path: '/f', overwrite: true, clientId: 'other', callId: 2, time: 30, ...hdfs });
  const before = canonicalDump(state);
  const retried = machine.apply(state, { ...create, time: 40 });
  assert.deepEqual(retried, { ok: true, value: first.value, mutated: false });
  assert.deepEqual(canonicalDump(state), before, 'a hit changes nothing');
});

test('a retried rename or delete that answered true answers true again', () => {
  const state = machine.initial();
  const base = { clientId: 'app', time: 10, ...hdfs };
  machine.apply(state, { ...base, callId: 1, type: 'mkdirs', path: '/a' });
  const rename: NamespaceMutation = { ...base, callId: 2, type: 'rename', src: '/a', dst: '/b' };
  assert.deepEqual(machine.apply(state, rename), { ok: true, value: true, mutated: true });
  assert.deepEqual(machine.apply(state, rename), { ok: true, value: true, mutated: false });
  const remove: NamespaceMutation = { ...base, callId: 3, type: 'delete', path: '/b', recursive: true };
  assert.deepEqual(machine.apply(state, remove), { ok: true, value: true, mutated: true });
  assert.deepEqual(machine.apply(state, remove), { ok: true, value: true, mutated: false });
});

test('errors are not cached: a retry runs again', () => {
  const state = machine.initial();
  const complete: NamespaceMutation = { type: 'complete', path: '/f', fileId: 16386, length: 1, clientId: 'app', callId: 1, time: 10, ...hdfs };
  assert.equal(machine.apply(state, complete).ok, false);
  assert.equal(state.retryCache.size, 0);
  machine.apply(state, { type: 'create', path: '/f', overwrite: false, clientId: 'app', callId: 2, time: 11, ...hdfs });
  assert.deepEqual(machine.apply(state, complete), { ok: true, value: true, mutated: true });
});

test('inside the machine: entries age out by op time and are bounded by count', () => {
  const state = machine.initial();
  const mkdirs = (callId: number, time: number): NamespaceMutation => ({ type: 'mkdirs', path: `/d${callId}`, clientId: 'app', callId, time, ...hdfs });
  for (let callId = 1; callId <= 6; callId++) machine.apply(state, mkdirs(callId, callId));
  assert.deepEqual(state.retryCache.list().map((entry) => entry.callId), [3, 4, 5, 6]);
  machine.apply(state, mkdirs(7, 1_005)); // cutoff 5: drops 3 and 4
  assert.deepEqual(state.retryCache.list().map((entry) => entry.callId), [5, 6, 7]);
  // callId 1 was evicted: the retry runs again (and mkdirs of an existing directory is true).
  assert.deepEqual(machine.apply(state, mkdirs(1, 1_006)), { ok: true, value: true, mutated: true });
});
