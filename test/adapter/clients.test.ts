// Clients through adapters, against real processes (issue 5 part 2): three adapters in the
// list, one of them dead, and no call fails; the NS active killed under load, and the
// client follows the failover through the adapters' shard map; the adapter's /shards
// redirect to a shard's active, and its 503 when the shard has none.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Adapter } from '../../src/adapter/adapter.js';
import type { AdapterSnapshot } from '../../src/adapter/snapshot.js';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import type { AdapterShardMaps } from '../../src/client/adapter-resolver.js';
import { DEFAULT_LIMITS } from '../../src/config/limits.js';
import type { TandemError } from '../../src/errors.js';
import { silentLogger } from '../../src/util/log.js';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { shardPaths, type ActiveInfo } from '../../src/election/layout.js';
import { DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

const run = promisify(execFile);
let cluster: DataCluster;
const clients: TandemClient[] = [];
before(async () => {
  // fms-0 has one member, so that killing it leaves the shard without an active (the 503).
  cluster = await DataCluster.start({ nsMembers: 2, fmsShards: 1, fmsMembers: 1, datanodes: 2, adapters: 3 });
  await cluster.waitForLiveDatanodes();
});
after(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

function shardMapsOf(client: TandemClient): AdapterShardMaps {
  return cluster.shardMapsOf(client);
}

async function bytesOf(client: TandemClient, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await client.openFile(path)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('a client given three adapters, one of them dead, sees no error over hundreds of calls and file writes and reads', { timeout: 120_000 }, async () => {
  const dead = cluster.adapters[2]!;
  await dead.process.kill9();
  const list = cluster.adapters.map((a) => a.rpc);
  // One client asks the dead adapter first (random ≈ 1 keeps the list's order); the others shuffle.
  const first = cluster.adapterClient({ adapters: [dead.rpc, list[0]!, list[1]!], resolver: { random: () => 0.999 } });
  clients.push(first);
  assert.equal(shardMapsOf(first).order[0], dead.rpc);
  const others = Array.from({ length: 5 }, () => cluster.adapterClient({ adapters: list }));
  clients.push(...others);
  const all = [first, ...others];
  await first.mkdirs('/through');
  let calls = 0;
  await Promise.all(
    all.map(async (client, c) => {
      for (let i = 0; i < 20; i++) {
        const path = `/through/c${c}/f${i}`;
        await client.create(path);
        const info = await client.getFileInfo(path);
        assert.equal(info?.type, 'file');
        calls += 2;
      }
      const listing = await client.listStatus(`/through/c${c}`);
      assert.equal(listing.entries.length, 20);
      assert.equal(await client.rename(`/through/c${c}/f0`, `/through/c${c}/renamed`), true);
      assert.equal(await client.delete(`/through/c${c}/f1`), true);
      calls += 3;
    }),
  );
  assert.ok(calls >= 250, `${calls} metadata calls`);
  for (const [i, client] of all.entries()) {
    const data = randomBytes(200_000 + i);
    await client.writeFile(`/through/data-${i}`, data, { replication: 2 });
    assert.ok((await bytesOf(client, `/through/data-${i}`)).equals(data), `file ${i} reads back as written`);
  }
  const stats = shardMapsOf(first).stats;
  assert.ok(stats.adapterFailures >= 1, 'the client that asked the dead adapter first did meet it');
  assert.ok(stats.adapterFailures <= 3, `the dead adapter is skipped once it failed (${stats.adapterFailures} failures)`);
  for (const client of all) assert.ok(shardMapsOf(client).stats.refreshes >= 1);
});

test('the client follows a failover of the NS active through the adapters, every call succeeding', { timeout: 120_000 }, async () => {
  const client = cluster.adapterClient({ adapters: [cluster.adapters[0]!.rpc, cluster.adapters[1]!.rpc], deadlineMs: 30_000 });
  clients.push(client);
  await client.mkdirs('/failover');
  const old = await cluster.waitForActive('ns');
  for (let i = 0; i < 20; i++) await client.create(`/failover/before-${i}`);
  let created = 0;
  let stop = false;
  const load = (async () => {
    while (!stop) {
      await client.create(`/failover/f${created}`);
      created++;
    }
  })();
  while (created < 20) await new Promise((r) => setTimeout(r, 10));
  await old.process.kill9();
  const next = await cluster.waitForActive('ns', old, 30_000);
  const atFailover = created;
  while (created < atFailover + 50) await new Promise((r) => setTimeout(r, 10));
  stop = true;
  await load;
  assert.notEqual(next.name, old.name);
  assert.ok(client.retries >= 1, 'calls were retried across the failover');
  for (let i = 0; i < created; i++) assert.ok(await client.getFileInfo(`/failover/f${i}`), `/failover/f${i} was acknowledged and is there`);
  const map = shardMapsOf(client).cached();
  assert.equal(map?.shards.ns?.active?.member, next.name, 'the cached shard map names the new active');
  // The old member comes back as a standby, for the tests after this one.
  await cluster.startMember('ns', old.name);
});

test('Adapter.start in process: routes plug in, snapshot() is the cache, client(user) acts as that user through the cache', { timeout: 60_000 }, async () => {
  const adapter = await Adapter.start({
    id: 'inproc',
    connect: cluster.connect,
    rpc: '127.0.0.1:0',
    http: '127.0.0.1:0',
    limits: DEFAULT_LIMITS,
    log: silentLogger(),
    clientsMax: 2,
    httpRoutes: [
      (app, a) => {
        app.get('/plugged', async () => ({ shards: Object.keys(a.snapshot().shards).sort(), id: a.id }));
      },
    ],
  });
  try {
    const plugged = (await (await fetch(`http://${adapter.http}/plugged`)).json()) as { shards: string[]; id: string };
    assert.deepEqual(plugged, { shards: ['fms-0', 'ns'], id: 'inproc' });
    const snapshot = adapter.snapshot();
    assert.equal(snapshot.stale, false);
    assert.ok(snapshot.adapters.some((a) => a.id === 'inproc' && a.rpc === adapter.rpc && a.http === adapter.http && a.pid === process.pid));
    assert.equal(adapter.shardMap().shards.ns?.active?.member, (await cluster.waitForActive('ns')).name);

    const root = adapter.client('root');
    await root.mkdirs('/users/alice');
    await root.setOwner('/users/alice', { owner: 'alice' });
    const alice = adapter.client('alice', ['staff']);
    assert.equal(adapter.client('alice', ['staff']), alice, 'one client per user, kept');
    assert.equal(alice.user, 'alice');
    assert.notEqual(alice.clientId, root.clientId, 'each user its own clientId (its own retry-cache keys)');
    const data = randomBytes(100_000);
    await alice.writeFile('/users/alice/notes', data, { replication: 2 });
    assert.equal((await alice.getFileInfo('/users/alice/notes'))?.owner, 'alice');
    assert.ok((await bytesOf(alice, '/users/alice/notes')).equals(data));
    const bob = adapter.client('bob');
    await assert.rejects(bob.create('/users/alice/bobs'), (err: TandemError) => err.code === 'PERMISSION_DENIED');
    // clientsMax 2: a third user evicts the least recently used, and closing nothing breaks the others.
    adapter.client('carol');
    assert.notEqual(adapter.client('root'), root, 'root was evicted and made again');
    assert.ok(await alice.getFileInfo('/users/alice/notes'), 'an evicted client still works: it owns no connection');
  } finally {
    await adapter.stop();
  }
});

test('the CLI through --adapter and $TANDEM_ADAPTERS: fs, admin status (the adapter\'s snapshot) and admin pools', { timeout: 60_000 }, async () => {
  const live = cluster.adapters[0]!.rpc;
  const dead = cluster.adapters[2]!.rpc;
  const tandem = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> =>
    (await run(process.execPath, [CLI_ENTRY, ...args], { env: { ...process.env, HOME: '/nonexistent', ...env }, timeout: 30_000 })).stdout;
  await tandem(['fs', '--adapter', `${dead},${live}`, '--user', 'root', 'mkdir', '/cli']);
  const listed = JSON.parse(await tandem(['fs', '--json', 'ls', '/'], { TANDEM_ADAPTERS: `${live},${dead}` })) as Array<{ path: string }>;
  assert.ok(listed.some((e) => e.path === '/cli'));
  const status = JSON.parse(await tandem(['admin', 'status', '--adapter', live, '--json'])) as AdapterSnapshot;
  assert.equal(status.stale, false);
  assert.deepEqual(Object.keys(status.shards).sort(), ['fms-0', 'ns']);
  assert.equal(status.datanodes.length, 2);
  const pools = JSON.parse(await tandem(['admin', 'pools', '--adapter', live, '--json'])) as { pools: number; shards: string[] };
  assert.deepEqual(pools, cluster.poolMap);
});

test('GET /shards/<shard>/… redirects to the shard\'s active, and answers 503 when it has none', { timeout: 60_000 }, async () => {
  const adapter = cluster.adapters[0]!;
  const session = await cluster.coordinator();
  const active = (await session.get<ActiveInfo>(shardPaths('ns').active))!.data;
  assert.ok(active.http, 'the ns active serves HTTP');
  const redirect = await fetch(`http://${adapter.http}/shards/ns/images?from=3&x=a%20b`, { redirect: 'manual' });
  assert.equal(redirect.status, 307);
  assert.equal(redirect.headers.get('location'), `http://${active.http}/images?from=3&x=a%20b`);
  const unknown = await fetch(`http://${adapter.http}/shards/fms-9/x`, { redirect: 'manual' });
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');

  const fms = await cluster.waitForActive('fms-0');
  const fmsRedirect = await fetch(`http://${adapter.http}/shards/fms-0/`, { redirect: 'manual' });
  assert.equal(fmsRedirect.status, 307);
  await fms.process.kill9();
  // Its only member gone: once its session expires, fms-0 has no active.
  let last: Response | null = null;
  await waitFor('a 503 for fms-0', async () => {
    last = await fetch(`http://${adapter.http}/shards/fms-0/status`, { redirect: 'manual' });
    return last.status === 503;
  }, 20_000, 100);
  const body = (await last!.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'NOT_ACTIVE');
  assert.match(body.error.message, /fms-0 has no active/);
});
