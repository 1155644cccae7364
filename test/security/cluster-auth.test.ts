// The cluster secret on a real cluster (real ZooKeeper, every master and datanode a child
// process given --secret-file): internal endpoints refuse whoever cannot prove the secret,
// and log it; users' clients are served as before; ZooKeeper's nodes are closed to
// sessions without the cluster's digest credentials.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import zookeeper from 'node-zookeeper-client';
import { TandemClient } from '../../src/client/tandem-client.js';
import { limitsWith } from '../../src/config/limits.js';
import { RpcConnection } from '../../src/rpc/connection.js';
import { parseHostPort } from '../../src/util/address.js';
import { decodeFileStatus } from '../../src/namespace/file-status-wire.js';
import { shardPaths } from '../../src/election/layout.js';
import { Monitor, type MonitorInfo } from '../../src/monitor/monitor.js';
import { ClusterSecret } from '../../src/security/cluster-secret.js';
import { internalHeaders } from '../../src/security/http-auth.js';
import { silentLogger } from '../../src/util/log.js';
import { useDataCluster, type DataCluster } from '../helpers/data-cluster.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { testSecretFile } from '../helpers/secret.js';
import { waitFor } from '../helpers/zookeeper.js';

let cluster: DataCluster;
let client: TandemClient;
useDataCluster({ nsMembers: 1, fmsShards: 1, fmsMembers: 1, datanodes: 1 }, (c, k) => {
  cluster = c;
  client = k;
});

const limits = limitsWith();

/** A connection as any program could open one: no secret. */
async function plainConnection(rpc: string): Promise<RpcConnection> {
  const { host, port } = parseHostPort(rpc);
  return RpcConnection.connect(host, port, { limits, clientName: 'stranger' });
}

/** Waits until `file` has a line containing every one of `texts`; returns it. */
async function logLine(file: string, ...texts: string[]): Promise<string> {
  let found = '';
  await waitFor(
    `a line with ${texts.map((t) => JSON.stringify(t)).join(' and ')} in ${file}`,
    async () => {
      found = (await cluster.logLines(file, texts[0]!)).find((line) => texts.every((t) => line.includes(t))) ?? '';
      return found !== '';
    },
    20_000,
    100,
  );
  return found;
}

test('a client without the secret still does ns.* and fms.* calls: writes, lists and reads a file', async () => {
  await client.mkdirs('/open');
  await client.writeFile('/open/file', Buffer.from('hello, cluster'));
  const names = (await client.listStatus('/open')).entries.map((e: { name: string }) => e.name);
  assert.deepEqual(names, ['file']);
  const pieces: Buffer[] = [];
  for await (const piece of await client.openFile('/open/file')) pieces.push(piece as Buffer);
  assert.equal(Buffer.concat(pieces).toString(), 'hello, cluster');
});

test('internal methods answer UNAUTHENTICATED to a connection without the secret, and the refusals are logged', async () => {
  const ns = (await cluster.active('ns'))!;
  const fms = (await cluster.active('fms-0'))!;
  const toNs = await plainConnection(ns.process.rpc);
  const toFms = await plainConnection(fms.process.rpc);
  try {
    await rejectsWithCode(toNs.call('repl.hello', { epoch: 99, member: 'intruder' }), 'UNAUTHENTICATED', /repl\.hello is internal/);
    await rejectsWithCode(toNs.call('repl.append', { epoch: 99, edits: Buffer.alloc(0), commitTxid: 0 }), 'UNAUTHENTICATED');
    await rejectsWithCode(
      toFms.call('dn.heartbeat', { id: 'dn-fake', rpc: '127.0.0.1:1', data: '127.0.0.1:2', http: '', capacityBytes: 1, usedBytes: 0, epoch: 0 }),
      'UNAUTHENTICATED',
    );
    await rejectsWithCode(toFms.call('dn.blockReport', { id: 'dn-fake', reportId: 'r', page: 0, last: true, replicas: [] }), 'UNAUTHENTICATED');
    // The same connections serve what users may call.
    assert.equal(decodeFileStatus(await toNs.call('ns.getFileInfo', { path: '/open/file', user: 'root' })).type, 'file');
  } finally {
    toNs.close();
    toFms.close();
  }
  await logLine(ns.log, 'refused repl.hello from 127.0.0.1:', 'no proof of the cluster secret', '"client":"stranger"');
  await logLine(fms.log, 'refused dn.heartbeat from 127.0.0.1:', 'UNAUTHENTICATED');
  // The fake datanode was never heard; status counts the refusals.
  const fmsStatus = await cluster.status(fms);
  assert.equal(fmsStatus.liveDatanodes, 1);
  assert.equal(fmsStatus.clusterSecret, true);
  assert.ok((fmsStatus.unauthenticatedTotal as number) >= 2);
  assert.ok(((await cluster.status(ns)).unauthenticatedTotal as number) >= 2);
});

