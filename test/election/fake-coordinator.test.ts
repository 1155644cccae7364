// What the fake adds to the contract (coordinator-contract.test.ts): the faults a
// simulation injects, with ZooKeeper's timing of who hears what, and determinism.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Coordinator } from '../../src/election/coordinator.js';
import { FakeZooKeeper } from '../../src/election/fake-coordinator.js';
import { TandemError, type ErrorCode } from '../../src/errors.js';
import { recordEvents } from '../helpers/zookeeper.js';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof TandemError && err.code === code);
}

/** Lets queued microtasks (watches, session events) run. */
async function drain(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

test('a session expired while disconnected hears of it only when it reconnects, like a partitioned ZooKeeper client', async () => {
  const zk = new FakeZooKeeper();
  const [active, standby] = [zk.session({ chroot: '/tandem/c1' }), zk.session({ chroot: '/tandem/c1' })];
  await active.create('/active', 'm1', 'ephemeral');
  const events = recordEvents(active);

  zk.disconnect(active.sessionId);
  zk.expire(active.sessionId);
  await drain();
  assert.deepEqual(events, ['disconnected'], 'a partitioned session does not know it expired');
  assert.equal(await standby.get('/active'), null, 'the ensemble already dropped its ephemeral');
  await rejectsWith(active.get('/active'), 'COORDINATOR_UNAVAILABLE');
  await standby.create('/active', 'm2', 'ephemeral');

  zk.reconnect(active.sessionId);
  await drain();
  assert.deepEqual(events, ['disconnected', 'expired']);
  await rejectsWith(active.get('/active'), 'COORDINATOR_SESSION_EXPIRED');
});

test('an ensemble outage disconnects every session and expires none; new sessions are refused until it is back', async () => {
  const zk = new FakeZooKeeper();
  const sessions = [zk.session(), zk.session()];
  await sessions[0]!.create('/member', 'm1', 'ephemeral');
  const events = sessions.map(recordEvents);

  zk.setUnavailable(true);
  await drain();
  assert.deepEqual(events, [['disconnected'], ['disconnected']]);
  assert.throws(() => zk.session(), (err: unknown) => err instanceof TandemError && err.code === 'COORDINATOR_UNAVAILABLE');
  await rejectsWith(sessions[1]!.children('/'), 'COORDINATOR_UNAVAILABLE');
  // A session cut off on its own stays disconnected when the ensemble returns.
  zk.disconnect(sessions[1]!.sessionId);

  zk.setUnavailable(false);
  await drain();
  assert.deepEqual(events, [['disconnected', 'connected'], ['disconnected']]);
  assert.equal((await sessions[0]!.get('/member'))!.ephemeralOwner, sessions[0]!.sessionId);
});

test('closing a disconnected session leaves its ephemerals until the ensemble expires it', async () => {
  const zk = new FakeZooKeeper();
  const [a, b] = [zk.session(), zk.session()];
  await a.create('/member', 'm1', 'ephemeral');
  zk.disconnect(a.sessionId);
  await a.close();
  assert.equal((await b.get('/member'))!.ephemeralOwner, a.sessionId);
  assert.match(zk.dump(), /0x1 closed chroot=\/ timeout=10000ms link=down/);
  zk.expire(a.sessionId);
  assert.equal(await b.get('/member'), null);
});

test('the same calls give the same tree, ids and dump, run after run', async () => {
  const run = async () => {
    const zk = new FakeZooKeeper();
    const sessions: Coordinator[] = [zk.session({ chroot: '/tandem/sim' }), zk.session({ chroot: '/tandem/sim' })];
    await sessions[0]!.ensurePath('/election');
    const fired: string[] = [];
    for (const [i, session] of sessions.entries()) await session.create('/election/n_', { member: `m${i}` }, 'ephemeral-sequential');
    for (const [i, session] of sessions.entries()) await session.children('/election', () => fired.push(`watch of session ${i}`));
    zk.expire(sessions[0]!.sessionId);
    await drain();
    return { fired, dump: zk.dump() };
  };
  const first = await run();
  assert.deepEqual(await run(), first);
  assert.deepEqual(first.fired, ['watch of session 1'], 'the watch of the session that expired never fires');
  assert.match(first.dump, /\/tandem\/sim\/election\/n_0000000001 v0 ephemeral\(0x2\) \{"member":"m1"\}/);
  assert.doesNotMatch(first.dump, /n_0000000000/);
});
