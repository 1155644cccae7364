// append and truncate across an FMS failover, against real processes (NS, one FMS shard of
// an active and a standby, three datanodes; no monitor, so a failover waits for the dead
// member's 2 s session to expire). The FMS ops are journaled and replicated before they are
// answered, so the standby that takes over knows the appender's lease and the truncate in
// progress: the append goes on with the new active, and the new active finishes the
// truncate its predecessor began (the file's `truncating` flag is journaled state).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

const BLOCK = 128 * 1024;

let cluster: DataCluster;
let client: TandemClient;

before(async () => {
  cluster = await DataCluster.start({ fmsShards: 1, fmsMembers: 2, datanodes: 3, sessionTimeoutMs: 2_000 });
  // The deadline of every call outlasts a failover (session expiry, election, safe mode).
  client = cluster.client('root', 60_000);
  await cluster.waitForDatanodesHeardByMembers('fms-0');
});
after(async () => {
  client?.close();
  await cluster?.stop();
});

async function readAll(path: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of await client.openFile(path)) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

async function write(path: string, data: Buffer): Promise<void> {
  const writer = await client.createFile(path, { replication: 3, blockSize: BLOCK });
  await pipeline(Readable.from([data]), writer);
}

test('the FMS active killed after an append opened the file: the appender writes on through the new active', async () => {
  const first = randomBytes(BLOCK + 10_000);
  const second = randomBytes(BLOCK + 20_000);
  await write('/failover/append', first);
  const writer = await client.appendFile('/failover/append');
  const killed = await cluster.waitForActive('fms-0');
  await killed.process.kill9();
  await pipeline(Readable.from([second]), writer);
  const now = await cluster.waitForActive('fms-0', killed);
  assert.notEqual(now.name, killed.name);
  assert.equal(writer.length, first.length + second.length);
  assert.equal((await client.getFileInfo('/failover/append'))?.length, first.length + second.length);
  assert.ok((await readAll('/failover/append')).equals(Buffer.concat([first, second])));
  // The killed member comes back as a standby, for the next test.
  await cluster.startMember('fms-0', killed.name);
});

test('the FMS active killed right after a truncate inside a block: the new active finishes it', async () => {
  const data = randomBytes(2 * BLOCK + 5_000);
  await write('/failover/truncate', data);
  const active = await cluster.waitForActive('fms-0');
  // The member restarted by the previous test must be in sync (and hear the datanodes) to take over.
  await waitFor('both FMS members in the in-sync set', async () => ((await cluster.status(active)).ha as { isr?: string[] } | undefined)?.isr?.length === 2, 30_000, 100);
  await cluster.waitForDatanodesHeardByMembers('fms-0', 3, 30_000);
  const killed = await cluster.waitForActive('fms-0');
  const cut = BLOCK + 12_345;
  assert.equal(await client.truncate('/failover/truncate', cut), false);
  await killed.process.kill9();
  await cluster.waitForActive('fms-0', killed);
  await waitFor('the truncated file to close', async () => (await client.getFileInfo('/failover/truncate'))?.underConstruction === false, 60_000, 200);
  assert.equal((await client.getFileInfo('/failover/truncate'))?.length, cut);
  assert.ok((await readAll('/failover/truncate')).equals(data.subarray(0, cut)));
});
