// A writer that dies leaves its file open; once its lease runs out the cluster closes it on
// both sides: the FMS at the length its replicas agree on, then the namespace (which asks
// the FMS about files open longer than the lease limit). Real processes, a 2 s lease limit.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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

test('a writer that died in the middle of its second block: FMS recovers the lease and both sides close the file', async () => {
  const blockSize = 1 << 20;
  const first = randomBytes(blockSize);
  const writer = await client.createFile('/leases/c', { replication: 3, blockSize });
  await new Promise<void>((resolve, reject) => writer.write(first, (err) => (err ? reject(err) : resolve())));
  // The first block is finished when the writer moves on to the second one.
  await new Promise<void>((resolve, reject) => writer.write(randomBytes(300_000), (err) => (err ? reject(err) : resolve())));
  writer.destroy(); // no close, no more lease renewals
  await closedInNamespace('/leases/c');
  const info = await client.getFileInfo('/leases/c');
  // The first block is whole; of the second, only what its replicas agreed on and reported.
  assert.ok(info!.length >= blockSize && info!.length <= blockSize + 300_000, `length ${info!.length}`);
  const back = await readAll('/leases/c');
  assert.equal(back.length, info!.length);
  assert.deepEqual(back.subarray(0, blockSize), first);
});