test("the active's image server answers 401 to PUT /images and GET /edits without the Authorization header", async () => {
  const ns = (await cluster.active('ns'))!;
  const http = (await cluster.status(ns)).http as string;
  const put = await fetch(`http://${http}/images/1?epoch=1`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(64) });
  assert.equal(put.status, 401);
  assert.equal(((await put.json()) as { code: string }).code, 'UNAUTHENTICATED');
  const edits = await fetch(`http://${http}/edits?from=1`);
  assert.equal(edits.status, 401);
  assert.equal(((await edits.json()) as { code: string }).code, 'UNAUTHENTICATED');
  await logLine(ns.log, 'image server: refused PUT /images/1?epoch=1', 'no Authorization header');
});

test("a monitor's GET /edits answers 401 without the Authorization header, and serves one that proves the secret", async () => {
  const active = (await cluster.active('ns'))!;
  const monitor = new Monitor({ shard: 'ns', member: active.name, dir: active.dir, connect: cluster.connect, log: silentLogger(), secret: await ClusterSecret.load(cluster.secretFile) });
  await monitor.start();
  try {
    let http = '';
    await waitFor('the monitor published its address', async () => {
      const node = await (await cluster.coordinator()).get<MonitorInfo>(shardPaths('ns').monitor);
      http = node?.data.http ?? '';
      return http !== '';
    }, 10_000, 50);
    const url = `http://${http}/edits?from=1`;
    const refused = await fetch(url);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { code: string }).code, 'UNAUTHENTICATED');
    // With the proof it reaches the monitor's own rule: its master is alive, ask the master.
    const proved = await fetch(url, { headers: internalHeaders(await ClusterSecret.load(cluster.secretFile), 'GET', url) });
    assert.equal(proved.status, 409);
  } finally {
    await monitor.stop();
  }
});

test('a standby with a wrong or no secret cannot stream from the active; one with the right secret does', async () => {
  const active = (await cluster.active('ns'))!;
  const wrong = await cluster.startMember('ns', 'm2', await testSecretFile(cluster.base, 'wrong-secret'));
  // The active refuses to stream to it (it cannot prove the secret) and says so; the standby
  // refuses the active's proof and says so too.
  await logLine(active.log, 'cannot stream to standby m2', 'UNAUTHENTICATED', 'did not prove it holds the cluster secret');
  await logLine(wrong.log, 'refused the handshake from', 'proof of the cluster secret was wrong');
  const none = await cluster.startMember('ns', 'm3', null);
  await logLine(active.log, 'cannot stream to standby m3', 'UNAUTHENTICATED', 'runs without a cluster secret');
  const activeTxid = (await cluster.status(active)).appliedTxid as number;
  assert.ok(activeTxid > 0);
  // Neither received a single record.
  assert.equal((await cluster.status(wrong)).appliedTxid, 0);
  assert.equal((await cluster.status(none)).appliedTxid, 0);
  await wrong.process.stop(5_000);
  await none.process.stop(5_000);

  const right = await cluster.startMember('ns', 'm4');
  await waitFor('m4 streams from the active', async () => ((await cluster.status(right)).appliedTxid as number) >= activeTxid, 20_000, 100);
  await client.mkdirs('/after-m4');
  const txid = (await cluster.status(active)).appliedTxid as number;
  await waitFor('m4 applies the new mkdirs', async () => ((await cluster.status(right)).appliedTxid as number) >= txid, 20_000, 50);
});

