// `tandem admin` day-2 operations against a cluster of real processes (two NS members, an
// FMS shard of two, three datanodes): manual safe mode across a failover, checkpoint,
// verify catching a tampered standby, backup → incremental backup → restore into an empty
// cluster, and decommission.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { DataCluster, type ClusterMember } from '../helpers/data-cluster.js';
import { content, digest } from '../helpers/data-files.js';
import { tempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/zookeeper.js';
import type { TandemClient } from '../../src/client/tandem-client.js';
import type { TandemError } from '../../src/errors.js';
import { decodeImage, writeImage } from '../../src/replication/image-store.js';
import { listImages } from '../../src/replication/storage-layout.js';
import type { NamespaceImage } from '../../src/namespace/image.js';
import { silentLogger } from '../../src/util/log.js';
import type { VerifyReport } from '../../src/master/verify.js';

const run = promisify(execFile);
let cluster: DataCluster;
let client: TandemClient;

before(async () => {
  cluster = await DataCluster.start({ nsMembers: 2, fmsShards: 1, fmsMembers: 2, datanodes: 3 });
  client = cluster.client();
  await cluster.waitForLiveDatanodes();
});
after(async () => {
  client?.close();
  await cluster?.stop();
});

async function admin(target: DataCluster, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const argv = [CLI_ENTRY, 'admin', ...args, '--zk', target.zkAddress, '--zk-auth', target.zkAuth, '--user', 'root'];
  try {
    const { stdout, stderr } = await run(process.execPath, argv, { timeout: 120_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

async function adminJson<T>(target: DataCluster, ...args: string[]): Promise<T> {
  const r = await admin(target, ...args, '--json');
  assert.equal(r.code, 0, `admin ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A write's error (through a client that gives up quickly, should it retry). */
async function writeError(path: string): Promise<string> {
  const quick = cluster.client('root', 1_500);
  try {
    await quick.mkdirs(path);
    return 'no error';
  } catch (err) {
    return `${(err as TandemError).code}: ${(err as Error).message}`;
  } finally {
    quick.close();
  }
}

function standbyOf(shard: string, active: ClusterMember): ClusterMember {
  return cluster.members.find((m) => m.shard === shard && m !== active)!;
}

test('manual safe mode refuses writes, serves reads, and survives a failover of NS and of the FMS shard', async () => {
  await client.writeFile('/before-safemode', Buffer.from('readable in safe mode'), { replication: 2 });
  const entered = await adminJson<Array<{ shard: string; manual: unknown }>>(cluster, 'safemode', 'enter');
  assert.deepEqual(entered.map((r) => r.shard), ['ns', 'fms-0']);
  assert.ok(entered.every((r) => r.manual !== null));
  assert.match(await writeError('/refused'), /^SAFE_MODE: .*manual safe mode/);
  assert.ok((await client.getFileInfo('/before-safemode')) !== null, 'reads are served');
  assert.equal((await digest(await client.openFile('/before-safemode'))).bytes, 21);

  const nsActive = await cluster.waitForActive('ns');
  const fmsActive = await cluster.waitForActive('fms-0');
  assert.equal((await admin(cluster, 'failover', 'ns')).code, 0);
  assert.equal((await admin(cluster, 'failover', '--shard', 'fms-0')).code, 0);
  const newNs = await cluster.waitForActive('ns', nsActive);
  const newFms = await cluster.waitForActive('fms-0', fmsActive);
  assert.notEqual(newNs.name, nsActive.name);
  assert.notEqual(newFms.name, fmsActive.name);

  const after = await adminJson<Array<{ shard: string; manual: { by: string } | null }>>(cluster, 'safemode', 'get');
  assert.ok(after.every((r) => r.manual?.by === 'root'), `safe mode after the failovers: ${JSON.stringify(after)}`);
  assert.match(await writeError('/still-refused'), /^SAFE_MODE: /);

  const left = await adminJson<Array<{ manual: unknown }>>(cluster, 'safemode', 'leave');
  assert.ok(left.every((r) => r.manual === null));
  assert.equal(await client.mkdirs('/after-safemode'), true);
  await client.writeFile('/after-safemode/f', Buffer.from('written after leave'), { replication: 2 });
});

test('checkpoint: a standby writes an image now and the active stores it', async () => {
  await client.mkdirs('/checkpointed');
  const [result] = await adminJson<Array<{ shard: string; txid: number; uploaded: boolean }>>(cluster, 'checkpoint', '--shard', 'ns');
  assert.equal(result!.shard, 'ns');
  const active = await cluster.waitForActive('ns');
  const images = (await listImages(active.dir)).map((i) => i.txid);
  assert.ok(images.includes(result!.txid), `image ${result!.txid} on the active (has ${images.join(', ')})`);
  const status = await adminJson<{ shards: Array<{ shard: string; members: Array<{ member: string; imageTxid: number }> }> }>(cluster, 'status');
  const ns = status.shards.find((s) => s.shard === 'ns')!;
  assert.ok(ns.members.every((m) => m.imageTxid >= result!.txid), JSON.stringify(ns.members));
});

test('verify: every member agrees; a standby restarted on a tampered image disagrees and re-bootstraps from the active', async () => {
  const first = await adminJson<VerifyReport[]>(cluster, 'verify');
  assert.ok(first.every((r) => r.ok && r.standbys.length === 1 && r.standbys[0]!.verdict === 'agrees'), JSON.stringify(first));

  const active = await cluster.waitForActive('ns');
  const standby = standbyOf('ns', active);
  await standby.process.stop(5_000);
  // A disk that changed a directory's mtime under a valid checksum: the image loads fine.
  const newest = (await listImages(standby.dir)).at(-1)!;
  const decoded = decodeImage(await readFile(newest.path), newest.txid);
  assert.ok(decoded.ok);
  const image = decoded.payload as NamespaceImage;
  image.inodes.mtime[0] = image.inodes.mtime[0]! + 12_345;
  await writeImage(standby.dir, newest.txid, image, silentLogger());
  await cluster.startMember('ns', standby.name);
  await waitFor('the tampered standby streaming again', async () => {
    const s = await cluster.status(active);
    return ((s.ha as { followers: Array<{ member: string; connected: boolean; lagTxids: number }> }).followers ?? []).some((f) => f.member.startsWith(standby.name) && f.connected && f.lagTxids === 0);
  }, 20_000, 100);

  const caught = await admin(cluster, 'verify', '--shard', 'ns', '--json');
  assert.equal(caught.code, 1, 'exit 1 on a disagreement');
  const [report] = JSON.parse(caught.stdout) as VerifyReport[];
  assert.equal(report!.standbys[0]!.verdict, 'disagrees');
  assert.ok(report!.standbys[0]!.rebootstrappedAtTxid! >= report!.txid);

  let again: VerifyReport | undefined;
  await waitFor('the re-bootstrapped standby agreeing', async () => {
    [again] = await adminJson<VerifyReport[]>(cluster, 'verify', '--shard', 'ns');
    return again!.ok;
  }, 30_000, 200);
  assert.equal(again!.standbys[0]!.verdict, 'agrees');
});

test('backup, incremental backup, restore into an empty cluster: same digests, files readable', async () => {
  const backupDir = await tempDir();
  const files = new Map<string, string>();
  for (let i = 0; i < 3; i++) {
    const { pieces, sha256 } = content(200_000 + i);
    await client.writeFile(`/backed/a${i}`, Buffer.concat(pieces), { replication: 2 });
    files.set(`/backed/a${i}`, sha256);
  }
  const first = await adminJson<{ shards: Record<string, { recordsCopied: number; imagesCopied: number }> }>(cluster, 'backup', '--to', backupDir, '--secret-file', cluster.secretFile);
  assert.ok(first.shards.ns!.recordsCopied > 0 && first.shards['fms-0']!.recordsCopied > 0, JSON.stringify(first));

  for (let i = 0; i < 2; i++) {
    const { pieces, sha256 } = content(100_000 + i);
    await client.writeFile(`/backed/b${i}`, Buffer.concat(pieces), { replication: 2 });
    files.set(`/backed/b${i}`, sha256);
  }
  const second = await adminJson<{ shards: Record<string, { recordsCopied: number; imagesCopied: number }> }>(cluster, 'backup', '--to', backupDir, '--secret-file', cluster.secretFile);
  // Only what is new: the few records of two files, far fewer than the first run's.
  assert.ok(second.shards.ns!.recordsCopied > 0 && second.shards.ns!.recordsCopied < first.shards.ns!.recordsCopied, JSON.stringify({ first, second }));
  assert.equal(second.shards.ns!.imagesCopied, 0, 'no new image since the first run');

  const digests = await Promise.all(['ns', 'fms-0'].map(async (s) => (await client.activeOf(s).call<VerifyReport>('admin.verify', {})).active.digest));

  // An empty cluster: ZooKeeper and pool map, no masters yet; the backup goes into its storage, datanode dirs copied.
  const fresh = await DataCluster.start({ nsMembers: 0, fmsShards: 1, fmsMembers: 0, datanodes: 0 });
  const freshClient = fresh.client();
  try {
    const restored = await run(process.execPath, [CLI_ENTRY, 'admin', 'restore', '--from', backupDir, '--to', fresh.base, '--members', 'm1,m2', '--json']);
    const result = JSON.parse(restored.stdout) as Record<string, { lastTxid: number; members: number }>;
    assert.equal(result.ns!.members, 2);
    for (const d of cluster.datanodes) await cp(d.dir, join(fresh.base, 'datanodes', d.id), { recursive: true, filter: (src) => !src.endsWith('.lock') });
    for (const shard of ['ns', 'fms-0']) for (const m of ['m1', 'm2']) await fresh.startMember(shard, m);
    for (const d of cluster.datanodes) await fresh.startDatanode(d.id);
    await fresh.waitForActive('ns');
    await fresh.waitForActive('fms-0');
    const restoredDigests = await Promise.all(['ns', 'fms-0'].map(async (s) => (await freshClient.activeOf(s).call<VerifyReport>('admin.verify', {}, { deadlineMs: 60_000 })).active.digest));
    assert.deepEqual(restoredDigests, digests);
    for (const [path, sha256] of files) {
      assert.equal((await digest(await freshClient.openFile(path))).sha256, sha256, path);
    }
  } finally {
    freshClient.close();
    await fresh.stop();
  }
});

test('decommission moves every replica off a datanode; files stay readable without it', async () => {
  const fmsActive = await cluster.waitForActive('fms-0');
  const before = (await cluster.status(fmsActive)).datanodes as Array<{ id: string; replicas: number }>;
  const leaving = [...before].sort((a, b) => b.replicas - a.replicas)[0]!;
  assert.ok(leaving.replicas > 0);
  const r = await admin(cluster, 'decommission', leaving.id, '--timeout-ms', '60000');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`${leaving.id}: decommissioned`));
  const status = await adminJson<Array<{ datanode: string; state: string; waiting: number }>>(cluster, 'decommission', '--status');
  assert.deepEqual(status.map((s) => [s.datanode, s.state, s.waiting]), [[leaving.id, 'decommissioned', 0]]);

  // Every block of every file has its replication on the other datanodes.
  const paths = ['/before-safemode', '/after-safemode/f', '/backed/a0', '/backed/a1', '/backed/a2', '/backed/b0', '/backed/b1'];
  for (const path of paths) {
    const located = await client.getBlockLocations(path);
    for (const block of located.blocks) {
      const elsewhere = block.locations.filter((l) => l.id !== leaving.id);
      assert.ok(elsewhere.length >= 2, `${path} ${block.blockId}: ${JSON.stringify(block.locations)}`);
    }
  }
  // Gone for good: everything still reads.
  await cluster.datanodes.find((d) => d.id === leaving.id)!.process.stop(5_000);
  for (const path of paths) assert.ok((await digest(await client.openFile(path))).bytes > 0, path);
  await admin(cluster, 'decommission', leaving.id, '--cancel');
});
