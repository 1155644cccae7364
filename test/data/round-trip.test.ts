// The data path end to end against real processes: NS.create → FMS.addBlock → a pipeline of
// three datanodes → FMS.complete → NS.complete, then the bytes read back; and a delete that
// frees the replicas on the datanodes only once the namespace and the FMS agreed.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { finalizedBlockIds, useDataCluster, type DataCluster } from '../helpers/data-cluster.js';
import { content } from '../helpers/data-files.js';
import { waitFor } from '../helpers/zookeeper.js';

let cluster: DataCluster;
let client: TandemClient;

useDataCluster({ fmsShards: 2, fmsMembers: 1, datanodes: 3 }, (started, itsClient) => {
  cluster = started;
  client = itsClient;
});

test('a 100 MiB file with replication 3 is written and read back byte-identical', async () => {
  const size = 100 * 1024 * 1024;
  const { pieces, sha256 } = content(size);
  const writer = await client.createFile('/big/file', { replication: 3, blockSize: 32 * 1024 * 1024 });
  await pipeline(Readable.from(pieces), writer);
  assert.equal(writer.length, size);

  const info = await client.getFileInfo('/big/file');
  assert.equal(info?.length, size, 'NS has the length FMS closed the file with');

  const hash = createHash('sha256');
  let read = 0;
  for await (const piece of await client.openFile('/big/file')) {
    hash.update(piece as Buffer);
    read += (piece as Buffer).length;
  }
  assert.equal(read, size);
  assert.equal(hash.digest('hex'), sha256);

  // Four blocks of 32 MiB, each on all three datanodes.
  for (const dn of cluster.datanodes) assert.equal((await finalizedBlockIds(dn.dir)).length, 4, `${dn.id} holds every block`);

  // A range read from the middle, across a block boundary.
  const offset = 32 * 1024 * 1024 - 1000;
  const chunks: Buffer[] = [];
  for await (const piece of await client.openFile('/big/file', { offset, length: 5000 })) chunks.push(piece as Buffer);
  const whole = Buffer.concat(pieces);
  assert.deepEqual(Buffer.concat(chunks), whole.subarray(offset, offset + 5000));
});

test('an empty file is complete in NS without ever reaching the FMS, and reads as nothing', async () => {
  await client.writeFile('/empty', Buffer.alloc(0));
  const info = await client.getFileInfo('/empty');
  assert.equal(info?.length, 0);
  const chunks: Buffer[] = [];
  for await (const piece of await client.openFile('/empty')) chunks.push(piece as Buffer);
  assert.equal(Buffer.concat(chunks).length, 0);
});

test('a delete frees the replicas on the datanodes, after NS and FMS both agreed', async () => {
  await client.writeFile('/gone/a', randomBytes(300_000), { replication: 3 });
  const before = await Promise.all(cluster.datanodes.map((dn) => finalizedBlockIds(dn.dir)));
  assert.ok(await client.delete('/gone/a'));
  assert.equal(await client.getFileInfo('/gone/a'), null);
  await waitFor('the replicas of /gone/a deleted on every datanode', async () => {
    const now = await Promise.all(cluster.datanodes.map((dn) => finalizedBlockIds(dn.dir)));
    return now.every((files, i) => files.length === before[i]!.length - 1);
  }, 20_000, 100);
  // The namespace's pending-delete queue is empty again: FMS acknowledged.
  const ns = await cluster.active('ns');
  await waitFor('the pending-delete queue drained', async () => (await cluster.status(ns!)).pendingDeletes === 0, 10_000, 100);
});

test('while the file\'s FMS shard is down, a delete removes the name but no byte; the replicas go once the shard is back and agreed', async () => {
  await client.writeFile('/held/a', randomBytes(200_000), { replication: 3 });
  const info = (await client.getFileInfo('/held/a'))!;
  const blockIds = (await client.getBlockLocations('/held/a')).blocks.map((b) => b.blockId);
  const shard = cluster.poolMap.shards[info.pool % cluster.poolMap.shards.length]!;
  const member = (await cluster.active(shard))!;
  await member.process.kill9();

  assert.ok(await client.delete('/held/a'));
  assert.equal(await client.getFileInfo('/held/a'), null, 'the name is gone at once');
  const ns = (await cluster.active('ns'))!;
  // Several delivery rounds fail meanwhile: the file waits in the queue, its replicas stay.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.ok(((await cluster.status(ns)).pendingDeletes as number) >= 1, 'the delete waits in the namespace queue');
  for (const dn of cluster.datanodes) {
    const held = await finalizedBlockIds(dn.dir);
    for (const blockId of blockIds) assert.ok(held.includes(blockId), `${dn.id} still holds ${blockId}`);
  }

  await cluster.startMember(shard, member.name);
  await waitFor('the namespace queue drained', async () => (await cluster.status(ns)).pendingDeletes === 0, 30_000, 100);
  await waitFor('the replicas deleted on every datanode', async () => {
    for (const dn of cluster.datanodes) {
      const held = await finalizedBlockIds(dn.dir);
      if (blockIds.some((blockId) => held.includes(blockId))) return false;
    }
    return true;
  }, 30_000, 100);
});
