// The FMS keeps every block at its replication, against real processes (ZooKeeper, NS, an
// FMS shard, four datanodes):
// - a replica corrupted on disk: reads still succeed (the reader falls back and reports the
//   bad replica), and the FMS replaces it: the corrupt copy is deleted, a good one is made
//   from a good replica;
// - a datanode killed with SIGKILL: once its ZooKeeper node is gone (and it stays silent)
//   the FMS counts it dead and copies its blocks onto the others until every block has its
//   replication again; restarted, it reports what it still holds and the extra copies are
//   trimmed.
// The FMS runs with a heartbeat deadline of 60 s here, far longer than the test waits: the
// datanode's death is noticed through ZooKeeper (its node goes when its 2 s session
// expires) plus a few seconds of silence (src/filemeta/datanodes.ts). The heartbeat
// deadline alone (3 s there) counts frozen datanodes dead in fms-standby.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { DataCluster, type ClusterDatanode, type ClusterMember } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

const REPLICATION = 3;
const HEARTBEAT_DEADLINE_MS = 60_000;

let cluster: DataCluster;
let client: TandemClient;
let fms: ClusterMember;

before(async () => {
  cluster = await DataCluster.start({ fmsShards: 1, fmsMembers: 1, datanodes: 4, heartbeatDeadlineMs: HEARTBEAT_DEADLINE_MS });
  client = cluster.client();
  fms = await cluster.waitForActive('fms-0');
  await waitFor('four datanodes heard by the FMS', async () => (await cluster.status(fms)).liveDatanodes === 4, 20_000, 100);
});
after(async () => {
  client?.close();
  await cluster?.stop();
});

/** Finalized block ids on one datanode. */
async function blocksOn(dn: ClusterDatanode): Promise<string[]> {
  const names = await readdir(join(dn.dir, 'finalized')).catch(() => [] as string[]);
  return names.filter((n) => !n.endsWith('.meta')).sort();
}

