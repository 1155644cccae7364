// ZooKeeper failing under a healthy shard: a whole-ZooKeeper outage during writes stops
// nothing (the active keeps serving while its in-sync standbys confirm its epoch, and no
// failover happens), and a 3-server ensemble losing one server still runs a failover.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TandemClient } from '../../src/client/tandem-client.js';
import { ZooKeeperResolver } from '../../src/client/zk-resolver.js';
import { startZooKeeper, startZooKeeperEnsemble, type ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import { limitsWith } from '../../src/config/limits.js';
import { connectZooKeeper } from '../../src/election/zk-coordinator.js';
import { Master } from '../../src/master/master.js';
import { canonicalDump } from '../../src/namespace/dump.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';
import { testSecret } from '../helpers/secret.js';

const masters: Master[] = [];
const servers: ZooKeeperServer[] = [];
const auth = { user: 'tandem', password: 'outage-secret' };
/** Every member holds the cluster secret, as `tandem up` gives it. */
const secret = testSecret();
after(async () => {
  for (const m of masters) await m.stop().catch(() => undefined);
  for (const s of servers) await s.stopAll();
});

async function shardOn(zk: ZooKeeperServer, base: string, chroot: string): Promise<{ members: Master[]; connect: () => ReturnType<typeof connectZooKeeper> }> {
  const connect = () => connectZooKeeper({ address: { connect: zk.connect, chroot }, auth, sessionTimeoutMs: 4_000, log: silentLogger() });
  const members: Master[] = [];
  for (const name of ['a', 'b', 'c']) {
    const m = await Master.start({
      shard: 'ns',
      member: name,
      dir: join(base, name),
      host: '127.0.0.1',
      port: 0,
      limits: limitsWith(),
      log: silentLogger(),
      superuser: 'root',
      secret,
      ha: { connect },
    });
    masters.push(m);
    members.push(m);
    if (name === 'a') await until('a is active', () => m.status().role === 'active');
  }
  await until('all in sync', () => (members[0]!.status().ha?.isr ?? []).length === 3);
  return { members, connect };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting until ${what}`);
}

test('a whole-ZooKeeper outage during writes: the active keeps serving, no failover', { timeout: 90_000 }, async () => {
  const base = await tempDir();
  const zk = await startZooKeeper({ dir: join(base, 'zk'), tickTimeMs: 500 });
  servers.push(zk);
  const { members } = await shardOn(zk, base, '/tandem/outage');
  const [a, b, c] = members as [Master, Master, Master];
  const epoch = a.engine.currentEpoch;
  const client = new TandemClient({ masters: [a.status().rpc], user: 'root', deadlineMs: 10_000 });
  try {
    for (let i = 0; i < 50; i++) await client.create(`/before/f${i}`);
    await zk.kill(0);
    // Longer than the session timeout: ZooKeeper is gone, the shard is not.
    const outageEnds = Date.now() + 5_000;
    let i = 0;
    while (Date.now() < outageEnds) {
      await client.create(`/during/f${i++}`);
      assert.ok(await client.getFileInfo(`/during/f${i - 1}`), 'reads are served during the outage');
    }
    assert.ok(i > 10, `only ${i} writes went through during the outage`);
    await zk.start(0);
    for (let j = 0; j < 50; j++) await client.create(`/after/f${j}`);
    assert.equal(a.status().role, 'active', 'the active stayed active');
    assert.equal(a.engine.currentEpoch, epoch, 'no failover happened');
    for (const s of [b, c]) {
      await until(`${s.options.member} caught up`, () => s.engine.appliedTxidNow === a.engine.appliedTxidNow);
      assert.deepEqual(canonicalDump(s.engine.peekState()), canonicalDump(a.engine.peekState()));
    }
  } finally {
    client.close();
  }
});

test('a 3-server ZooKeeper ensemble losing one server still fails over', { timeout: 120_000 }, async () => {
  const base = await tempDir();
  const zk = await startZooKeeperEnsemble({ dir: join(base, 'zk'), servers: 3, tickTimeMs: 500 });
  servers.push(zk);
  const { members, connect } = await shardOn(zk, base, '/tandem/ensemble');
  const [a, b, c] = members as [Master, Master, Master];
  const client = new TandemClient({ resolver: new ZooKeeperResolver(connect), user: 'root', deadlineMs: 30_000, backoff: { baseMs: 10, capMs: 200 } });
  try {
    for (let i = 0; i < 50; i++) await client.create(`/one/f${i}`);
    await zk.kill(0);
    for (let i = 0; i < 50; i++) await client.create(`/two/f${i}`);
    // The active goes (a clean stop: deregistration through the surviving servers); a standby takes over.
    await a.stop();
    for (let i = 0; i < 50; i++) await client.create(`/three/f${i}`);
    const next = [b, c].find((m) => m.status().role === 'active');
    assert.ok(next, 'a standby took over with one ZooKeeper server down');
    for (const dir of ['one', 'two', 'three']) {
      for (let i = 0; i < 50; i++) assert.ok(await client.getFileInfo(`/${dir}/f${i}`), `/${dir}/f${i} lost`);
    }
  } finally {
    client.close();
  }
});