test('a datanode with the wrong secret is refused by the FMS and never counted live', async () => {
  const fms = (await cluster.active('fms-0'))!;
  const bad = await cluster.startDatanode('dn-bad', await testSecretFile(cluster.base, 'datanode-wrong-secret'));
  await logLine(fms.log, 'refused the handshake from', 'proof of the cluster secret was wrong', 'datanode dn-bad');
  await logLine(bad.log, 'heartbeat to fms-0/m1 failed', 'did not prove it holds the cluster secret');
  assert.equal((await cluster.status(fms)).liveDatanodes, 1);
  await bad.process.stop(5_000);
});

test("ZooKeeper: every node under the chroot carries only the cluster's digest ACL, and a session without the credentials cannot change any", async () => {
  const chroot = '/tandem/test';
  const [user, password] = cluster.zkAuth.split(':') as [string, string];
  const digestId = `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`;
  const owner = await rawSession(cluster.zk.connect, cluster.zkAuth);
  const stranger = await rawSession(cluster.zk.connect, null);
  const impostor = await rawSession(cluster.zk.connect, `${user}:guessed`);
  try {
    const nodes = await walk(owner, chroot);
    // The cluster's registry is there: shards, election nodes, datanodes, pool map.
    for (const expected of ['/shards/ns/active', '/shards/ns/epoch', '/shards/fms-0/isr', '/config/pools', '/datanodes/dn1']) {
      assert.ok(nodes.includes(chroot + expected), `${expected} missing from ${nodes.join(', ')}`);
    }
    assert.ok(nodes.some((n) => n.startsWith(`${chroot}/shards/ns/election/`)));
    for (const node of nodes) {
      const acls = await zkCall<zookeeper.ACL[]>((done) => owner.getACL(node, done));
      assert.deepEqual(
        // The type declarations call it `perms`; the library sets `permission`.
        acls.map((a) => ({ permission: (a as unknown as { permission: number }).permission, scheme: a.id.scheme, id: a.id.id })),
        [{ permission: zookeeper.Permission.ALL, scheme: 'digest', id: digestId }],
        `the ACL of ${node}`,
      );
      for (const other of [stranger, impostor]) {
        await zkRefused(node, 'setData', (done) => other.setData(node, Buffer.from('taken over'), -1, done));
        await zkRefused(node, 'remove', (done) => other.remove(node, -1, done));
        await zkRefused(node, 'create under', (done) => other.create(`${node}/intruder`, Buffer.alloc(0), zookeeper.CreateMode.PERSISTENT, done));
        await zkRefused(node, 'getData', (done) => other.getData(node, done));
      }
    }
    // Nothing changed: the active is still named, the pool map still readable by the cluster.
    assert.ok(await cluster.active('ns'));
    assert.ok(await client.getFileInfo('/open/file'));
  } finally {
    for (const session of [owner, stranger, impostor]) session.close();
  }
});

type Done<T> = (error: Error | zookeeper.Exception | null, result?: T) => void;

function zkCall<T>(request: (done: Done<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => request((error, result) => (error ? reject(error) : resolve(result as T))));
}

async function zkRefused(node: string, what: string, request: (done: Done<unknown>) => void): Promise<void> {
  await assert.rejects(zkCall(request), (err: unknown) => {
    assert.equal((err as { getCode?: () => number }).getCode?.(), zookeeper.Exception.NO_AUTH, `${what} ${node}: ${String(err)}`);
    return true;
  }, `${what} ${node} was allowed`);
}

/** A plain node-zookeeper-client session at the root, with `auth` (user:password) or none. */
async function rawSession(connect: string, auth: string | null): Promise<zookeeper.Client> {
  const session = zookeeper.createClient(connect, { sessionTimeout: 4_000, retries: 1 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ZooKeeper session at ${connect}`)), 10_000);
    session.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    session.connect();
  });
  if (auth !== null) session.addAuthInfo('digest', Buffer.from(auth));
  return session;
}

/** Every node under `root` (itself excluded), depth first, at most 10,000. */
async function walk(session: zookeeper.Client, root: string): Promise<string[]> {
  const out: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    assert.ok(out.length < 10_000, 'too many nodes under the chroot');
    const node = stack.pop()!;
    const children = await zkCall<string[]>((done) => session.getChildren(node, done));
    for (const child of children) {
      const path = `${node}/${child}`;
      out.push(path);
      stack.push(path);
    }
  }
  return out;
}
