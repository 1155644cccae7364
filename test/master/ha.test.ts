// A shard of three masters in this process against a real ZooKeeper: election, hot
// standbys applying the stream, synchronous commit, graceful hand-over, the in-sync set
// shrinking when a standby goes, and a standby restarted with an empty disk.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { TandemClient } from '../../src/client/tandem-client.js';
import { ZooKeeperResolver } from '../../src/client/zk-resolver.js';
import { startZooKeeper, type ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import { limitsWith, type Limits } from '../../src/config/limits.js';
import { connectZooKeeper } from '../../src/election/zk-coordinator.js';
import { memberOfReplica, shardPaths, type IsrData } from '../../src/election/layout.js';
import { Master } from '../../src/master/master.js';
import { fetchTailOverRpc } from '../../src/replication/edits-transfer.js';
import { canonicalDump } from '../../src/namespace/dump.js';
import { silentLogger } from '../../src/util/log.js';
import { testSecret } from '../helpers/secret.js';
import { tempDir } from '../helpers/temp.js';

let zk: ZooKeeperServer;
let base: string;
const masters: Master[] = [];
const auth = { user: 'tandem', password: 'test-secret' };
const limits: Limits = limitsWith({ isrLagMaxMs: 500 });
/** Every member holds the cluster secret: the replication stream and image transfers prove it. */
const secret = testSecret();

before(async () => {
  base = await tempDir();
  zk = await startZooKeeper({ dir: join(base, 'zk'), tickTimeMs: 500 });
});
after(async () => {
  for (const m of masters) await m.stop().catch(() => undefined);
  await zk?.stopAll();
});

function connect(chroot: string) {
  return () => connectZooKeeper({ address: { connect: zk.connect, chroot }, auth, sessionTimeoutMs: 2_000, log: silentLogger() });
}

async function startMember(chroot: string, member: string, dir = join(base, chroot.replaceAll('/', '_'), member), memberLimits = limits): Promise<Master> {
  const m = await Master.start({
    shard: 'ns',
    member,
    dir,
    host: '127.0.0.1',
    port: 0,
    limits: memberLimits,
    log: silentLogger(),
    superuser: 'root',
    secret,
    ha: { connect: connect(chroot) },
  });
  masters.push(m);
  return m;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting until ${what}`);
}

const roleOf = (m: Master): string => m.status().role;
/** Member names in the active's in-sync set (its entries are name#storageId). */
const isrNames = (m: Master): string[] => (m.status().ha?.isr ?? []).map(memberOfReplica);
const activeOf = (ms: Master[]): Master | undefined => ms.find((m) => roleOf(m) === 'active');

function clientFor(chroot: string): TandemClient {
  return new TandemClient({ resolver: new ZooKeeperResolver(connect(chroot)), user: 'root', deadlineMs: 20_000, backoff: { baseMs: 10, capMs: 200 } });
}

test('the first member becomes active, the others stream and apply every committed write', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/ha-basic';
  const a = await startMember(chroot, 'a');
  await until('a is active', () => roleOf(a) === 'active');
  const b = await startMember(chroot, 'b');
  const c = await startMember(chroot, 'c');
  const shard = [a, b, c];
  await until('b and c are in sync', () => (a.status().ha?.isr ?? []).length === 3);
  const client = clientFor(chroot);
  try {
    for (let i = 0; i < 200; i++) await client.create(`/d${i % 5}/f${i}`);
    const applied = a.engine.appliedTxidNow;
    // Synchronous commit: once the last create was acknowledged, every in-sync standby holds it.
    for (const s of [b, c]) assert.ok(s.engine.durableTxid >= applied, `${s.options.member} durable ${s.engine.durableTxid} < ${applied}`);
    await until('standbys applied everything', () => shard.every((m) => m.engine.appliedTxidNow === applied));
    const want = canonicalDump(a.engine.peekState());
    for (const s of [b, c]) assert.deepEqual(canonicalDump(s.engine.peekState()), want);
    // A standby refuses client calls.
    const direct = new TandemClient({ masters: [b.status().rpc], deadlineMs: 500, user: 'root' });
    await assert.rejects(direct.getFileInfo('/d0'), (err: Error & { code?: string }) => ['NOT_ACTIVE', 'DEADLINE_EXCEEDED'].includes(err.code ?? ''));
    direct.close();

    // Graceful hand-over: the active stops (drains, deregisters); a standby takes over with a higher epoch.
    const epochBefore = a.engine.currentEpoch;
    const writes = (async () => {
      for (let i = 0; i < 300; i++) await client.create(`/after/f${i}`);
    })();
    await new Promise((r) => setTimeout(r, 50));
    await a.stop();
    await writes;
    const next = activeOf([b, c]);
    assert.ok(next, 'a standby took over');
    assert.ok(next.engine.currentEpoch > epochBefore, 'the new active has a higher epoch');
    for (let i = 0; i < 300; i++) assert.ok(await client.getFileInfo(`/after/f${i}`), `/after/f${i} acknowledged but missing`);
    for (let i = 0; i < 200; i++) assert.ok(await client.getFileInfo(`/d${i % 5}/f${i}`), `/d${i % 5}/f${i} lost in the hand-over`);
    const other = next === b ? c : b;
    await until('the other standby follows the new active', () => other.engine.appliedTxidNow === next.engine.appliedTxidNow);
    assert.deepEqual(canonicalDump(other.engine.peekState()), canonicalDump(next.engine.peekState()));
  } finally {
    client.close();
  }
});

test('a standby that goes away leaves the in-sync set, and an empty-disk replacement catches up and rejoins it', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/ha-isr';
  const a = await startMember(chroot, 'a');
  await until('a is active', () => roleOf(a) === 'active');
  const b = await startMember(chroot, 'b');
  await until('b is in sync', () => isrNames(a).includes('b'));
  const client = clientFor(chroot);
  const zkSession = await connect(chroot)();
  try {
    for (let i = 0; i < 100; i++) await client.create(`/x/f${i}`);
    await b.stop();
    // Writes go on once b is out of the ISR (removed in ZooKeeper first).
    for (let i = 0; i < 100; i++) await client.create(`/y/f${i}`);
    const isr = await zkSession.get<IsrData>(shardPaths('ns').isr);
    assert.deepEqual(isr?.data.members.map(memberOfReplica), ['a']);
    // A fresh standby with an empty disk streams everything from txid 1 and joins the ISR.
    const fresh = await startMember(chroot, 'b2', join(base, 'empty-b2'));
    await until('b2 is in sync', () => isrNames(a).includes('b2'));
    for (let i = 0; i < 10; i++) await client.create(`/z/f${i}`);
    assert.ok(fresh.engine.durableTxid >= a.engine.appliedTxidNow - 0, 'the rejoined standby holds every committed write');
    assert.deepEqual(canonicalDump(fresh.engine.peekState()), canonicalDump(a.engine.peekState()));
  } finally {
    client.close();
    await zkSession.close();
  }
});

test('admin failover hands over to the named standby; nothing acknowledged is lost', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/ha-handover';
  const a = await startMember(chroot, 'a');
  await until('a is active', () => roleOf(a) === 'active');
  const b = await startMember(chroot, 'b');
  const c = await startMember(chroot, 'c');
  await until('b and c in sync', () => (a.status().ha?.isr ?? []).length === 3);
  const client = clientFor(chroot);
  const admin = new TandemClient({ masters: [a.status().rpc], user: 'root', deadlineMs: 15_000 });
  try {
    let stop = false;
    const acked: string[] = [];
    const writer = (async () => {
      for (let i = 0; !stop && i < 100_000; i++) {
        await client.create(`/h/f${i}`);
        acked.push(`/h/f${i}`);
      }
    })();
    await until('some writes acknowledged', () => acked.length > 50);
    // c is second in line behind b: the hint must make b step back.
    const result = await admin.failover('c');
    assert.equal(result.from, 'a');
    assert.equal(result.to, 'c');
    await until('c is active', () => roleOf(c) === 'active');
    const countAtHandover = acked.length;
    await until('writes go on through c', () => acked.length > countAtHandover + 50);
    stop = true;
    await writer;
    assert.notEqual(roleOf(a), 'active');
    assert.notEqual(roleOf(b), 'active');
    for (const path of acked) assert.ok(await client.getFileInfo(path), `${path} acknowledged but missing`);
    await until('a follows c', () => a.engine.appliedTxidNow === c.engine.appliedTxidNow);
    assert.deepEqual(canonicalDump(a.engine.peekState()), canonicalDump(c.engine.peekState()));
  } finally {
    client.close();
    admin.close();
  }
});

test('the first standby checkpoints to the active; a standby behind the purged edits bootstraps from that image', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/ha-images';
  // Small segments and no age floor, so a checkpoint lets retention purge old edits at once.
  const small = limitsWith({ segmentBytesMax: 4_096, retentionAgeMs: 0, imagesRetainedMin: 1, checkpointTxids: 300, checkpointIntervalMs: 6_000 });
  const a = await startMember(chroot, 'a', undefined, small);
  await until('a is active', () => roleOf(a) === 'active');
  const b = await startMember(chroot, 'b', undefined, small);
  await until('b is in sync', () => isrNames(a).includes('b'));
  const client = clientFor(chroot);
  try {
    for (let i = 0; i < 600; i++) await client.create(`/img/f${i}`);
    await until('a checkpoint from b reached the active', () => a.status().imageTxid >= 300, 30_000);
    assert.ok(b.status().imageTxid >= 300, 'the checkpoint was written on the standby first');
    // The active notes the image, then runs retention: wait for the purge to land.
    await until('retention purged the edits the image covers', async () => ((await a.engine.oldestEditTxid()) ?? 0) > 1);
    const c = await startMember(chroot, 'c', join(base, 'empty-c'), small);
    await until('c is in sync', () => isrNames(a).includes('c'), 30_000);
    for (let i = 0; i < 10; i++) await client.create(`/img/g${i}`);
    await until('c applied everything', () => c.engine.appliedTxidNow === a.engine.appliedTxidNow);
    assert.ok(c.status().imageTxid >= 300, 'c started from the image');
    assert.deepEqual(canonicalDump(c.engine.peekState()), canonicalDump(a.engine.peekState()));
  } finally {
    client.close();
  }
});

test('a standby restarted on an empty disk is not in sync: it cannot take over until it has caught up', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/ha-empty';
  const a = await startMember(chroot, 'a');
  await until('a is active', () => roleOf(a) === 'active');
  const bDir = join(base, 'ha-empty-b');
  let b = await startMember(chroot, 'b', bDir);
  await until('b is in sync', () => isrNames(a).includes('b'));
  const client = clientFor(chroot);
  const zkSession = await connect(chroot)();
  try {
    for (let i = 0; i < 100; i++) await client.create(`/kept/f${i}`);
    // b loses its disk and comes back under the same name while the ISR still lists it.
    await b.stop();
    await rm(bDir, { recursive: true, force: true });
    b = await startMember(chroot, 'b', bDir);
    // Now the active goes too. b is the only one left in line, and must not take over empty.
    await a.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    assert.notEqual(roleOf(b), 'active', 'an empty-disk member took over: every acknowledged write would be lost');
    const isr = await zkSession.get<IsrData>(shardPaths('ns').isr);
    const newIdentity = `b#${(await readFile(join(bDir, 'storage-id'), 'utf8')).trim()}`;
    assert.ok(isr && !isr.data.members.includes(newIdentity), `the ISR [${isr?.data.members.join(', ')}] must not list the empty ${newIdentity}`);
    // The in-sync member comes back with its disk: it takes over, nothing is lost, and b catches up.
    const a2 = await startMember(chroot, 'a', a.options.dir);
    await until('a is active again', () => roleOf(a2) === 'active');
    for (let i = 0; i < 100; i++) assert.ok(await client.getFileInfo(`/kept/f${i}`), `/kept/f${i} lost`);
    await until('b caught up and is in sync', () => isrNames(a2).includes('b'));
    assert.deepEqual(canonicalDump(b.engine.peekState()), canonicalDump(a2.engine.peekState()));
  } finally {
    client.close();
    await zkSession.close();
  }
});

