// The adapter's ZooKeeper driver (src/adapter/registry-sync.ts) over the fake ZooKeeper:
// reads that keep failing part-way (one call refused, the others answered) must not pile
// a new watch per failed round on the paths whose reads did set one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistrySync } from '../../src/adapter/registry-sync.js';
import type { Coordinator } from '../../src/election/coordinator.js';
import { FakeZooKeeper } from '../../src/election/fake-coordinator.js';
import { ADAPTERS_PATH, DATANODES_PATH } from '../../src/election/layout.js';
import { TandemError } from '../../src/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { waitFor } from '../helpers/zookeeper.js';

/** `session` whose listing of `path` fails while `failing.on`. */
function failingChildren(session: Coordinator, path: string, failing: { on: boolean }): Coordinator {
  return new Proxy(session, {
    get(target, prop) {
      if (prop === 'children') {
        return async (p: string, watch?: () => void) => {
          if (failing.on && p === path) throw new TandemError('COORDINATOR_UNAVAILABLE', 'injected: the listing failed');
          return target.children(p, watch);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Armed watches on exactly `path`, from the fake's dump ("  <kind> <path> by <session>"). */
function armedOn(zk: FakeZooKeeper, path: string): number {
  return zk.dump().split('\n').filter((line) => / (data|exists|children) /.test(line) && line.includes(` ${path} by `)).length;
}

test('RegistrySync: rounds that fail part-way do not pile watches on the paths they did watch; the failed path is watched again once it reads', async () => {
  const zk = new FakeZooKeeper();
  const writer = zk.session();
  await writer.ensurePath(DATANODES_PATH);
  await writer.ensurePath(ADAPTERS_PATH);
  const failing = { on: false };
  const sync = new RegistrySync({
    connect: async () => failingChildren(zk.session(), ADAPTERS_PATH, failing),
    log: silentLogger(),
    id: 'a1',
    syncIntervalMs: 3_600_000, // no timed rounds: the test drives them
    refreshIntervalMsMin: 0,
  });
  await sync.start();
  try {
    assert.equal(sync.stats.syncs, 1);
    assert.equal(armedOn(zk, DATANODES_PATH), 1);
    failing.on = true;
    for (let round = 0; round < 20; round++) await sync.refresh();
    assert.equal(sync.stats.syncFailures, 20);
    assert.equal(sync.snapshot().stale, true);
    assert.equal(armedOn(zk, DATANODES_PATH), 1, `one watch on ${DATANODES_PATH}, not one per failed round:\n${zk.dump()}`);
    assert.equal(armedOn(zk, '/shards/ns/active'), 1, `one watch on the active entry:\n${zk.dump()}`);

    failing.on = false;
    await sync.refresh();
    assert.equal(sync.snapshot().stale, false);
    assert.equal(armedOn(zk, ADAPTERS_PATH), 1, 'the path whose listing failed is watched again');
    // ...and its watch works: a new adapter shows up without a timed round.
    await writer.create(`${ADAPTERS_PATH}/a2`, { id: 'a2', rpc: '127.0.0.1:1', http: '127.0.0.1:2', pid: 1 }, 'ephemeral');
    await waitFor('the watch on /adapters to bring a2 in', () => sync.snapshot().adapters.some((a) => a.id === 'a2'));
    await writer.close();
  } finally {
    await sync.stop();
  }
});

test('RegistrySync: a failed listing of a shard\'s election line fails the read (the cache stays, stale), not an empty line served as fresh', async () => {
  const zk = new FakeZooKeeper();
  const writer = zk.session();
  await writer.ensurePath('/shards/ns/election');
  await writer.create('/shards/ns/election/n_0000000001', { member: 'm1', rpc: '127.0.0.1:7070' }, 'persistent');
  const failing = { on: false };
  const sync = new RegistrySync({
    connect: async () => failingChildren(zk.session(), '/shards/ns/election', failing),
    log: silentLogger(),
    id: 'a1',
    syncIntervalMs: 3_600_000,
    refreshIntervalMsMin: 0,
  });
  await sync.start();
  try {
    assert.equal(sync.snapshot().shards.ns?.election.length, 1);
    failing.on = true;
    await sync.refresh();
    const snapshot = sync.snapshot();
    assert.equal(snapshot.stale, true, 'the read failed');
    assert.equal(snapshot.shards.ns?.election.length, 1, 'the cache keeps the line it had');
  } finally {
    await sync.stop();
    await writer.close();
  }
});
