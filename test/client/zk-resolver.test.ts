// The ZooKeeper resolver during a failover: with no active registered it waits on its watch
// and gives the new address as soon as the new active publishes it; with none for its whole
// wait it says NOT_ACTIVE (the client's retry loop asks again).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ZooKeeperResolver } from '../../src/client/zk-resolver.js';
import { FakeZooKeeper } from '../../src/election/fake-coordinator.js';
import { shardPaths, type ActiveInfo } from '../../src/election/layout.js';
import { TandemError } from '../../src/errors.js';

const paths = shardPaths('ns');

async function setUp(): Promise<{ zk: FakeZooKeeper; writer: ReturnType<FakeZooKeeper['session']> }> {
  const zk = new FakeZooKeeper();
  const writer = zk.session();
  await writer.ensurePath(paths.root);
  return { zk, writer };
}

const active = (member: string, rpc: string, epoch: number): ActiveInfo => ({ member, rpc, epoch });

test('with no active registered, the resolver waits for one and gives its address once it is published', async () => {
  const { zk, writer } = await setUp();
  const resolver = new ZooKeeperResolver(() => Promise.resolve(zk.session()), 'ns', 60_000);
  try {
    let given: string | null = null;
    const asked = resolver.activeAddress().then((address) => (given = address));
    // Several turns: the resolver has read the missing node and waits on its watch.
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    assert.equal(given, null, 'no active yet: still waiting');
    await writer.create(paths.active, active('m2', '127.0.0.1:7002', 2), 'ephemeral');
    assert.equal(await asked, '127.0.0.1:7002');

    // The active goes (a failover): the watch drops the cached address; the next ask waits for the successor.
    await writer.delete(paths.active, -1);
    await new Promise((r) => setImmediate(r));
    const next = resolver.activeAddress();
    await new Promise((r) => setImmediate(r));
    await writer.create(paths.active, active('m3', '127.0.0.1:7003', 3), 'ephemeral');
    assert.equal(await next, '127.0.0.1:7003');
    assert.equal(resolver.lastKnown?.epoch, 3);
  } finally {
    await resolver.close();
  }
});

test('with no active for its whole wait, the resolver says NOT_ACTIVE', async () => {
  const { zk } = await setUp();
  const resolver = new ZooKeeperResolver(() => Promise.resolve(zk.session()), 'ns', 30);
  try {
    await assert.rejects(resolver.activeAddress(), (err: unknown) => err instanceof TandemError && err.code === 'NOT_ACTIVE');
  } finally {
    await resolver.close();
  }
});

test('closing the resolver ends a wait for an active (CONNECTION_LOST, as any call after close)', async () => {
  const { zk } = await setUp();
  const resolver = new ZooKeeperResolver(() => Promise.resolve(zk.session()), 'ns', 60_000);
  const asked = resolver.activeAddress();
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  await resolver.close();
  await assert.rejects(asked, (err: unknown) => err instanceof TandemError && err.code === 'CONNECTION_LOST');
});

test('an active that failed the client, read again unchanged, is waited on to change before it is given again', async () => {
  const { zk, writer } = await setUp();
  await writer.create(paths.active, active('m1', '127.0.0.1:7001', 1), 'ephemeral');
  const resolver = new ZooKeeperResolver(() => Promise.resolve(zk.session()), 'ns', 60_000);
  try {
    assert.equal(await resolver.activeAddress(), '127.0.0.1:7001');
    // The client lost m1 (killed): its node is still there until its monitor removes it.
    resolver.invalidate();
    let given: string | null = null;
    const asked = resolver.activeAddress().then((address) => (given = address));
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    assert.equal(given, null, 'the failed address is not handed back at once');
    await writer.delete(paths.active, -1);
    await new Promise((r) => setImmediate(r));
    await writer.create(paths.active, active('m2', '127.0.0.1:7002', 2), 'ephemeral');
    assert.equal(await asked, '127.0.0.1:7002');
  } finally {
    await resolver.close();
  }
});

test('an active that failed the client but stays registered (a lost connection, not a death) is given again after a short wait', async () => {
  const { zk, writer } = await setUp();
  await writer.create(paths.active, active('m1', '127.0.0.1:7001', 1), 'ephemeral');
  // A 40 ms wait in all: the wait for a failed active to change is within it.
  const resolver = new ZooKeeperResolver(() => Promise.resolve(zk.session()), 'ns', 40);
  try {
    assert.equal(await resolver.activeAddress(), '127.0.0.1:7001');
    resolver.invalidate();
    assert.equal(await resolver.activeAddress(), '127.0.0.1:7001');
  } finally {
    await resolver.close();
  }
});
