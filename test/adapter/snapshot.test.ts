// The adapter's pure parts (src/adapter/snapshot.ts): an entry keeps its last non-null
// value, the cache is stale when reads fail or stop, and the shard map names the current
// active — the last known one only when the cache is stale and none is current.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeRegistry, shardMapOf, snapshotOf, type RegistryCache } from '../../src/adapter/snapshot.js';
import type { Registry, ShardRegistry } from '../../src/election/registry.js';

const m1 = { member: 'm1', rpc: '127.0.0.1:7070', http: '127.0.0.1:8070', epoch: 3 };
const m2 = { member: 'm2', rpc: '127.0.0.1:7071', http: '127.0.0.1:8071' };

function shard(active: unknown, lastActive: unknown): ShardRegistry {
  return {
    active: { current: active, lastNotNull: lastActive },
    standby: { current: null, lastNotNull: null },
    monitor: { current: null, lastNotNull: null },
    epoch: 3,
    isr: { epoch: 3, members: ['m1', 'm2'] },
    election: [
      { node: 'n_0000000001', ...m1 },
      { node: 'n_0000000002', ...m2 },
    ],
  };
}

function registry(ns: ShardRegistry): Registry {
  return { readAt: '2026-12-01T12:00:00.000Z', shards: { ns } };
}

test('an entry keeps the last non-null value the adapter saw when ZooKeeper has none', () => {
  const first = mergeRegistry(null, registry(shard(m1, null)));
  assert.deepEqual(first.shards.ns!.active, { current: m1, lastNotNull: m1 }, 'the current value is the last non-null one');
  const second = mergeRegistry(first, registry(shard(null, null)));
  assert.deepEqual(second.shards.ns!.active, { current: null, lastNotNull: m1 }, 'kept across a read without it');
  const third = mergeRegistry(second, registry(shard(null, { ...m2, epoch: 4 })));
  assert.deepEqual(third.shards.ns!.active.lastNotNull, { ...m2, epoch: 4 }, "ZooKeeper's own last-not-null copy wins over the adapter's older one");
});

test('freshness: stale while failing or once older than the bound, with the age either way', () => {
  const cache: RegistryCache = { registry: registry(shard(m1, m1)), datanodes: [], pools: null, adapters: [], readAtMs: 10_000 };
  assert.deepEqual(
    [snapshotOf(cache, 'a1', { failing: false, nowMs: 10_500, staleAfterMs: 3_000 })].map((s) => [s.stale, s.ageMs]),
    [[false, 500]],
  );
  assert.equal(snapshotOf(cache, 'a1', { failing: true, nowMs: 10_500, staleAfterMs: 3_000 }).stale, true);
  assert.equal(snapshotOf(cache, 'a1', { failing: false, nowMs: 13_001, staleAfterMs: 3_000 }).stale, true);
  const empty = snapshotOf(null, 'a1', { failing: true, nowMs: 0, staleAfterMs: 3_000 });
  assert.equal(empty.stale, true);
  assert.equal(empty.readAt, '');
  assert.deepEqual(empty.shards, {});
});

test('the shard map: the current active and the others as standbys; the last known active only when stale', () => {
  const withActive: RegistryCache = { registry: registry(shard(m1, m1)), datanodes: [], pools: { pools: 4, shards: ['fms-0'] }, adapters: [], readAtMs: 0 };
  const map = shardMapOf(snapshotOf(withActive, 'a1', { failing: false, nowMs: 100, staleAfterMs: 3_000 }));
  assert.deepEqual(map.shards.ns, { active: m1, activeIsLastKnown: false, standbys: [m2], epoch: 3 });
  assert.deepEqual(map.pools, { pools: 4, shards: ['fms-0'] });
  assert.equal(map.adapter, 'a1');

  const failingOver: RegistryCache = { ...withActive, registry: registry(shard(null, m1)) };
  const fresh = shardMapOf(snapshotOf(failingOver, 'a1', { failing: false, nowMs: 100, staleAfterMs: 3_000 }));
  assert.equal(fresh.shards.ns!.active, null, 'fresh: no active is no active (a failover in progress)');
  assert.equal(fresh.shards.ns!.standbys.length, 2);
  const stale = shardMapOf(snapshotOf(failingOver, 'a1', { failing: true, nowMs: 100, staleAfterMs: 3_000 }));
  assert.deepEqual(stale.shards.ns!.active, m1, 'stale: the last active seen');
  assert.equal(stale.shards.ns!.activeIsLastKnown, true);
  assert.deepEqual(stale.shards.ns!.standbys, [m2]);
});
