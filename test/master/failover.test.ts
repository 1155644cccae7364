// Real processes against a real ZooKeeper: kill -9 of the active under a create load (the
// standby takes over when the dead session expires), the killed master restarted so it
// rejoins as a standby, and every acknowledged create still there; and a deposed active
// (frozen with SIGSTOP past its session, then thawed) refused by its standbys.
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
import { shardPaths, type ActiveInfo } from '../../src/election/layout.js';
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

async function activeMember(chroot: string): Promise<ActiveInfo | null> {
  const session = await connect(chroot)();
  try {
    return (await session.get<ActiveInfo>(shardPaths('ns').active))?.data ?? null;
  } finally {
    await session.close();
  }
}

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
  await startMember(chroot, 'm2');
  await startMember(chroot, 'm3');
  const direct = new TandemClient({ masters: [m1.rpc], user: 'root', deadlineMs: 3_000, backoff: { baseMs: 10, capMs: 100 } });
  const viaZk = new TandemClient({ resolver: new ZooKeeperResolver(connect(chroot)), user: 'root', deadlineMs: 30_000 });
  try {
    await until('both standbys in sync', async () => ((await direct.status()) as { ha?: { isr: string[] } }).ha?.isr.length === 3);
    await direct.mkdirs('/before');
    process.kill(m1.pid, 'SIGSTOP');
    const next = await until('a standby took over', async () => {
      const now = await activeMember(chroot);
      return now && now.member !== 'm1' ? now : null;
    });
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
  const monitor = spawn(
    process.execPath,
    [CLI_ENTRY, 'monitor', '--shard', 'ns', '--member', 'm1', '--dir', memberDir(chroot, 'm1'), '--zk', `${zk.connect}${chroot}`, '--zk-auth', `${auth.user}:${auth.password}`, '--secret-file', secretFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  monitors.push(monitor);
  let monitorLog = '';
  monitor.stdout!.on('data', (chunk: Buffer) => (monitorLog += chunk.toString()));
  const direct = new TandemClient({ masters: [m1.rpc], user: 'root', deadlineMs: 5_000 });
  try {
    await until('m2 in sync', async () => ((await direct.status()) as { ha?: { isr: string[] } }).ha?.isr.length === 2);
    await direct.mkdirs('/monitored');
  } finally {
    direct.close();
  }
  await until('the monitor follows m1', async () => monitorLog.includes(`runs as pid ${m1.pid}`));
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
  assert.match(monitorLog, /master m1 \(pid \d+\) died: removed its n_\d+/);
  const viaZk = new TandemClient({ resolver: new ZooKeeperResolver(connect(chroot)), user: 'root', deadlineMs: 10_000 });
  try {
    assert.ok(await viaZk.getFileInfo('/monitored'), 'the write before the crash survived');
  } finally {
    viaZk.close();
  }
});