test('a member answers repl.tail with the records its log holds from a txid (from memory, or from disk after a restart), only to the cluster', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/ha-tail';
  const a = await startMember(chroot, 'a');
  await until('a is active', () => roleOf(a) === 'active');
  const bDir = join(base, chroot.replaceAll('/', '_'), 'b');
  let b = await startMember(chroot, 'b', bDir);
  await until('b is in sync', () => isrNames(a).includes('b'));
  const client = clientFor(chroot);
  try {
    for (let i = 0; i < 50; i++) await client.mkdirs(`/t${i}`);
    const last = a.engine.appliedTxidNow;
    await until('b applied everything', () => b.engine.appliedTxidNow === last);
    const ask = (fromTxid: number, withSecret = true) => fetchTailOverRpc(b.status().rpc, fromTxid, 5_000, { limits, clientName: 'test', secret: withSecret ? secret : null });
    const fromMemory = await ask(last - 9);
    assert.deepEqual(fromMemory.map((r) => r.txid), Array.from({ length: 10 }, (_, i) => last - 9 + i));
    assert.deepEqual((await ask(last + 1)).length, 0, 'nothing past its last record');
    await assert.rejects(ask(1, false), (err: Error & { code?: string }) => err.code === 'UNAUTHENTICATED');
    // Restarted, the member has no recent records in memory: the same records come from its journal.
    await b.stop();
    b = await startMember(chroot, 'b', bDir);
    await until('b applied everything again', () => b.engine.appliedTxidNow >= last);
    assert.equal(b.engine.recentEncoded(last - 9), null);
    assert.deepEqual(await ask(last - 9), fromMemory);
  } finally {
    client.close();
  }
});
