// A copy that fails is reported and scheduled again at once, against real processes
// (ZooKeeper, NS, one FMS, two datanodes). The FMS's pending timeout is 10 minutes here, so
// the block can reach its replication within the test's waits only through the datanode's
// report: the target refuses the copy (every transfer slot it has is taken by idle
// connections the test holds open) while it heartbeats on, so the FMS never counts it dead.
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { DATANODES_PATH } from '../../src/election/layout.js';
import { DEFAULT_DATANODE_CONFIG } from '../../src/datanode/config.js';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { parseHostPort } from '../../src/util/address.js';
import { useDataCluster, type DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

let cluster: DataCluster;
let client: TandemClient;

const PENDING_REPLICATION_TIMEOUT_MS = 10 * 60_000;

useDataCluster({ fmsShards: 1, fmsMembers: 1, datanodes: 2, pendingReplicationTimeoutMs: PENDING_REPLICATION_TIMEOUT_MS }, (itsCluster, itsClient) => {
  cluster = itsCluster;
  client = itsClient;
});

/** Opens a TCP connection to `address`; resolves once connected. */
function connect(address: string): Promise<net.Socket> {
  const { host, port } = parseHostPort(address);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with what the datanode sent before it closed a connection that sent nothing (within 5 s). */
function answerOfIdleConnection(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('the datanode kept the connection open: it was not refused')), 5_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

test('a copy the target refuses is reported by its source and made again at once, long before the pending timeout', async () => {
  const data = randomBytes(100_000);
  const writer = await client.createFile('/copy/f', { replication: 1, blockSize: 128 * 1024 });
  await pipeline(Readable.from([data]), writer);
  const locations = async (): Promise<string[]> => (await client.getBlockLocations('/copy/f')).blocks[0]!.locations.map((l) => l.id);
  await waitFor('the block reported by its one replica', async () => (await locations()).length === 1, 30_000, 100);
  const [blockId] = (await client.getBlockLocations('/copy/f')).blocks.map((b) => b.blockId) as [string];
  const [source] = (await locations()) as [string];
  const target = source === 'dn1' ? 'dn2' : 'dn1';
  const sourceLog = cluster.datanodes.find((d) => d.id === source)!.log;
  const fmsLog = cluster.members.find((m) => m.shard === 'fms-0')!.log;

  // Every transfer slot of the target taken: it refuses any copy, and heartbeats on.
  const targetData = (await (await cluster.coordinator()).get<{ data: string }>(`${DATANODES_PATH}/${target}`))!.data.data;
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < DEFAULT_DATANODE_CONFIG.transfersMax; i++) held.push(await connect(targetData));
    const probe = await connect(targetData);
    assert.match((await answerOfIdleConnection(probe)).toString('latin1'), /TOO_MANY_IN_FLIGHT/, 'the target is full');

    assert.equal(await client.setReplication('/copy/f', 2), true);
    // Refused, reported, scheduled again, refused again: each round is a new copy, not the 10 min wait.
    await waitFor(
      `${source} to try the copy to ${target} twice, the FMS scheduling it again after a reported failure`,
      async () =>
        (await cluster.logLines(sourceLog, `copying ${blockId} to ${target}`)).length >= 2 &&
        (await cluster.logLines(fmsLog, `could not make 1 copies: ${blockId} → ${target}`)).some((line) => line.includes('1 of them scheduled again at once')),
      25_000,
      200,
    );
    const refused = await cluster.logLines(sourceLog, `copy of ${blockId} to ${target} did not land`);
    assert.ok(refused.length >= 1 && refused.every((line) => line.includes(`fms-0/m1 hears of it in the next heartbeat`)), refused.join('\n'));
    assert.deepEqual(await locations(), [source], 'nothing landed while the target refused');
  } finally {
    for (const socket of held) socket.destroy();
  }

  // The target takes copies again: the next round lands it.
  await waitFor(`${blockId} on both datanodes`, async () => (await locations()).length === 2, 60_000, 200);
  assert.deepEqual((await locations()).sort(), ['dn1', 'dn2']);
  const read: Buffer[] = [];
  for await (const piece of await client.openFile('/copy/f')) read.push(piece as Buffer);
  assert.ok(Buffer.concat(read).equals(data));
});
