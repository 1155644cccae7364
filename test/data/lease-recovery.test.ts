// A writer that dies leaves its file open; once its lease runs out the cluster closes it on
// both sides: the FMS at the length its replicas agree on, then the namespace (which asks
// the FMS about files open longer than the lease limit). Real processes, a 2 s lease limit.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileWriter } from '../../src/client/file-writer.js';
import type { ShardCaller } from '../../src/client/shard-caller.js';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

const LEASE_LIMIT_MS = 2_000;
let cluster: DataCluster;
let client: TandemClient;

before(async () => {
  cluster = await DataCluster.start({ fmsShards: 1, fmsMembers: 1, datanodes: 3, leaseLimitMs: LEASE_LIMIT_MS });
  client = cluster.client();
  await waitFor('three live datanodes', async () => (await cluster.status((await cluster.active('fms-0'))!)).liveDatanodes === 3, 20_000, 100);
});
after(async () => {
  client?.close();
  await cluster?.stop();
});

async function readAll(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const piece of await client.openFile(path)) chunks.push(piece as Buffer);
  return Buffer.concat(chunks);
}

/** The client's caller of fms-0 (made by its first data call). */
function fmsCaller(c: TandemClient): ShardCaller {
  return (c as unknown as { fmsCallers: Map<string, ShardCaller> }).fmsCallers.get('fms-0')!;
}

async function closedInNamespace(path: string): Promise<void> {
  await waitFor(`${path} closed by lease recovery`, async () => (await client.getFileInfo(path))?.underConstruction === false, LEASE_LIMIT_MS * 10, 100);
}

test('a writer that closed its file in FMS and died before NS.complete: NS closes it at the FMS length', async () => {
  await client.writeFile('/warmup', Buffer.from('x')); // makes the client's FMS caller
  const data = randomBytes(200_000);
  const created = await client.create('/leases/a', { replication: 3, blockSize: 1 << 20 });
  const writer = new FileWriter({
    path: '/leases/a',
    fileId: created.fileId,
    pool: created.pool,
    replication: 3,
    blockSize: 1 << 20,
    fms: fmsCaller(client),
    envelope: () => ({ user: 'root', groups: [], clientId: 'dying-writer', callId: Math.floor(Math.random() * 1e9) }),
    completeInNamespace: () => Promise.reject(new Error('the writer died here')),
  });
  await assert.rejects(
    new Promise<void>((resolve, reject) => {
      writer.on('error', reject);
      writer.end(data, (err?: Error | null) => (err ? reject(err) : resolve()));
    }),
    /died here/,
  );
  await closedInNamespace('/leases/a');
  assert.equal((await client.getFileInfo('/leases/a'))?.length, data.length);
  assert.deepEqual(await readAll('/leases/a'), data);
});

test('a writer that died before writing a block: NS closes the file empty', async () => {
  await client.create('/leases/b', { replication: 3 });
  await closedInNamespace('/leases/b');
  assert.equal((await client.getFileInfo('/leases/b'))?.length, 0);
  assert.equal((await readAll('/leases/b')).length, 0);
});

test('a writer that died in the middle of its second block: the datanodes recover what they hold of it, and both sides close the file', async () => {
  const blockSize = 4 << 20;
  const first = randomBytes(blockSize);
  const second = randomBytes(2 << 20); // two whole packets of 1 MiB: they leave the writer at once
  const writer = await client.createFile('/leases/c', { replication: 3, blockSize });
  await new Promise<void>((resolve, reject) => writer.write(first, (err) => (err ? reject(err) : resolve())));
  // The first block is finished when the writer moves on to the second one.
  await new Promise<void>((resolve, reject) => writer.write(second, (err) => (err ? reject(err) : resolve())));
  const [, open] = (await client.getBlockLocations('/leases/c')).blocks;
  assert.ok(open, 'the second block is allocated');
  // Every datanode holds the second block's two packets, unfinalized, before the writer dies.
  await waitFor('the second block held in rbw/ by all three datanodes', async () => {
    const sizes = await Promise.all(cluster.datanodes.map((dn) => stat(join(dn.dir, 'rbw', open.blockId)).then((s) => s.size, () => 0)));
    return sizes.every((size) => size === second.length);
  }, 20_000, 50);
  writer.destroy(); // no close, no more lease renewals
  await closedInNamespace('/leases/c');
  // Block recovery finalized the unfinished block at what the datanodes held: nothing lost.
  const info = await client.getFileInfo('/leases/c');
  assert.equal(info!.length, blockSize + second.length);
  assert.deepEqual(await readAll('/leases/c'), Buffer.concat([first, second]));
  // The file closes at the first finalized report; every datanode finalizes its replica (its own log says so).
  await waitFor('each datanode finalized its replica at the new genStamp', async () => {
    const lines = (await Promise.all(cluster.datanodes.map((dn) => cluster.logLines(dn.log, `recovered ${open.blockId}`)))).flat();
    return lines.length === 3;
  }, 10_000, 100);
});
