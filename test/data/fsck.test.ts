// `tandem admin fsck` against a whole cluster of real processes (ZooKeeper, NS, two FMS
// shards, three datanodes): healthy, an orphan only an FMS shard knows (found, then deleted
// by --repair with its replica), a file only NS knows, a block whose replica was removed
// from disk, a block whose only replica is corrupt (moved to /lost+found by --repair), and
// under-replicated files once a datanode dies.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { FileWriter } from '../../src/client/file-writer.js';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { shardOfPool } from '../../src/election/pool-map.js';
import { runFsck } from '../../src/admin/fsck-driver.js';
import type { FsckReport } from '../../src/admin/fsck-report.js';
import { finalizedBlockIds, useDataCluster, type DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

let cluster: DataCluster;
let client: TandemClient;

useDataCluster({ fmsShards: 2, fmsMembers: 1, datanodes: 3 }, (started, itsClient) => {
  cluster = started;
  client = itsClient;
});

const run = promisify(execFile);

/** `tandem admin fsck …` as an operator runs it: its exit code and output. */
async function fsckCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [CLI_ENTRY, 'admin', 'fsck', '--zk', cluster.zkAddress, '--zk-auth', cluster.zkAuth, '--user', 'root', ...args];
  try {
    const { stdout, stderr } = await run(process.execPath, argv, { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The datanode holding the (only) replica of a file's first block, and that block's id. */
async function firstReplica(path: string): Promise<{ fileId: number; blockId: string; datanode: string }> {
  const info = await client.getFileInfo(path);
  assert.ok(info);
  const located = await client.fmsShard(shardOfPool(cluster.poolMap, info.pool)).call<{ blocks: { blockId: string; locations: { id: string }[] }[] }>(
    'fms.getBlockLocations',
    { fileId: info.fileId, user: 'root', groups: [] },
  );
  const block = located.blocks[0]!;
  assert.equal(block.locations.length, 1, `${path} has one replica`);
  return { fileId: info.fileId, blockId: block.blockId, datanode: block.locations[0]!.id };
}

const ids: Record<string, number> = {};

test('a cluster where NS and every FMS shard agree and every block has its replicas is HEALTHY (exit 0)', async () => {
  await client.writeFile('/ok/a', randomBytes(200_000), { replication: 3 });
  await client.writeFile('/ok/b', randomBytes(150_000), { replication: 2 });
  await client.writeFile('/ok/empty', Buffer.alloc(0));
  for (const path of ['/ok/a', '/ok/b']) ids[path] = (await client.getFileInfo(path))!.fileId;
  // Every replica reported (the writer waits for one; the others follow at once).
  let report: FsckReport | null = null;
  await waitFor('every block fully replicated', async () => {
    report = await runFsck(client);
    return report.totals.underReplicatedBlocks === 0;
  }, 10_000, 200);
  assert.equal(report!.status, 'HEALTHY');
  assert.equal(report!.totals.files, 3);
  assert.equal(report!.totals.bytes, 350_000);
  assert.equal(report!.totals.blocks, 2);
  assert.deepEqual([report!.missingFiles, report!.orphans, report!.damagedFiles], [[], [], []]);
  assert.deepEqual(report!.shards.map((s) => [s.shard, s.safeMode, s.liveDatanodes]), [['fms-0', false, 3], ['fms-1', false, 3]]);

  const cli = await fsckCli();
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^Status: HEALTHY$/m);
  assert.match(cli.stdout, /^ Total files: +3$/m);
});

test('a file written through an FMS shard with an id NS never had is an orphan; --repair deletes it and its replica goes', async () => {
  const fileId = 900_001;
  const pool = fileId % cluster.poolMap.pools;
  const shard = shardOfPool(cluster.poolMap, pool);
  const writer = new FileWriter({
    path: '(no name: bypasses NS)',
    fileId,
    pool,
    replication: 1,
    blockSize: 1 << 20,
    fms: client.fmsShard(shard),
    envelope: () => client.mutationEnvelope(),
    completeInNamespace: async () => undefined,
  });
  await pipeline(Readable.from([randomBytes(100_000)]), writer);
  const located = await client.fmsShard(shard).call<{ blocks: { blockId: string; locations: { id: string }[] }[] }>('fms.getBlockLocations', { fileId, user: 'root', groups: [] });
  const { blockId } = located.blocks[0]!;
  const holder = cluster.datanodes.find((d) => d.id === located.blocks[0]!.locations[0]!.id)!;
  assert.ok((await finalizedBlockIds(holder.dir)).includes(blockId));

  const found = await runFsck(client);
  assert.equal(found.status, 'CORRUPT');
  assert.deepEqual(found.orphans, [{ fileId, shard, pool, state: 'closed', length: 100_000, blocks: 1 }]);
  const cli = await fsckCli('--json');
  assert.equal(cli.code, 1, 'CORRUPT exits 1');
  assert.deepEqual((JSON.parse(cli.stdout) as FsckReport).orphans.map((o) => o.fileId), [fileId]);

  const repaired = await runFsck(client, { repair: true });
  assert.deepEqual(repaired.repairs?.orphansDeleted, [{ shard, fileIds: [fileId], deleted: 1, blocks: 1 }]);
  assert.deepEqual(repaired.repairs?.movedToLostFound, []);
  const again = await runFsck(client);
  assert.deepEqual(again.orphans, []);
  assert.equal(again.status, 'HEALTHY');
  await waitFor(`the orphan's replica ${blockId} deleted on ${holder.id}`, async () => !(await finalizedBlockIds(holder.dir)).includes(blockId), 20_000, 100);
});

test('a complete file with bytes that no FMS shard knows is a missing file', async () => {
  // NS.create and NS.complete without ever writing through an FMS shard.
  const created = await client.create('/ghost', { replication: 1 });
  await client.complete('/ghost', created.fileId, 4096);
  ids['/ghost'] = created.fileId;
  const report = await runFsck(client);
  assert.equal(report.status, 'CORRUPT');
  assert.deepEqual(report.missingFiles, [
    { fileId: created.fileId, path: '/ghost', pool: created.pool, shard: shardOfPool(cluster.poolMap, created.pool), length: 4096, reason: 'unknown to its FMS shard' },
  ]);
  assert.deepEqual(report.orphans, []);
});

test('a block whose only replica was removed from disk is missing once its datanode restarted and reported', async () => {
  await client.writeFile('/lost/x', randomBytes(120_000), { replication: 1 });
  const { fileId, blockId, datanode } = await firstReplica('/lost/x');
  ids['/lost/x'] = fileId;
  const dn = cluster.datanodes.find((d) => d.id === datanode)!;
  await dn.process.stop(5_000);
  const removed: string[] = [];
  for (const name of await readdir(join(dn.dir, 'finalized'))) {
    if (name === blockId || name.startsWith(`${blockId}_`)) {
      await rm(join(dn.dir, 'finalized', name));
      removed.push(name);
    }
  }
  assert.equal(removed.length, 2, 'the block file and its .meta');
  await cluster.startDatanode(datanode);

  let report: FsckReport | null = null;
  await waitFor('fsck to see /lost/x lose its block', async () => {
    report = await runFsck(client);
    return report.damagedFiles.some((f) => f.fileId === fileId);
  }, 20_000, 200);
  assert.deepEqual(report!.damagedFiles.find((f) => f.fileId === fileId), {
    fileId, path: '/lost/x', shard: report!.damagedFiles.find((f) => f.fileId === fileId)!.shard, length: 120_000, missingBlocks: [blockId], corruptBlocks: [],
  });
  assert.equal(report!.status, 'CORRUPT');
  assert.ok(report!.totals.missingBlocks >= 1);
});

test('a block whose only replica is corrupt on disk is corrupt once a reader found it out', async () => {
  await client.writeFile('/bad/y', randomBytes(100_000), { replication: 1 });
  const { fileId, blockId, datanode } = await firstReplica('/bad/y');
  ids['/bad/y'] = fileId;
  const file = join(cluster.datanodes.find((d) => d.id === datanode)!.dir, 'finalized', blockId);
  const bytes = await readFile(file);
  bytes[5_000] = bytes[5_000]! ^ 0xff;
  await writeFile(file, bytes);
  // The read fails (no other replica), and reports the bad one to the FMS on the way.
  await assert.rejects(async () => {
    for await (const _ of await client.openFile('/bad/y')) void _;
  }, /BLOCK_MISSING|no replica/);

  const report = await runFsck(client);
  const damaged = report.damagedFiles.find((f) => f.fileId === fileId);
  assert.deepEqual(damaged?.corruptBlocks, [blockId]);
  assert.deepEqual(damaged?.missingBlocks, []);
  assert.ok(report.totals.corruptBlocks >= 1);
  assert.match(await fsckCli().then((r) => r.stdout), new RegExp(`^/bad/y: CORRUPT 1 block\\(s\\) \\[${blockId}\\]`, 'm'));
});

test('--repair moves files whose data is gone to /lost+found, and leaves them there on the next run', async () => {
  const report = await runFsck(client, { repair: true });
  const moved = report.repairs!.movedToLostFound.map((m) => [m.from, m.to]).sort();
  assert.deepEqual(moved, [['/bad/y', '/lost+found/bad/y'], ['/ghost', '/lost+found/ghost'], ['/lost/x', '/lost+found/lost/x']]);
  for (const [from, to] of moved) {
    assert.equal(await client.getFileInfo(from!), null);
    assert.equal((await client.getFileInfo(to!))?.fileId, ids[from!], `${to} is the same file`);
  }
  const next = await runFsck(client, { repair: true });
  assert.equal(next.status, 'CORRUPT', 'their data is still gone');
  assert.deepEqual(next.repairs!.movedToLostFound, []);
  assert.deepEqual(next.repairs!.skipped.map((s) => s.path).sort(), ['/lost+found/bad/y', '/lost+found/ghost', '/lost+found/lost/x']);
});

test('files lose replicas when a datanode dies: under-replicated, and --repair leaves the copies to the FMS', async () => {
  const victim = cluster.datanodes[2]!;
  await victim.process.kill9();
  let report: FsckReport | null = null;
  await waitFor(`fsck to count /ok/a under-replicated after ${victim.id} died`, async () => {
    report = await runFsck(client);
    return report.underReplicated.some((f) => f.fileId === ids['/ok/a']);
  }, 20_000, 250);
  const a = report!.underReplicated.find((f) => f.fileId === ids['/ok/a'])!;
  assert.equal(a.path, '/ok/a');
  assert.equal(a.replication, 3);
  assert.deepEqual(a.blocks.map((b) => b.live), [2], 'two datanodes left, no third to copy to');
  assert.ok(report!.totals.underReplicatedBlocks >= 1);
  assert.deepEqual(report!.overReplicated, []);

  const repaired = await runFsck(client, { repair: true });
  assert.match(repaired.repairs!.underReplicated, /FMS active schedules copies/);
  const cli = await fsckCli();
  assert.equal(cli.code, 1);
  assert.match(cli.stdout, /^\/ok\/a: under-replicated, target 3: \S+ has 2 live/m);
  assert.match(cli.stdout, /^ Under-replicated blocks: +\d+ \(in \d+ file\(s\)\)$/m);
});
