// The adapter through a ZooKeeper outage (DESIGN §6: "survive a ZK outage on the cache (and
// say it is stale)"): a real ZooKeeper killed for longer than the adapter's session timeout,
// a real `tandem adapter` process asked over HTTP and RPC all along. It keeps answering from
// its cache, marked stale with a growing age; once ZooKeeper is back it is fresh again, on
// a new session, registered again under /adapters.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AdapterSnapshot } from '../../src/adapter/snapshot.js';
import type { ShardMap } from '../../src/client/shard-map.js';
import { DEFAULT_LIMITS } from '../../src/config/limits.js';
import { RpcConnection } from '../../src/rpc/connection.js';
import { parseHostPort } from '../../src/util/address.js';
import { DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

let cluster: DataCluster;
before(async () => {
  cluster = await DataCluster.start({ nsMembers: 1, fmsShards: 1, fmsMembers: 1, datanodes: 1, adapters: 1 });
});
after(async () => {
  await cluster?.stop();
});

async function getJson<T>(http: string, path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`http://${http}${path}`);
  return { status: response.status, body: (await response.json()) as T };
}

async function shardMap(rpc: string): Promise<ShardMap> {
  const { host, port } = parseHostPort(rpc);
  const connection = await RpcConnection.connect(host, port, { limits: DEFAULT_LIMITS, clientName: 'outage test' });
  try {
    return await connection.call<ShardMap>('adapter.shardMap', {}, { deadlineMs: 2_000 });
  } finally {
    connection.close();
  }
}

test('the adapter answers from its cache through a ZooKeeper outage, stale with a growing age, and is fresh again after', { timeout: 120_000 }, async () => {
  const adapter = cluster.adapters[0]!;
  const nsActive = await cluster.waitForActive('ns');
  await waitFor('a fresh status naming the ns active and the adapter itself', async () => {
    const { body } = await getJson<AdapterSnapshot>(adapter.http, '/status');
    return !body.stale && body.shards.ns?.active.current !== null && body.adapters.some((a) => a.id === adapter.id) && body.datanodes.length === 1;
  }, 20_000, 100);
  const before = await getJson<AdapterSnapshot>(adapter.http, '/status');
  assert.equal(before.status, 200);
  assert.equal((before.body.shards.ns!.active.current as { member: string }).member, nsActive.name);
  assert.deepEqual(Object.keys(before.body.shards).sort(), ['fms-0', 'ns']);
  assert.equal(before.body.datanodes[0]!.id, 'dn1');
  assert.ok(before.body.datanodes[0]!.capacityBytes > 0);
  assert.deepEqual(before.body.pools, cluster.poolMap);
  const freshMap = await shardMap(adapter.rpc);
  assert.equal(freshMap.stale, false);
  assert.equal(freshMap.shards.ns!.active!.member, nsActive.name);
  assert.equal(freshMap.shards.ns!.active!.rpc, nsActive.process.rpc);
  assert.deepEqual(freshMap.pools, cluster.poolMap);

  await cluster.zk.kill(0);
  try {
    await waitFor('the adapter to say its cache is stale', async () => (await getJson<AdapterSnapshot>(adapter.http, '/status')).body.stale, 15_000, 50);
    const first = await getJson<AdapterSnapshot>(adapter.http, '/status');
    const firstMap = await shardMap(adapter.rpc);
    assert.equal(first.status, 200, '/status answers during the outage');
    assert.equal(first.body.stale, true);
    assert.equal((first.body.shards.ns!.active.current as { member: string }).member, nsActive.name, 'the cache still names the active');
    assert.equal(firstMap.stale, true);
    assert.equal(firstMap.shards.ns!.active!.member, nsActive.name, 'the shard map is served from the cache');
    assert.deepEqual(firstMap.pools, cluster.poolMap);
    // Longer than the adapter's session timeout (3 s): its session expires.
    await new Promise((r) => setTimeout(r, 4_000));
    const later = await getJson<AdapterSnapshot>(adapter.http, '/status');
    const laterMap = await shardMap(adapter.rpc);
    assert.equal(later.body.stale, true);
    assert.equal(later.body.readAt, first.body.readAt, 'nothing was read during the outage');
    assert.ok(later.body.ageMs > first.body.ageMs, `the age grows: ${first.body.ageMs} ms, then ${later.body.ageMs} ms`);
    assert.ok(laterMap.ageMs > firstMap.ageMs);
    assert.equal(laterMap.shards.ns!.active!.member, nsActive.name);
    const health = await getJson<{ status: string; stale: boolean }>(adapter.http, '/health');
    assert.equal(health.status, 200, 'a stale adapter is still healthy: its cache is what clients have');
    assert.equal(health.body.stale, true);
  } finally {
    await cluster.zk.start(0);
  }
  // The answer that said fresh is the one checked: a later one may be stale again on a loaded machine (a read every second, stale after 3 s).
  const fresh: { answer?: { body: AdapterSnapshot } } = {};
  await waitFor('the adapter to be fresh again, registered again', async () => {
    const answer = await getJson<AdapterSnapshot>(adapter.http, '/status');
    const { body } = answer;
    if (!body.stale && body.shards.ns?.active.current !== null && body.adapters.some((a) => a.id === adapter.id)) fresh.answer = answer;
    return fresh.answer !== undefined;
  }, 30_000, 100);
  const again = fresh.answer!;
  assert.ok(again.body.ageMs < 3_000, `fresh again: ${again.body.ageMs} ms old`);
  assert.notEqual(again.body.readAt, before.body.readAt);
  const status = await cluster.logLines(adapter.log, 'the cache is fresh');
  assert.ok(status.length >= 1, 'the adapter logs that its cache is fresh again');
});

test('an adapter whose session expired opens a new one and registers again', { timeout: 60_000 }, async () => {
  const adapter = cluster.adapters[0]!;
  const path = `/adapters/${adapter.id}`;
  const session = await cluster.coordinator();
  const owner = (await session.get(path))?.ephemeralOwner;
  assert.ok(owner, `${path} is registered`);
  const registrationsBefore = (await cluster.logLines(adapter.log, `registered in ZooKeeper as ${path}`)).length;
  // A frozen process cannot ping: ZooKeeper (running) expires its session after 3 s.
  adapter.process.child.kill('SIGSTOP');
  try {
    await waitFor(`${path} to vanish with the expired session`, async () => (await session.get(path)) === null, 20_000, 100);
  } finally {
    adapter.process.child.kill('SIGCONT');
  }
  await waitFor(`${path} registered again on a new session`, async () => {
    const node = await session.get(path);
    return node !== null && node.ephemeralOwner !== owner;
  }, 20_000, 100);
  await waitFor('a fresh cache again', async () => !(await getJson<AdapterSnapshot>(adapter.http, '/status')).body.stale, 20_000, 100);
  assert.equal((await cluster.logLines(adapter.log, `registered in ZooKeeper as ${path}`)).length, registrationsBefore + 1);
  assert.equal((await cluster.logLines(adapter.log, 'ZooKeeper session expired')).length, 1);
  const map = await shardMap(adapter.rpc);
  assert.equal(map.stale, false);
  assert.ok(map.shards.ns!.active, 'the shard map names the ns active again');
});
