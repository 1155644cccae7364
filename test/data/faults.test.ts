// The client data path surviving datanode deaths, against real processes (issue 4, "Must
// show"): a datanode SIGKILLed in the middle of a write — with a spare datanode the block is
// rebuilt on a replacement (fms.updatePipeline, the acknowledged prefix copied from a
// survivor, the unacknowledged bytes resent) and keeps its three replicas; without one the
// write finishes on the survivors — and a datanode SIGKILLed in the middle of a read, which
// goes on from another replica at the byte where it stopped. Every replica is read back on
// its own and compared with what was written.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { readBlock } from '../../src/datanode/transfer-client.js';
import { DataCluster, type ClusterDatanode } from '../helpers/data-cluster.js';
import { content, digest, faultAt, holdsFinalized } from '../helpers/data-files.js';
import { waitFor } from '../helpers/zookeeper.js';

const MiB = 1024 * 1024;
const BLOCK_BYTES = 32 * MiB;

let cluster: DataCluster;
let client: TandemClient;

before(async () => {
  cluster = await DataCluster.start({ fmsShards: 1, fmsMembers: 1, datanodes: 4 });
  client = cluster.client();
  await liveDatanodes(4);
});
after(async () => {
  client?.close();
  await cluster?.stop();
});

/** Waits until the FMS active counts `count` live datanodes (a killed one is dead after the heartbeat deadline). */
async function liveDatanodes(count: number, of = cluster): Promise<void> {
  await waitFor(`${count} live datanodes at the FMS active`, async () => {
    const active = await of.active('fms-0');
    return active !== null && (await of.status(active)).liveDatanodes === count;
  }, 20_000, 100);
}

function datanode(id: string, of = cluster): ClusterDatanode {
  const found = of.datanodes.find((d) => d.id === id);
  assert.ok(found, `datanode ${id} is one of the cluster's`);
  return found;
}

/**
 * Every block of `path` has exactly `replicas` finalized replicas on live datanodes, none on
 * `dead`, and each one, read on its own from its datanode, is the bytes written there.
 */
async function checkReplicas(path: string, whole: Buffer, replicas: number, dead: string[], of = cluster, by = client): Promise<void> {
  const file = await by.getBlockLocations(path);
  assert.equal(file.length, whole.length);
  for (const block of file.blocks) {
    const holders = block.locations.map((l) => l.id);
    assert.equal(holders.length, replicas, `block ${block.blockId} has ${replicas} replicas (has ${holders.join(', ')})`);
    for (const id of dead) assert.ok(!holders.includes(id), `block ${block.blockId} is not placed on dead ${id}`);
    const expected = createHash('sha256').update(whole.subarray(block.offset, block.offset + block.length)).digest('hex');
    for (const location of block.locations) {
      assert.ok(await holdsFinalized(datanode(location.id, of).dir, block.blockId, block.genStamp), `${location.id} holds ${block.blockId} finalized at genStamp ${block.genStamp}`);
      const got = await digest(Readable.from(readBlock(location.data, block.blockId, block.genStamp, 0, block.length)));
      assert.equal(got.bytes, block.length, `${location.id}'s replica of ${block.blockId} has the block's length`);
      assert.equal(got.sha256, expected, `${location.id}'s replica of ${block.blockId} holds the bytes written`);
    }
  }
}

