// Real processes against a real ZooKeeper: kill -9 of the active under a create load (the
// standby takes over when the dead session expires, after the old active's read lease), the
// killed master restarted so it rejoins as a standby, and every acknowledged create still
// there; a deposed active (frozen with SIGSTOP past its session, then thawed) refused by its
// standbys — its monitor, seeing the frozen process alive, declares nothing, so the new
// active waits the lease out; and with the monitor of a killed active alive, a takeover at
// once, without the lease wait (the monitor recorded the death: `fenced`).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runMetaBench } from '../../src/bench/meta.js';
import { verifyAckLog } from '../../src/bench/verify.js';
import { TandemClient } from '../../src/client/tandem-client.js';
import { ZooKeeperResolver } from '../../src/client/zk-resolver.js';
import { startMasterProcess, type MasterProcess } from '../../src/cluster/master-process.js';
import { startZooKeeper, type ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import { connectZooKeeper } from '../../src/election/zk-coordinator.js';
import { shardPaths, type ActiveInfo, type FencedActive } from '../../src/election/layout.js';
import { readFile } from 'node:fs/promises';
import { silentLogger } from '../../src/util/log.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { tempDir } from '../helpers/temp.js';
import { testSecretFile } from '../helpers/secret.js';

let zk: ZooKeeperServer;
let base: string;
/** Every master and monitor holds the cluster secret. */
let secretFile: string;
const processes: MasterProcess[] = [];
const monitors: ChildProcess[] = [];
const auth = { user: 'tandem', password: 'test-secret' };
const SESSION_TIMEOUT_MS = 1_500;

before(async () => {
  base = await tempDir();
  secretFile = await testSecretFile(base);
  zk = await startZooKeeper({ dir: join(base, 'zk'), tickTimeMs: 500 });
});
after(async () => {
  for (const m of monitors) {
    if (m.exitCode === null && m.signalCode === null) {
      m.kill('SIGKILL');
      await once(m, 'exit');
    }
  }
  for (const p of processes) {
    try {
      process.kill(p.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await p.kill9();
  }
  await zk?.stopAll();
});

function connect(chroot: string) {
  return () => connectZooKeeper({ address: { connect: zk.connect, chroot }, auth, sessionTimeoutMs: SESSION_TIMEOUT_MS, log: silentLogger() });
}

const memberDir = (chroot: string, member: string): string => join(base, chroot.replaceAll('/', '_'), member);

async function startMember(chroot: string, member: string, rpc = '127.0.0.1:0', sessionTimeoutMs = SESSION_TIMEOUT_MS): Promise<MasterProcess> {
  const dir = memberDir(chroot, member);
  const p = await startMasterProcess({
    dir,
    rpc,
    member,
    logFile: join(base, `${chroot.replaceAll('/', '_')}-${member}.log`),
    extraArgs: ['--zk', `${zk.connect}${chroot}`, '--zk-auth', `${auth.user}:${auth.password}`, '--secret-file', secretFile, '--session-timeout-ms', String(sessionTimeoutMs), '--superuser', 'root'],
  });
  processes.push(p);
  return p;
}

/** A node's data under the shard's paths, read through a session of its own. */
async function readNode<T>(chroot: string, path: (paths: ReturnType<typeof shardPaths>) => string): Promise<T | null> {
  const session = await connect(chroot)();
  try {
    return (await session.get<T>(path(shardPaths('ns'))))?.data ?? null;
  } finally {
    await session.close();
  }
}

const activeMember = (chroot: string): Promise<ActiveInfo | null> => readNode<ActiveInfo>(chroot, (p) => p.active);

/** The takeover line of the member that became active in `epoch` (its pino log, JSON). */
async function takeoverLine(chroot: string, member: string, epoch: number): Promise<{ oldActiveDead: boolean; leaseWaitMs: number } | null> {
  const text = await readFile(join(base, `${chroot.replaceAll('/', '_')}-${member}.log`), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; epoch?: number; oldActiveDead?: boolean; leaseWaitMs?: number };
    if (entry.epoch === epoch && /^epoch \d+ → \d+:/.test(entry.msg ?? '')) return { oldActiveDead: entry.oldActiveDead!, leaseWaitMs: entry.leaseWaitMs! };
  }
  return null;
}

/** `tandem monitor` beside a member; its log (stdout) is collected. */
function startMonitor(chroot: string, member: string): { log: () => string } {
  const monitor = spawn(
    process.execPath,
    [CLI_ENTRY, 'monitor', '--shard', 'ns', '--member', member, '--dir', memberDir(chroot, member), '--zk', `${zk.connect}${chroot}`, '--zk-auth', `${auth.user}:${auth.password}`, '--secret-file', secretFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  monitors.push(monitor);
  let log = '';
  monitor.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  return { log: () => log };
}

const fencedRecord = (chroot: string): Promise<FencedActive | null> => readNode<FencedActive>(chroot, (p) => p.fenced);

async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}

test('kill -9 of the active under load: a standby takes over and no acknowledged create is lost', { timeout: 120_000 }, async () => {
  const chroot = '/tandem/crash';
  const members = new Map<string, MasterProcess>();
  members.set('m1', await startMember(chroot, 'm1'));
  await until('m1 is active', () => activeMember(chroot));
  members.set('m2', await startMember(chroot, 'm2'));
  members.set('m3', await startMember(chroot, 'm3'));
  const client = new TandemClient({ resolver: new ZooKeeperResolver(connect(chroot)), user: 'root', deadlineMs: 60_000, backoff: { baseMs: 20, capMs: 250 } });
  const ackLog = join(base, 'crash-acks.txt');
  try {
    // Let the standbys join the ISR before the load, so the crash happens with synchronous replicas.
    await until('both standbys in sync', async () => ((await client.status()) as { ha?: { isr: string[] } }).ha?.isr.length === 3);
    const load = runMetaBench(client, { op: 'create', n: 20_000, window: 128, ackLog, warmup: 0 });
    await new Promise((r) => setTimeout(r, 1_000));
    const victim = (await activeMember(chroot))!;
    const victimProcess = members.get(victim.member)!;
    await victimProcess.kill9();
    const next = await until('another member is active', async () => {
      const now = await activeMember(chroot);
      return now && now.member !== victim.member ? now : null;
    });
    assert.ok(next.epoch > victim.epoch, `epoch went ${victim.epoch} → ${next.epoch}`);
    // No monitor saw the death: the new active waited out the old one's read lease.
    const line = await until('the takeover line', () => takeoverLine(chroot, next.member, next.epoch));
    assert.equal(line.oldActiveDead, false);
    assert.equal(await fencedRecord(chroot), null);
    // The killed master restarts on its own storage and rejoins as a standby.
    const restarted = await startMember(chroot, victim.member, victimProcess.rpc);
    members.set(victim.member, restarted);
    const result = await load;
    assert.equal(result.errors, 0, `creates failed across the failover: ${result.firstError}`);
    const verified = await verifyAckLog(client, ackLog);
    assert.equal(verified.missing, 0, `acknowledged creates lost: ${verified.missingSample.join(' ')}`);
    assert.ok(verified.checked >= 20_000, `checked ${verified.checked}`);
    // The restarted member catches up with the new active (it may first truncate a tail nobody acknowledged).
    const restartedClient = new TandemClient({ masters: [restarted.rpc], deadlineMs: 5_000 });
    try {
      const activeTxid = ((await client.status()) as { appliedTxid: number }).appliedTxid;
      await until('the restarted member caught up', async () => ((await restartedClient.status()) as { appliedTxid: number }).appliedTxid >= activeTxid);
    } finally {
      restartedClient.close();
    }
  } finally {
    client.close();
  }
});

test('a deposed active (frozen past its session) is refused by its standbys and stops serving', { timeout: 120_000 }, async () => {
  const chroot = '/tandem/deposed';
  const m1 = await startMember(chroot, 'm1');
  await until('m1 is active', () => activeMember(chroot));
  // Its monitor sees a frozen process alive: it must neither remove its nodes nor say it is dead.
  const monitor = startMonitor(chroot, 'm1');
  await startMember(chroot, 'm2');
  await startMember(chroot, 'm3');
  const direct = new TandemClient({ masters: [m1.rpc], user: 'root', deadlineMs: 3_000, backoff: { baseMs: 10, capMs: 100 } });
  const viaZk = new TandemClient({ resolver: new ZooKeeperResolver(connect(chroot)), user: 'root', deadlineMs: 30_000 });
  try {
    await until('both standbys in sync', async () => ((await direct.status()) as { ha?: { isr: string[] } }).ha?.isr.length === 3);
    await direct.mkdirs('/before');
    await until('the monitor follows m1', async () => monitor.log().includes(`runs as pid ${m1.pid}`));
    process.kill(m1.pid, 'SIGSTOP');
    const next = await until('a standby took over', async () => {
      const now = await activeMember(chroot);
      return now && now.member !== 'm1' ? now : null;
    });
    // The frozen active was not fenced: the new one waited its read lease out.
    const line = await until('the takeover line', () => takeoverLine(chroot, next.member, next.epoch));
    assert.equal(line.oldActiveDead, false);
    assert.equal(await fencedRecord(chroot), null);
    assert.doesNotMatch(monitor.log(), /died/);
    await viaZk.mkdirs('/after-takeover');
    process.kill(m1.pid, 'SIGCONT');
    // The thawed m1 must not acknowledge a write nor answer a read from its old state.
    await assert.rejects(direct.mkdirs('/from-deposed'), (err: Error & { code?: string }) => ['NOT_ACTIVE', 'DEADLINE_EXCEEDED', 'STALE_EPOCH'].includes(err.code ?? ''));
    await assert.rejects(direct.getFileInfo('/before'), (err: Error & { code?: string }) => ['NOT_ACTIVE', 'DEADLINE_EXCEEDED', 'STALE_EPOCH'].includes(err.code ?? ''));
    assert.equal(await viaZk.getFileInfo('/from-deposed'), null, 'a write sent to the deposed active must not exist');
    assert.ok(await viaZk.getFileInfo('/after-takeover'));
    assert.ok(await viaZk.getFileInfo('/before'));
    const status = (await until('m1 is a standby again', async () => {
      const s = (await direct.status().catch(() => null)) as { role?: string } | null;
      return s && s.role !== 'active' ? s : null;
    })) as { role: string };
    assert.notEqual(status.role, 'active');
    assert.notEqual(next.member, 'm1');
  } finally {
    direct.close();
    viaZk.close();
  }
});

test('with its monitor alive, a killed active is replaced long before its ZooKeeper session could expire', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/monitored';
  // 10 s sessions (the most a 500 ms tick allows): a takeover within 8 s can only come from the monitor.
  const m1 = await startMember(chroot, 'm1', '127.0.0.1:0', 10_000);
  await until('m1 is active', () => activeMember(chroot));
  await startMember(chroot, 'm2', '127.0.0.1:0', 10_000);
  const monitor = startMonitor(chroot, 'm1');
  const direct = new TandemClient({ masters: [m1.rpc], user: 'root', deadlineMs: 5_000 });
  try {
    await until('m2 in sync', async () => ((await direct.status()) as { ha?: { isr: string[] } }).ha?.isr.length === 2);
    await direct.mkdirs('/monitored');
  } finally {
    direct.close();
  }
  await until('the monitor follows m1', async () => monitor.log().includes(`runs as pid ${m1.pid}`));
  const killed = (await activeMember(chroot))!;
  await m1.kill9();
  const next = await until(
    'm2 took over',
    async () => {
      const now = await activeMember(chroot);
      return now?.member === 'm2' ? now : null;
    },
    8_000,
  );
  assert.equal(next.member, 'm2');
  assert.match(monitor.log(), /master m1 \(pid \d+\) died: removed its n_\d+/);
  // The monitor recorded the death of the active of that epoch, and the new active, seeing it, did not wait out its read lease.
  assert.deepEqual(await fencedRecord(chroot), { member: 'm1', epoch: killed.epoch, pid: m1.pid, atMs: (await fencedRecord(chroot))?.atMs });
  const line = await until('the takeover line', () => takeoverLine(chroot, 'm2', next.epoch));
  assert.deepEqual(line, { oldActiveDead: true, leaseWaitMs: 0 });
  const viaZk = new TandemClient({ resolver: new ZooKeeperResolver(connect(chroot)), user: 'root', deadlineMs: 10_000 });
  try {
    assert.ok(await viaZk.getFileInfo('/monitored'), 'the write before the crash survived');
  } finally {
    viaZk.close();
  }
});
