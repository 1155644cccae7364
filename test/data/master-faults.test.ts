// The client data path surviving metadata-master deaths, against real processes (issue 4,
// "Must show"): the FMS active SIGKILLed in the middle of a write — the writer's calls
// (addBlock, complete, lease renewals) go to the standby once ZooKeeper names it active,
// retried with the same callId — and the namespace active SIGKILLed in the middle of a
// write, with a create sent while no namespace active exists. Each write completes, with
// the right length in NS and FMS, no block lost or added twice, and reads back identical.
// And the retry cache across a failover, deterministically: a call sent again after the
// active that answered it died gets the same answer from the new active.
// No monitor runs here: a failover waits for the dead member's session to expire (2 s).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { ZooKeeperResolver } from '../../src/client/zk-resolver.js';
import type { PipelineAnswer } from '../../src/filemeta/ops.js';
import { DataCluster } from '../helpers/data-cluster.js';
import { content, digest, faultAt } from '../helpers/data-files.js';
import { waitFor } from '../helpers/zookeeper.js';

const MiB = 1024 * 1024;
const BLOCK_BYTES = 4 * MiB;

let cluster: DataCluster;
let client: TandemClient;

before(async () => {
  cluster = await DataCluster.start({ nsMembers: 2, fmsShards: 1, fmsMembers: 2, datanodes: 3, sessionTimeoutMs: 2_000 });
  // The deadline of every call outlasts a failover (session expiry, election, catch-up).
  client = cluster.client('root', 60_000);
  await cluster.waitForDatanodesHeardByMembers('fms-0');
});
after(async () => {
  client?.close();
  await cluster?.stop();
});

/** The file is complete in NS and FMS with `size` bytes in whole blocks, none twice, and reads back as written. */
async function checkFile(path: string, size: number, sha256: string): Promise<void> {
  assert.equal((await client.getFileInfo(path))?.length, size, `${path} has its length in the namespace`);
  const file = await client.getBlockLocations(path);
  assert.equal(file.length, size, `${path} has its length in its FMS shard`);
  assert.equal(file.blocks.length, Math.ceil(size / BLOCK_BYTES), `${path} has one block per ${BLOCK_BYTES} bytes`);
  assert.equal(new Set(file.blocks.map((b) => b.blockId)).size, file.blocks.length, 'no block twice');
  file.blocks.forEach((block, i) => {
    assert.equal(block.offset, i * BLOCK_BYTES);
    assert.equal(block.length, Math.min(BLOCK_BYTES, size - i * BLOCK_BYTES), `block ${i} is whole`);
  });
  const read = await digest(await client.openFile(path));
  assert.equal(read.bytes, size);
  assert.equal(read.sha256, sha256, `${path} reads back byte-identical`);
}

test('the FMS active killed mid-write: the writer goes on with the new active and the file is complete', async () => {
  const killed = await cluster.waitForActive('fms-0');
  const size = 10 * BLOCK_BYTES + 54_321;
  const { pieces, sha256 } = content(size);
  const writer = await client.createFile('/master-faults/fms', { replication: 3, blockSize: BLOCK_BYTES });
  // In the third block: every addBlock after it, and complete, meet the failover.
  const fault = faultAt(pieces, () => writer.bytesWritten, 2 * BLOCK_BYTES + MiB, () => killed.process.kill9());
  const retriesBefore = client.retries;
  await pipeline(Readable.from(fault.source), writer);
  assert.ok(fault.fired(), 'the FMS active was killed during the write');
  assert.ok(client.retries > retriesBefore, 'the writer met the dead active and retried');
  assert.equal(writer.length, size);

  const now = await cluster.waitForActive('fms-0', killed);
  assert.notEqual(now.name, killed.name, 'the standby took over');
  await checkFile('/master-faults/fms', size, sha256);
});

test('the namespace active killed mid-write: complete, and a create sent meanwhile, go to the new active', async () => {
  const killed = await cluster.waitForActive('ns');
  const size = 4 * BLOCK_BYTES + 777;
  const { pieces, sha256 } = content(size);
  const writer = await client.createFile('/master-faults/ns', { replication: 3, blockSize: BLOCK_BYTES });
  let second: Promise<number> | null = null;
  const other = content(3 * MiB);
  const fault = faultAt(pieces, () => writer.bytesWritten, 2 * BLOCK_BYTES, async () => {
    await killed.process.kill9();
    // With no namespace active yet: its create is retried until the standby takes over.
    second = client.writeFile('/master-faults/ns-second', Buffer.concat(other.pieces), { replication: 3, blockSize: BLOCK_BYTES });
  });
  const retriesBefore = client.retries;
  await pipeline(Readable.from(fault.source), writer);
  assert.ok(fault.fired() && second !== null, 'the namespace active was killed during the write');
  assert.ok(client.retries > retriesBefore, 'calls met the dead active and were retried');
  assert.equal(writer.length, size);
  assert.equal(await second, 3 * MiB);

  const now = await cluster.waitForActive('ns', killed);
  assert.notEqual(now.name, killed.name, 'the standby took over');
  await checkFile('/master-faults/ns', size, sha256);
  await checkFile('/master-faults/ns-second', 3 * MiB, other.sha256);
});

test('an FMS call whose answer was lost with the active is answered again by the new active, from its retry cache', async () => {
  // The member killed in the first test comes back as a standby and catches up.
  const active = await cluster.waitForActive('fms-0');
  const standby = cluster.members.find((m) => m.shard === 'fms-0' && m !== active)!;
  await cluster.startMember('fms-0', standby.name);
  await waitFor('both FMS members in the in-sync set', async () => ((await cluster.status(active)).ha as { isr?: string[] } | undefined)?.isr?.length === 2, 20_000, 100);

  const created = await client.create('/master-faults/retry', { replication: 3, blockSize: BLOCK_BYTES });
  const fms = client.shardCaller('shard fms-0', { resolver: new ZooKeeperResolver(cluster.connect, 'fms-0') });
  try {
    const call = { user: 'root', groups: [], clientId: 'lost-answer-client', callId: 1, fileId: created.fileId, pool: created.pool, replication: 3, blockSize: BLOCK_BYTES, previous: null };
    const first = await fms.call<PipelineAnswer>('fms.addBlock', call);
    // The answer is "lost": the caller sends the same call again, after the active died.
    await active.process.kill9();
    const again = await fms.call<PipelineAnswer>('fms.addBlock', call);
    const now = await cluster.waitForActive('fms-0', active);
    assert.notEqual(now.name, active.name);
    assert.deepEqual(again, first, 'the same block, genStamp and targets: not a second block');
    // The same request with a new callId is a new call, and no longer valid: the cache, not luck, answered.
    await assert.rejects(fms.call('fms.addBlock', { ...call, callId: 2 }), (err: Error & { code?: string }) => err.code === 'INVALID_ARGUMENT');
  } finally {
    fms.close();
  }
});