test('a datanode killed mid-write: the pipeline is rebuilt on a spare, the block keeps 3 replicas and the file reads back identical', async () => {
  const size = 2 * BLOCK_BYTES + 3 * MiB + 12_345; // the last block ends mid-chunk
  const { pieces, sha256 } = content(size);
  const writer = await client.createFile('/faults/write-spare', { replication: 3, blockSize: BLOCK_BYTES });
  // 20 MiB into the second block: more than the pipeline's window (16 packets of 1 MiB) is
  // taken, so part of the block is acknowledged (copied to the replacement) and part is not (resent).
  let victim: string | null = null;
  let pipelineAtKill: string[] = [];
  const fault = faultAt(pieces, () => writer.bytesWritten, BLOCK_BYTES + 20 * MiB, () => {
    pipelineAtKill = writer.pipeline;
    victim = pipelineAtKill[1]!; // the middle of the pipeline: its upstream reports it
    return datanode(victim).process.kill9();
  });
  await pipeline(Readable.from(fault.source), writer);
  assert.ok(fault.fired() && victim !== null, 'a datanode was killed during the write');
  assert.equal(pipelineAtKill.length, 3);
  assert.equal(writer.length, size);
  assert.equal((await client.getFileInfo('/faults/write-spare'))?.length, size, 'the namespace has the whole length');

  const read = await digest(await client.openFile('/faults/write-spare'));
  assert.equal(read.bytes, size);
  assert.equal(read.sha256, sha256, 'the file reads back byte-identical');

  // The block written when the node died: the two survivors and a replacement hold it, at once.
  const whole = Buffer.concat(pieces);
  const spare = cluster.datanodes.map((d) => d.id).find((id) => !pipelineAtKill.includes(id))!;
  const file = await client.getBlockLocations('/faults/write-spare');
  const hit = file.blocks[1]!;
  await waitFor('the rebuilt block reported by its three replicas', async () => {
    const located = (await client.getBlockLocations('/faults/write-spare')).blocks[1]!.locations.map((l) => l.id);
    return located.length === 3 && located.includes(spare);
  }, 10_000, 50);
  // A survivor — the head of the new pipeline, normally the old head; under load the writer
  // may have judged the head slow too and rebuilt from the other one — copied the
  // acknowledged prefix to the spare.
  const survivors = pipelineAtKill.filter((id) => id !== victim);
  const copied = (await Promise.all(survivors.map(async (id) => (await cluster.logLines(datanode(id).log, `copied ${hit.blockId}`)).join('\n')))).join('\n');
  assert.match(copied, new RegExp(`to ${spare}`), `a survivor (${survivors.join(', ')}) copied the acknowledged prefix of ${hit.blockId} to ${spare}`);

  // Blocks finished before the kill that had a replica on it are re-replicated once the FMS
  // declares it dead; then every block has three good replicas, none on the dead node.
  await liveDatanodes(3);
  let seen = 'nothing yet';
  try {
    await waitFor('every block with three live replicas', async () => {
      const blocks = (await client.getBlockLocations('/faults/write-spare')).blocks;
      seen = blocks.map((b) => `${b.blockId}@${b.genStamp}: [${b.locations.map((l) => l.id).join(', ')}]`).join('; ');
      return blocks.every((b) => b.locations.length === 3 && !b.locations.some((l) => l.id === victim));
    }, 30_000, 200);
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${victim} was killed, the last locations seen: ${seen} (logs in ${cluster.base})`, { cause: err });
  }
  await checkReplicas('/faults/write-spare', whole, 3, [victim!]);
});

test('a datanode killed mid-write with no spare left: the write finishes on the survivors', async () => {
  await liveDatanodes(3);
  const size = BLOCK_BYTES + 5 * MiB;
  const { pieces, sha256 } = content(size);
  const writer = await client.createFile('/faults/write-no-spare', { replication: 3, blockSize: BLOCK_BYTES });
  let victim: string | null = null;
  let pipelineAtKill: string[] = [];
  const fault = faultAt(pieces, () => writer.bytesWritten, 20 * MiB, () => {
    pipelineAtKill = writer.pipeline;
    victim = pipelineAtKill[0]!; // the head: the writer's own connection is lost
    return datanode(victim).process.kill9();
  });
  await pipeline(Readable.from(fault.source), writer);
  assert.ok(fault.fired() && victim !== null, 'a datanode was killed during the write');
  assert.equal(pipelineAtKill.length, 3, 'the block started with three datanodes');
  assert.equal(writer.length, size);
  assert.equal((await client.getFileInfo('/faults/write-no-spare'))?.length, size);

  const read = await digest(await client.openFile('/faults/write-no-spare'));
  assert.equal(read.bytes, size);
  assert.equal(read.sha256, sha256, 'the file reads back byte-identical');

  // Two datanodes are left: every block is on both, whole, and on nothing else.
  await liveDatanodes(2);
  await waitFor('every block reported by both survivors', async () => {
    const blocks = (await client.getBlockLocations('/faults/write-no-spare')).blocks;
    return blocks.every((b) => b.locations.length === 2);
  }, 10_000, 100);
  await checkReplicas('/faults/write-no-spare', Buffer.concat(pieces), 2, [victim!]);
});

test('a datanode killed mid-read: the read goes on from another replica at the byte where it stopped', async () => {
  await liveDatanodes(2);
  const size = BLOCK_BYTES + 7 * MiB;
  const { pieces, sha256 } = content(size);
  await pipeline(Readable.from(pieces), await client.createFile('/faults/read', { replication: 2, blockSize: BLOCK_BYTES }));
  await waitFor('both replicas of every block reported', async () => {
    const blocks = (await client.getBlockLocations('/faults/read')).blocks;
    return blocks.every((b) => b.locations.length === 2);
  }, 10_000, 100);

  const served: { block: string; datanode: string; offset: number }[] = [];
  const failed: { block: string; datanode: string; error: string }[] = [];
  const stream = await client.openFile('/faults/read', {
    onReplica: (block, datanode, offset) => served.push({ block, datanode, offset }),
    onReplicaError: (block, datanode, error) => failed.push({ block, datanode, error: error.message }),
  });
  const hash = createHash('sha256');
  let read = 0;
  let victim: string | null = null;
  for await (const piece of stream) {
    hash.update(piece as Buffer);
    read += (piece as Buffer).length;
    if (victim === null && read >= 4 * MiB) {
      // The consumer pauses here, with the first block's replica in the middle of sending.
      victim = served[0]!.datanode;
      await datanode(victim).process.kill9();
    }
  }
  assert.equal(read, size);
  assert.equal(hash.digest('hex'), sha256, 'the bytes read are the bytes written');

  const first = served[0]!;
  assert.equal(first.offset, 0);
  assert.deepEqual(failed.map((f) => [f.block, f.datanode]), [[first.block, victim]], `only the killed replica failed: ${JSON.stringify(failed)}`);
  const resumed = served[1]!;
  assert.equal(resumed.block, first.block, 'the same block went on');
  assert.notEqual(resumed.datanode, victim, 'from the other replica');
  assert.ok(resumed.offset >= 4 * MiB && resumed.offset < BLOCK_BYTES, `from the byte where the first stopped, in the middle of the block (${resumed.offset})`);
});

test('two datanodes killed at once mid-write, a pipeline member and the only spare: the copy to the spare fails, the write finishes on the survivors', async () => {
  // A cluster of its own: the FMS must still believe the spare alive when it picks it.
  const small = await DataCluster.start({ fmsShards: 1, fmsMembers: 1, datanodes: 4 });
  const smallClient = small.client();
  try {
    await liveDatanodes(4, small);
    const size = BLOCK_BYTES + 5 * MiB;
    const { pieces, sha256 } = content(size);
    const writer = await smallClient.createFile('/faults/two-down', { replication: 3, blockSize: BLOCK_BYTES });
    let pipelineAtKill: string[] = [];
    let victims: string[] = [];
    const fault = faultAt(pieces, () => writer.bytesWritten, 20 * MiB, () => {
      pipelineAtKill = writer.pipeline;
      const spare = small.datanodes.map((d) => d.id).find((id) => !pipelineAtKill.includes(id))!;
      victims = [pipelineAtKill[1]!, spare];
      return Promise.all(victims.map((id) => datanode(id, small).process.kill9()));
    });
    await pipeline(Readable.from(fault.source), writer);
    assert.ok(fault.fired() && victims.length === 2, 'two datanodes were killed during the write');
    assert.equal(writer.length, size);

    const read = await digest(await smallClient.openFile('/faults/two-down'));
    assert.equal(read.sha256, sha256, 'the file reads back byte-identical');
    // The head of the pipeline was asked to copy the acknowledged prefix to the dead spare.
    const blockId = (await smallClient.getBlockLocations('/faults/two-down')).blocks[0]!.blockId;
    const source = datanode(pipelineAtKill[0]!, small);
    assert.ok((await small.logLines(source.log, `copy of ${blockId} failed`)).length > 0, `${source.id} tried to copy ${blockId} to the dead spare`);

    await liveDatanodes(2, small);
    await waitFor('every block reported by both survivors', async () => {
      const blocks = (await smallClient.getBlockLocations('/faults/two-down')).blocks;
      return blocks.every((b) => b.locations.length === 2);
    }, 10_000, 100);
    await checkReplicas('/faults/two-down', Buffer.concat(pieces), 2, victims, small, smallClient);
  } finally {
    smallClient.close();
    await small.stop();
  }
});
