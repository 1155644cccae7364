// TandemClient without a cluster: what the clients forUser makes share with their parent
// (the adapter's and the datanode's WebHDFS make one per `user.name`), and what createFile
// refuses before it asks the namespace for anything.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TandemClient } from '../../src/client/tandem-client.js';
import { TandemError } from '../../src/errors.js';
import type { PoolMap } from '../../src/election/pool-map.js';

test('forUser: clients for users read the pool map through their parent, once for all of them', async () => {
  let reads = 0;
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const root = new TandemClient({
    masters: ['127.0.0.1:1'],
    fms: {
      poolMap: async (): Promise<PoolMap> => {
        reads++;
        await gate;
        return { pools: 4, shards: ['fms-0'] };
      },
      target: () => ({ masters: ['127.0.0.1:1'] }),
    },
  });
  try {
    const users = Array.from({ length: 20 }, (_, i) => root.forUser(`u${i}`));
    const maps = users.map((u) => u.pools());
    release();
    for (const map of await Promise.all(maps)) assert.deepEqual(map, { pools: 4, shards: ['fms-0'] });
    assert.deepEqual(await root.forUser('late').pools(), { pools: 4, shards: ['fms-0'] });
    assert.equal(reads, 1, 'one read of the pool map, not one per user');
    assert.equal(users[3]!.user, 'u3');
    assert.notEqual(users[3]!.clientId, root.clientId);
  } finally {
    root.close();
  }
});

test('TandemClient.pools: a failed read is tried again by the next call', async () => {
  let reads = 0;
  const root = new TandemClient({
    masters: ['127.0.0.1:1'],
    fms: {
      poolMap: async (): Promise<PoolMap> => {
        reads++;
        if (reads === 1) throw new Error('ZooKeeper down');
        return { pools: 1, shards: ['fms-0'] };
      },
      target: () => ({ masters: ['127.0.0.1:1'] }),
    },
  });
  try {
    await assert.rejects(root.pools(), /ZooKeeper down/);
    assert.deepEqual(await root.pools(), { pools: 1, shards: ['fms-0'] });
    assert.equal(reads, 2);
  } finally {
    root.close();
  }
});

test('createFile refuses a block size no writer can fill before it creates the file (the namespace takes any positive size)', async () => {
  // Nothing listens there: a createFile that asked the namespace first would fail otherwise (CONNECTION_LOST, then its deadline).
  const client = new TandemClient({ masters: ['127.0.0.1:1'], deadlineMs: 2_000 });
  try {
    await assert.rejects(client.createFile('/f', { blockSize: 1000 }), (err: unknown) => err instanceof TandemError && err.code === 'INVALID_ARGUMENT' && /multiple of/.test(err.message));
  } finally {
    client.close();
  }
});
