// A 3-server ZooKeeper ensemble losing one server keeps serving reads and writes: the
// client fails over to another server in its connect string, in the same session. And a
// server that cannot start says why.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { fourLetterWord, serverMode, startZooKeeper, type ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import type { Coordinator } from '../../src/election/coordinator.js';
import { connectZooKeeper } from '../../src/election/zk-coordinator.js';
import { TandemError } from '../../src/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';
import { recordEvents, testZooKeeper, waitFor, waitForEvent } from '../helpers/zookeeper.js';

/** Index of the running server holding the session's connection (from its `cons`), or -1. */
async function serverOf(zk: ZooKeeperServer, sessionId: string): Promise<number> {
  for (const [index, member] of zk.members.entries()) {
    if (member.pid === null) continue;
    if ((await fourLetterWord(member.clientPort, 'cons')).includes(`sid=${sessionId},`)) return index;
  }
  return -1;
}

/** Retries a call that fails with COORDINATOR_UNAVAILABLE (a leader election), a bounded number of times. */
async function whileElecting<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof TandemError && err.code === 'COORDINATOR_UNAVAILABLE') || attempt >= 5) throw err;
    }
  }
}

test('a 3-server ensemble keeps serving when a server goes, and the client fails over', { timeout: 120_000 }, async (t) => {
  const zk = await testZooKeeper({ servers: 3 });
  assert.equal(zk.pids.length, 3);
  assert.equal(zk.connect.split(',').length, 3);
  const sessions: Coordinator[] = [];
  t.after(async () => {
    for (const session of sessions) await session.close();
  });
  const connect = async () => {
    const session = await connectZooKeeper({
      address: { connect: zk.connect, chroot: '/tandem/ensemble' },
      sessionTimeoutMs: 6_000,
      auth: { user: 'tandem', password: 'ensemble-secret' },
      log: silentLogger(),
    });
    sessions.push(session);
    return session;
  };
  const [a, b] = [await connect(), await connect()];
  await a.create('/member', 'm1', 'ephemeral');
  await a.create('/epoch', 1, 'persistent');
  const events = recordEvents(a);

  // Crash the server this session talks to.
  const first = await serverOf(zk, a.sessionId);
  assert.notEqual(first, -1, 'the session is on one of the servers');
  await zk.kill(first);
  await waitForEvent(events, 'connected', 20_000);
  assert.deepEqual(events, ['disconnected', 'connected']);
  const second = await serverOf(zk, a.sessionId);
  assert.ok(second !== -1 && second !== first, `the session moved from server ${first} to another (now ${second})`);
  assert.equal(await a.set('/epoch', 2, 0), 1);
  await waitFor('the other session to read epoch 2', async () => (await b.get('/epoch'))?.data === 2, 10_000);
  assert.equal((await b.get('/member'))!.ephemeralOwner, a.sessionId);

  // The crashed server comes back and catches up.
  await zk.start(first);
  assert.match((await serverMode(zk.members[first]!.clientPort)) ?? 'not serving', /^(leader|follower)$/);

  // Losing the leader: the two others elect a new one and the writes go on.
  const modes = await Promise.all(zk.members.map((m) => serverMode(m.clientPort)));
  const leader = modes.indexOf('leader');
  assert.notEqual(leader, -1, `modes: ${modes.join(', ')}`);
  await zk.stop(leader);
  assert.equal(await whileElecting(() => a.set('/epoch', 3, 1)), 2);
  // b's server may not have applied a's write yet: ZooKeeper orders one session's view, it
  // does not make another session's reads linearizable (that would take a sync). It must
  // see it soon.
  await waitFor('the other session to read epoch 3', async () => (await whileElecting(() => b.get('/epoch')))?.data === 3, 10_000);
  assert.equal((await whileElecting(() => b.get('/member')))!.ephemeralOwner, a.sessionId);
  assert.equal(zk.pids.length, 2);
});

test('a server that cannot bind its port fails to start, with the reason from its log', { timeout: 60_000 }, async (t) => {
  // It hangs up on whoever connects (the readiness probe will), so that it can close.
  const squatter = net.createServer((socket) => socket.destroy()).listen(0, '127.0.0.1');
  await once(squatter, 'listening');
  t.after(() => new Promise((resolve) => squatter.close(resolve)));
  const port = (squatter.address() as net.AddressInfo).port;
  await assert.rejects(
    startZooKeeper({ dir: await tempDir(), port, tickTimeMs: 500 }),
    (err: Error) => /ZooKeeper server 1 \(port \d+, config .*zoo\.cfg\) exited before serving/.test(err.message) && /Address already in use/.test(err.message),
  );
});
