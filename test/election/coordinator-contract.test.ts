// The Coordinator contract, run against both implementations: the in-memory fake the
// simulation uses, and the ZooKeeper adapter on a real standalone server. Whatever Tandem's
// election code relies on is asserted here, so the fake cannot drift from ZooKeeper.
//
// Every real session goes through its own TCP proxy, so a test can cut one session's
// connection (a partition) while the server runs on. Expiry on the real server: cut the
// session off until the server has expired it (its `dump` no longer lists it), then let it
// reconnect, and ZooKeeper tells it that it expired — what happens to a partitioned client.
import assert from 'node:assert/strict';
import { afterEach, before, describe, test } from 'node:test';
import type { ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import type { Coordinator } from '../../src/election/coordinator.js';
import { FakeZooKeeper } from '../../src/election/fake-coordinator.js';
import { connectZooKeeper } from '../../src/election/zk-coordinator.js';
import { TandemError, type ErrorCode } from '../../src/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { recordEvents, TEST_TICK_TIME_MS, testZooKeeper, waitFor, waitForEvent, waitUntilServerForgets } from '../helpers/zookeeper.js';

interface SessionOptions {
  sessionTimeoutMs?: number;
  callTimeoutMs?: number;
}

/** One implementation under test, with the faults the contract needs injected its own way. */
interface Harness {
  readonly name: string;
  setUp(): Promise<void>;
  /** A new session, in a namespace (chroot) of this test's own. */
  session(opts?: SessionOptions): Promise<Coordinator>;
  /** Breaks the session's connection; the session keeps living on the ensemble. */
  disconnect(session: Coordinator): Promise<void>;
  reconnect(session: Coordinator): Promise<void>;
  /** Has the ensemble expire the session, and lets the session find out. */
  expire(session: Coordinator): Promise<void>;
  /** After each test: closes its sessions; the next test gets a fresh namespace. */
  reset(): Promise<void>;
}

const SESSION_TIMEOUT_MS = 4_000;
const CHROOT = '/tandem/contract';

function fakeHarness(): Harness {
  let zk = new FakeZooKeeper({ tickTimeMs: TEST_TICK_TIME_MS });
  return {
    name: 'fake ZooKeeper',
    async setUp() {},
    async session(opts = {}) {
      return zk.session({ chroot: CHROOT, sessionTimeoutMs: opts.sessionTimeoutMs ?? SESSION_TIMEOUT_MS });
    },
    async disconnect(session) {
      zk.disconnect(session.sessionId);
    },
    async reconnect(session) {
      zk.reconnect(session.sessionId);
    },
    async expire(session) {
      zk.expire(session.sessionId);
    },
    async reset() {
      zk = new FakeZooKeeper({ tickTimeMs: TEST_TICK_TIME_MS });
    },
  };
}

function realHarness(): Harness {
  let server: ZooKeeperServer | null = null;
  let namespace = 0;
  const live = new Map<Coordinator, TcpProxy>();
  const proxyOf = (session: Coordinator) => {
    const proxy = live.get(session);
    assert.ok(proxy, 'not a session of this harness');
    return proxy;
  };
  const port = () => server!.members[0]!.clientPort;
  return {
    name: 'real ZooKeeper',
    async setUp() {
      server = await testZooKeeper();
    },
    async session(opts = {}) {
      const proxy = await startTcpProxy(port());
      try {
        const session = await connectZooKeeper({
          address: { connect: proxy.address, chroot: `${CHROOT}${namespace}` },
          sessionTimeoutMs: opts.sessionTimeoutMs ?? SESSION_TIMEOUT_MS,
          callTimeoutMs: opts.callTimeoutMs,
          auth: { user: 'tandem', password: 'contract-secret' },
          log: silentLogger(),
        });
        live.set(session, proxy);
        return session;
      } catch (err) {
        await proxy.close();
        throw err;
      }
    },
    async disconnect(session) {
      proxyOf(session).cut();
    },
    async reconnect(session) {
      proxyOf(session).restore();
    },
    async expire(session) {
      const proxy = proxyOf(session);
      proxy.cut();
      await waitUntilServerForgets(port(), session.sessionId);
      proxy.restore();
    },
    async reset() {
      for (const [session, proxy] of live) {
        proxy.restore();
        await session.close();
        await proxy.close();
      }
      live.clear();
      namespace++;
    },
  };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TandemError, `expected a TandemError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/**
 * A read by `session`: once it answers, every watch event caused by changes made before it
 * was sent has been delivered to `session` (ZooKeeper orders a client's events before the
 * replies that follow them), and its watchers have run.
 */
async function syncWith(session: Coordinator): Promise<void> {
  await session.get('/');
}

for (const harness of [fakeHarness(), realHarness()]) {
  describe(`Coordinator contract: ${harness.name}`, { timeout: 120_000 }, () => {
    before(() => harness.setUp());
    afterEach(() => harness.reset());

    test('create: persistent, ephemeral and sequential nodes, numbered as ZooKeeper numbers them', async () => {
      const a = await harness.session();
      await a.ensurePath('/election');
      assert.equal(await a.create('/election/n_', { member: 'm1' }, 'ephemeral-sequential'), '/election/n_0000000000');
      assert.equal(await a.create('/election/n_', { member: 'm2' }, 'ephemeral-sequential'), '/election/n_0000000001');
      // The number is the parent's count of children ever created: a delete frees no number.
      await a.delete('/election/n_0000000000', -1);
      assert.equal(await a.create('/election/plain', null, 'persistent'), '/election/plain');
      assert.equal(await a.create('/election/p_', 'x', 'persistent-sequential'), '/election/p_0000000003');
      await a.create('/election/e', 7, 'ephemeral');

      assert.deepEqual(await a.get('/election/n_0000000001'), { data: { member: 'm2' }, version: 0, ephemeralOwner: a.sessionId });
      assert.deepEqual(await a.get('/election/e'), { data: 7, version: 0, ephemeralOwner: a.sessionId });
      assert.deepEqual(await a.get('/election/plain'), { data: null, version: 0, ephemeralOwner: null });
      assert.deepEqual(await a.get('/election/p_0000000003'), { data: 'x', version: 0, ephemeralOwner: null });
      assert.deepEqual((await a.children('/election')).sort(), ['e', 'n_0000000001', 'p_0000000003', 'plain']);

      await rejectsWith(a.create('/election/plain', 1, 'persistent'), 'COORDINATOR_NODE_EXISTS');
      await rejectsWith(a.create('/missing/child', 1, 'persistent'), 'COORDINATOR_NO_NODE');
      await rejectsWith(a.create('/election/e/child', 1, 'persistent'), 'INVALID_ARGUMENT');
      for (const bad of ['relative', '/trailing/', '/a//b', '/a/../b', '']) {
        await rejectsWith(a.get(bad), 'INVALID_ARGUMENT');
      }
    });

    test('ensurePath creates what is missing, keeps what exists, and tolerates a concurrent creator', async () => {
      const [a, b] = [await harness.session(), await harness.session()];
      await a.ensurePath('/shards');
      assert.equal(await a.set('/shards', { keep: true }, -1), 1);
      await Promise.all([a.ensurePath('/shards/ns/epoch'), b.ensurePath('/shards/ns/epoch'), a.ensurePath('/shards/ns/isr')]);
      await a.ensurePath('/shards/ns/epoch');
      await a.ensurePath('/');
      assert.deepEqual(await b.get('/shards'), { data: { keep: true }, version: 1, ephemeralOwner: null });
      assert.deepEqual(await b.get('/shards/ns/epoch'), { data: null, version: 0, ephemeralOwner: null });
      assert.deepEqual((await b.children('/shards/ns')).sort(), ['epoch', 'isr']);
    });

    test('get, set and delete check versions and fail with typed errors', async () => {
      const a = await harness.session();
      assert.equal(await a.get('/epoch'), null);
      await a.create('/epoch', { epoch: 1, active: 'm1' }, 'persistent');
      assert.equal(await a.set('/epoch', { epoch: 2, active: 'm2' }, 0), 1);
      await rejectsWith(a.set('/epoch', { epoch: 2, active: 'm3' }, 0), 'COORDINATOR_BAD_VERSION');
      assert.deepEqual(await a.get('/epoch'), { data: { epoch: 2, active: 'm2' }, version: 1, ephemeralOwner: null });
      assert.equal(await a.set('/epoch', [1, 'two', { three: 3 }], -1), 2);
      assert.deepEqual((await a.get('/epoch'))!.data, [1, 'two', { three: 3 }]);
      assert.equal(await a.set('/epoch', null, 2), 3);
      assert.equal((await a.get('/epoch'))!.data, null);

      await rejectsWith(a.set('/nothing', 1, -1), 'COORDINATOR_NO_NODE');
      await rejectsWith(a.delete('/nothing', -1), 'COORDINATOR_NO_NODE');
      await rejectsWith(a.delete('/epoch', 0), 'COORDINATOR_BAD_VERSION');
      await a.create('/epoch/child', 1, 'persistent');
      await rejectsWith(a.delete('/epoch', -1), 'INVALID_ARGUMENT'); // it has a child
      await a.delete('/epoch/child', 0);
      await a.delete('/epoch', 3);
      assert.equal(await a.get('/epoch'), null);
      await rejectsWith(a.children('/epoch'), 'COORDINATOR_NO_NODE');
    });

    test('a data watch fires once, for the first change, and for a delete', async () => {
      const [a, b] = [await harness.session(), await harness.session()];
      await a.create('/active', 'm1', 'persistent');
      await a.create('/other', 0, 'persistent');
      let fired = 0;
      await a.get('/active', () => fired++);
      await a.get('/other', () => assert.fail('a watch on /other fired for changes to /active'));
      await b.set('/active', 'm2', -1);
      await b.set('/active', 'm3', -1);
      await syncWith(a);
      assert.equal(fired, 1, 'one-shot: one fire for two changes');

      await a.get('/active', () => fired++);
      await b.delete('/active', -1);
      await syncWith(a);
      assert.equal(fired, 2, 'a delete fires the data watch');
    });

    test('a watch set by reading a missing node fires when the node is created', async () => {
      const [a, b] = [await harness.session(), await harness.session()];
      let fired = 0;
      assert.equal(await a.get('/active', () => fired++), null);
      await syncWith(a);
      assert.equal(fired, 0);
      await b.create('/active', 'm2', 'ephemeral');
      await syncWith(a);
      assert.equal(fired, 1);
      await b.set('/active', 'm3', -1);
      await syncWith(a);
      assert.equal(fired, 1, 'the watch was used up by the create');
    });

    test('a children watch fires once when a child comes or goes, not when a child changes', async () => {
      const [a, b] = [await harness.session(), await harness.session()];
      await a.ensurePath('/election');
      let fired = 0;
      assert.deepEqual(await a.children('/election', () => fired++), []);
      const mine = await b.create('/election/n_', null, 'ephemeral-sequential');
      await b.create('/election/n_', null, 'ephemeral-sequential');
      await syncWith(a);
      assert.equal(fired, 1);

      assert.equal((await a.children('/election', () => fired++)).length, 2);
      await b.set(mine, 'data', -1);
      await syncWith(a);
      assert.equal(fired, 1, "a child's data change is not a children change");
      await b.delete(mine, -1);
      await syncWith(a);
      assert.equal(fired, 2);
    });

    test('ephemeral nodes go when their session closes, and a closed session refuses calls', async () => {
      const [a, b] = [await harness.session(), await harness.session()];
      await a.create('/member', 'm1', 'ephemeral');
      let fired = 0;
      assert.equal((await b.get('/member', () => fired++))!.ephemeralOwner, a.sessionId);
      await a.close();
      assert.equal(await b.get('/member'), null);
      assert.equal(fired, 1);
      await rejectsWith(a.get('/member'), 'COORDINATOR_SESSION_EXPIRED');
      await a.close(); // twice is fine
    });

    test('an expired session loses its ephemerals, hears "expired" and refuses every call', { timeout: 30_000 }, async () => {
      const [a, b] = [await harness.session({ sessionTimeoutMs: 2_000 }), await harness.session()];
      await a.create('/active', 'm1', 'ephemeral');
      await a.create('/kept', 'persistent data stays', 'persistent');
      let fired = 0;
      await b.get('/active', () => fired++);
      const events = recordEvents(a);

      await harness.expire(a);
      await waitForEvent(events, 'expired');
      assert.equal(events.at(-1), 'expired');
      assert.ok(!events.includes('connected'), `events: ${events.join(', ')}`);
      assert.equal(await b.get('/active'), null);
      assert.equal(fired, 1);
      assert.equal((await b.get('/kept'))!.data, 'persistent data stays');
      await rejectsWith(a.get('/kept'), 'COORDINATOR_SESSION_EXPIRED');
      await rejectsWith(a.create('/active', 'm1', 'ephemeral'), 'COORDINATOR_SESSION_EXPIRED');
      await a.close();
      // A new session is how the owner comes back.
      const again = await harness.session();
      assert.notEqual(again.sessionId, a.sessionId);
      await again.create('/active', 'm1', 'ephemeral');
    });

    test('a disconnected session keeps its ephemerals, fails calls, and gets its watches once reconnected', { timeout: 30_000 }, async () => {
      const [a, b] = [await harness.session({ callTimeoutMs: 1_000 }), await harness.session()];
      await a.create('/member', 'm1', 'ephemeral');
      let fired = 0;
      assert.equal(await a.get('/active', () => fired++), null);
      const events = recordEvents(a);

      await harness.disconnect(a);
      await waitForEvent(events, 'disconnected');
      await rejectsWith(a.get('/member'), 'COORDINATOR_UNAVAILABLE');
      await b.create('/active', 'm2', 'persistent');
      assert.equal((await b.get('/member'))!.ephemeralOwner, a.sessionId, 'the session lives on while disconnected');
      assert.equal(fired, 0, 'no watch reaches a disconnected session');

      const sessionId = a.sessionId;
      await harness.reconnect(a);
      await waitForEvent(events, 'connected');
      await waitFor('the watch held during the disconnection', () => fired === 1);
      assert.deepEqual(events, ['disconnected', 'connected']);
      assert.equal(a.sessionId, sessionId);
      assert.equal((await a.get('/member'))!.ephemeralOwner, sessionId);
    });

    test('the session timeout is clamped to 2..20 ticks, and session ids are distinct hex', async () => {
      const short = await harness.session({ sessionTimeoutMs: 100 });
      const long = await harness.session({ sessionTimeoutMs: 600_000 });
      assert.equal(short.sessionTimeoutMs, 2 * TEST_TICK_TIME_MS);
      assert.equal(long.sessionTimeoutMs, 20 * TEST_TICK_TIME_MS);
      assert.match(short.sessionId, /^0x[0-9a-f]+$/);
      assert.notEqual(short.sessionId, long.sessionId);
    });
  });
}
