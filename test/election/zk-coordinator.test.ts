// What only a real ZooKeeper can show about the adapter (the contract suite covers the rest):
// digest ACLs, credentials surviving a reconnect, a server restart, connect timeouts and
// the words of the logs.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { before, test, type TestContext } from 'node:test';
import type { ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import type { Coordinator } from '../../src/election/coordinator.js';
import { connectZooKeeper, type ZooKeeperCoordinatorOptions } from '../../src/election/zk-coordinator.js';
import { TandemError, type ErrorCode } from '../../src/errors.js';
import { silentLogger, type Logger } from '../../src/util/log.js';
import { capturingLogger } from '../helpers/log.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { recordEvents, testZooKeeper, waitFor, waitForEvent, waitUntilServerForgets } from '../helpers/zookeeper.js';

const AUTH = { user: 'tandem', password: 'real-secret' };
let server: ZooKeeperServer;
const sessions: Coordinator[] = [];

before(async () => {
  server = await testZooKeeper();
});

async function connect(chroot: string, opts: Partial<ZooKeeperCoordinatorOptions> & { log?: Logger } = {}): Promise<Coordinator> {
  const session = await connectZooKeeper({
    address: { connect: server.connect, chroot },
    sessionTimeoutMs: 4_000,
    auth: AUTH,
    log: silentLogger(),
    ...opts,
  });
  sessions.push(session);
  return session;
}

async function closeAll(): Promise<void> {
  for (const session of sessions.splice(0)) await session.close();
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof TandemError && err.code === code);
}

test('a digest ACL keeps out a session without our credentials', async (t) => {
  t.after(closeAll);
  const owner = await connect('/tandem/acl');
  await owner.create('/active', 'm1', 'persistent');
  for (const auth of [
    { user: 'intruder', password: 'guess' },
    { user: AUTH.user, password: 'wrong password' },
  ]) {
    const other = await connect('/tandem/acl', { auth });
    await rejectsWith(other.set('/active', 'm666', -1), 'PERMISSION_DENIED');
    await rejectsWith(other.delete('/active', -1), 'PERMISSION_DENIED');
    await rejectsWith(other.get('/active'), 'PERMISSION_DENIED');
    await rejectsWith(other.create('/intruder', 1, 'ephemeral'), 'PERMISSION_DENIED');
  }
  assert.deepEqual(await owner.get('/active'), { data: 'm1', version: 0, ephemeralOwner: null });
  // `/tandem` is shared: a cluster with other credentials may live next to ours.
  const neighbour = await connect('/tandem/neighbour', { auth: { user: 'neighbour', password: 'theirs' } });
  await neighbour.create('/active', 'n1', 'ephemeral');
  await rejectsWith(neighbour.get('/../acl/active'), 'INVALID_ARGUMENT');
});

/** A session through its own TCP proxy (closed after the test), logging into `lines`. */
async function connectThroughProxy(t: TestContext, chroot: string, sessionTimeoutMs: number) {
  t.after(closeAll);
  const proxy = await startTcpProxy(server.members[0]!.clientPort);
  t.after(() => proxy.close());
  const { log, lines } = capturingLogger();
  const a = await connectZooKeeper({ address: { connect: proxy.address, chroot }, sessionTimeoutMs, auth: AUTH, log });
  sessions.push(a);
  return { a, proxy, lines };
}