/** block id → datanodes holding a finalized copy, over `datanodes`. */
async function holders(datanodes: ClusterDatanode[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  for (const dn of datanodes) {
    for (const blockId of await blocksOn(dn)) map.set(blockId, [...(map.get(blockId) ?? []), dn.id]);
  }
  return map;
}

async function readAll(path: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of await client.openFile(path)) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

/** Block ids a datanode copied on an FMS's command, in the order its log says. */
async function copiesBy(dn: ClusterDatanode): Promise<string[]> {
  const lines = await cluster.logLines(dn.log, 'as fms-0 asked');
  return lines.flatMap((line) => /^copying (\S+) to /.exec(String((JSON.parse(line) as { msg?: unknown }).msg))?.[1] ?? []);
}

const blockFile = (dn: ClusterDatanode, blockId: string): string => join(dn.dir, 'finalized', blockId);

test('a replica corrupted on disk: reads succeed from the good ones, and the FMS replaces it with a good copy', async () => {
  const data = randomBytes(300_000);
  await client.writeFile('/corrupt/a', data, { replication: REPLICATION });
  const before = await holders(cluster.datanodes);
  const [blockId, onDisk] = [...before].find(([, ids]) => ids.length === REPLICATION)!;
  assert.ok(blockId, 'the block is on three datanodes');
  const victim = cluster.datanodes.find((dn) => dn.id === onDisk[0])!;
  const spare = cluster.datanodes.find((dn) => !onDisk.includes(dn.id))!;

  // Flip 16 bytes in the middle of the victim's block file (its checksums stay as they were).
  const handle = await open(blockFile(victim, blockId), 'r+');
  try {
    const bytes = Buffer.alloc(16);
    await handle.read(bytes, 0, 16, 100_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
    await handle.write(bytes, 0, 16, 100_000);
  } finally {
    await handle.close();
  }

  // Readers pick a replica at random: read until one of them met the corrupt copy (each read
  // must still return the file's bytes). 40 reads all missing it: (2/3)^40 < 1e-7.
  let reads = 0;
  for (; reads < 40 && (await cluster.status(fms)).corruptReplicasReported === 0; reads++) {
    assert.deepEqual(await readAll('/corrupt/a'), data, `read ${reads + 1} returned the file's bytes`);
  }
  assert.equal((await cluster.status(fms)).corruptReplicasReported, 1, `a read reported the corrupt replica (after ${reads} reads)`);
  await waitFor('the FMS log names the corrupt replica', async () => (await cluster.logLines(fms.log, `corrupt replica of ${blockId} on ${victim.id} reported`)).length === 1, 5_000, 50);

  // Replaced: deleted on the victim, copied to the spare from a good replica.
  await waitFor(`${blockId} deleted on ${victim.id} and copied to ${spare.id}`, async () => {
    const now = await holders(cluster.datanodes);
    return !now.get(blockId)!.includes(victim.id) && now.get(blockId)!.includes(spare.id) && now.get(blockId)!.length === REPLICATION;
  }, 30_000, 100);
  assert.deepEqual(await readFile(blockFile(spare, blockId)), data, 'the new copy holds the good bytes');
  await waitFor('the corrupt mark gone with the deleted replica', async () => (await cluster.status(fms)).corruptReplicas === 0, 10_000, 100);
  assert.deepEqual(await readAll('/corrupt/a'), data);
});

test('a datanode killed with SIGKILL: its blocks are copied onto the others until each has its replication again; back, the extras are trimmed', async () => {
  // 8 files of 3 blocks of 256 KiB: 24 blocks, each on 3 of the 4 datanodes.
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 8; i++) {
    const data = randomBytes(3 * 256 * 1024);
    await client.writeFile(`/dead/f${i}`, data, { replication: REPLICATION, blockSize: 256 * 1024 });
    files.set(`/dead/f${i}`, data);
  }
  const everyBlock = await holders(cluster.datanodes);
  for (const [blockId, ids] of everyBlock) assert.equal(ids.length, REPLICATION, `${blockId} on three datanodes`);
  // The datanode holding the most blocks dies.
  const counts = await Promise.all(cluster.datanodes.map(async (dn) => [dn, (await blocksOn(dn)).length] as const));
  const [victim, lost] = counts.sort((a, b) => b[1] - a[1])[0]!;
  const survivors = cluster.datanodes.filter((dn) => dn !== victim);
  const copiesBefore = await Promise.all(survivors.map(async (dn) => (await copiesBy(dn)).length));
  await victim.process.kill9();

  // Every block is back on three live datanodes: with three survivors, on each of them.
  await waitFor(`the ${lost} blocks of ${victim.id} copied onto the survivors`, async () => {
    const now = await holders(survivors);
    return [...everyBlock.keys()].every((blockId) => now.get(blockId)?.length === REPLICATION);
  }, 45_000, 200);
  const deaths = await cluster.logLines(fms.log, `${victim.id} is dead`);
  assert.equal(deaths.length, 1, 'the FMS says once that the datanode died');
  assert.match(deaths[0]!, /ZooKeeper node is gone/, 'noticed through ZooKeeper, long before the 60 s heartbeat deadline');
  // Each lost block was copied once (the FMS keeps scheduled copies pending), by a survivor that had it.
  const copies = (await Promise.all(survivors.map(copiesBy))).flatMap((all, i) => all.slice(copiesBefore[i]));
  const victimBlocks = [...everyBlock].filter(([, ids]) => ids.includes(victim.id)).map(([blockId]) => blockId);
  assert.deepEqual(copies.sort(), victimBlocks.sort(), 'one copy per block the dead datanode held, none twice');
  for (const [path, data] of files) assert.deepEqual(await readAll(path), data, `${path} reads back whole`);

  // Restarted on the same disk, it reports its old replicas; four copies are one too many.
  await waitFor(`${victim.id}'s ZooKeeper node gone`, async () => (await (await cluster.coordinator()).get(`/datanodes/${victim.id}`)) === null, 15_000, 100);
  await cluster.startDatanode(victim.id);
  await waitFor('every block trimmed back to three replicas', async () => {
    const now = await holders(cluster.datanodes);
    return [...everyBlock.keys()].every((blockId) => now.get(blockId)?.length === REPLICATION);
  }, 30_000, 200);
  for (const [path, data] of files) assert.deepEqual(await readAll(path), data, `${path} still reads back whole`);
});