test('a call made while disconnected waits for the reconnect and succeeds; the logs tell the story', { timeout: 30_000 }, async (t) => {
  const { a, proxy, lines } = await connectThroughProxy(t, '/tandem/reconnect', 2_000);
  assert.equal(lines.at(-1)?.msg, `connected to ZooKeeper ${proxy.address} (session ${a.sessionId}, timeout 2000 ms)`);
  await a.create('/member', 'm1', 'ephemeral');
  const events = recordEvents(a);

  proxy.cut();
  await waitForEvent(events, 'disconnected');
  assert.ok(lines.some((l) => l.msg === 'lost connection to ZooKeeper; session may still be alive'));
  // Handed to the client now, this read would reach the server ahead of the credentials
  // and be refused (NO_AUTH); held until the reconnect, it succeeds.
  const read = a.get('/member');
  setTimeout(() => proxy.restore(), 300);
  assert.deepEqual(await read, { data: 'm1', version: 0, ephemeralOwner: a.sessionId });
  assert.deepEqual(events, ['disconnected', 'connected']);
  assert.ok(lines.some((l) => l.msg === `reconnected to ZooKeeper ${proxy.address} in the same session ${a.sessionId}`));

  proxy.cut();
  await waitUntilServerForgets(server.members[0]!.clientPort, a.sessionId);
  proxy.restore();
  await waitForEvent(events, 'expired');
  assert.ok(lines.some((l) => l.msg === `ZooKeeper session ${a.sessionId} expired`));
});

test('a connection that goes silent is dropped, a silent handshake abandoned, and the client learns it expired', { timeout: 30_000 }, async (t) => {
  // Silent for 2 s once connected, or for 1 s in a handshake: the connection is dropped.
  const { a, proxy, lines } = await connectThroughProxy(t, '/tandem/silent', 3_000);
  await a.create('/member', 'm1', 'ephemeral');
  const events = recordEvents(a);

  // Nothing passes and nothing is reset: only the watchdog can notice.
  proxy.stall();
  await waitForEvent(events, 'disconnected', 5_000);
  assert.ok(lines.some((l) => /^ZooKeeper 127\.0\.0\.1:\d+ sent nothing for \d+ ms; dropping the connection/.test(String(l.msg))));
  await waitFor('a second connection attempt, after a silent handshake', () => proxy.acceptedWhileStalled >= 2, 5_000);
  assert.ok(lines.some((l) => /did not answer the session handshake within \d+ ms/.test(String(l.msg))));

  // Meanwhile the server, hearing nothing, expires the session; once the network heals
  // the client is told so (a client stuck on a silent connection would never be).
  await waitUntilServerForgets(server.members[0]!.clientPort, a.sessionId);
  proxy.restore();
  await waitForEvent(events, 'expired');
  assert.deepEqual(events, ['disconnected', 'expired']);
});

test('a ZooKeeper restart within the session timeout keeps the session, its ephemerals and its watches', { timeout: 60_000 }, async (t) => {
  t.after(closeAll);
  // ZooKeeper restores sessions from its log and gives each a fresh timeout, so even a
  // kill -9 longer than the session timeout does not expire a session that reconnects.
  const a = await connect('/tandem/restart', { sessionTimeoutMs: 2_000 });
  await a.create('/member', 'm1', 'ephemeral');
  let fired = 0;
  assert.equal(await a.get('/active', () => fired++), null);
  const events = recordEvents(a);

  await server.kill(0);
  await waitForEvent(events, 'disconnected');
  await new Promise((resolve) => setTimeout(resolve, 1.5 * a.sessionTimeoutMs));
  await server.start(0);
  await waitForEvent(events, 'connected', 15_000);
  assert.deepEqual(events, ['disconnected', 'connected']);
  assert.equal((await a.get('/member'))!.ephemeralOwner, a.sessionId);
  await a.create('/active', 'm1', 'ephemeral');
  await a.get('/');
  assert.equal(fired, 1, 'the watch set before the restart fired');
});

test('connecting where no ZooKeeper listens fails with COORDINATOR_UNAVAILABLE within the connect timeout', async () => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const started = performance.now();
  await rejectsWith(
    connectZooKeeper({
      address: { connect: `127.0.0.1:${port}`, chroot: '/tandem/nowhere' },
      sessionTimeoutMs: 4_000,
      connectTimeoutMs: 500,
      auth: AUTH,
      log: silentLogger(),
    }),
    'COORDINATOR_UNAVAILABLE',
  );
  assert.ok(performance.now() - started < 3_000, 'the connect timeout bounds the wait');
});
