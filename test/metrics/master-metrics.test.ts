// A namespace shard (a real ZooKeeper, an active and a standby in this process) scraped
// over HTTP as Prometheus and a load balancer would: the metrics are there with plausible
// values that move with writes; /health answers for the active, the standby and a
// stopping active; the checkpoint alert fires end to end and clears once a standby
// checkpoints; a monitor serves its own /health and /metrics.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { TandemClient } from '../../src/client/tandem-client.js';
import { ZooKeeperResolver } from '../../src/client/zk-resolver.js';
import type { ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { limitsWith, type Limits } from '../../src/config/limits.js';
import { connectZooKeeper } from '../../src/election/zk-coordinator.js';
import { memberOfReplica } from '../../src/election/layout.js';
import { Master } from '../../src/master/master.js';
import { Monitor } from '../../src/monitor/monitor.js';
import { silentLogger } from '../../src/util/log.js';
import type { Alert } from '../../src/metrics/alerts.js';
import { health, scrape } from '../helpers/prometheus.js';
import { tempDir } from '../helpers/temp.js';
import { testZooKeeper, waitFor } from '../helpers/zookeeper.js';

const auth = { user: 'tandem', password: 'metrics-test' };
let zk: ZooKeeperServer;
let base: string;
const masters: Master[] = [];
const clients: TandemClient[] = [];

before(async () => {
  zk = await testZooKeeper();
  base = await tempDir();
});
after(async () => {
  for (const c of clients) c.close();
  for (const m of masters) await m.stop().catch(() => undefined);
});

const connect = (chroot: string) => () => connectZooKeeper({ address: { connect: zk.connect, chroot }, auth, sessionTimeoutMs: 2_000, log: silentLogger() });

async function startMember(chroot: string, member: string, limits: Limits): Promise<Master> {
  const m = await Master.start({
    shard: 'ns',
    member,
    dir: join(base, chroot.replaceAll('/', '_'), member),
    host: '127.0.0.1',
    port: 0,
    limits,
    log: silentLogger(),
    superuser: 'root',
    ha: { connect: connect(chroot) },
  });
  masters.push(m);
  return m;
}

function clientFor(chroot: string): TandemClient {
  const client = new TandemClient({ resolver: new ZooKeeperResolver(connect(chroot)), user: 'root', deadlineMs: 20_000, backoff: { baseMs: 10, capMs: 200 } });
  clients.push(client);
  return client;
}

const labels = (m: Master) => ({ shard: 'ns', member: m.options.member });

test('an active and a standby serve their metrics over HTTP, and the figures move with writes', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/metrics-basic';
  const limits = limitsWith();
  const a = await startMember(chroot, 'a', limits);
  await waitFor('a is active', () => a.status().role === 'active', 15_000);
  const b = await startMember(chroot, 'b', limits);
  await waitFor('b in sync', () => (a.status().ha?.isr ?? []).length === 2, 15_000);
  const client = clientFor(chroot);
  await client.mkdirs('/warm-up');

  const before = { a: await scrape(a.httpAddress), b: await scrape(b.httpAddress) };
  assert.equal(before.a.role(), 'active');
  assert.equal(before.b.role(), 'standby');
  assert.equal(before.a.must('tandem_role', { ...labels(a), role: 'standby' }), 0, 'every role has a series, 0 but the current one');
  assert.equal(before.a.must('tandem_epoch', labels(a)), a.engine.currentEpoch);
  assert.ok(before.a.must('tandem_epoch', labels(a)) >= 1);
  assert.equal(before.a.must('tandem_isr_size', labels(a)), 2);
  assert.equal(before.b.value('tandem_isr_size'), undefined, 'only the active reports the ISR');
  assert.equal(before.a.must('tandem_standby_in_sync', { ...labels(a), standby: 'b' }), 1);
  assert.ok(before.a.must('tandem_standby_lag_txids', { standby: 'b' }) >= 0);
  assert.ok(before.a.must('tandem_standby_lag_seconds', { standby: 'b', quantile: '0.99' }) >= 0);
  assert.ok(before.a.must('process_cpu_user_seconds_total') > 0, 'the Node.js process metrics are served too');
  assert.equal(before.a.must('tandem_alert', { alert: 'image-edit-distance' }), 0);
  assert.equal(before.a.must('tandem_alert', { alert: 'checkpoint-overdue' }), 0);
  assert.equal(before.a.value('tandem_safe_mode'), undefined, 'a namespace shard has no safe mode');

  const writes = 30;
  for (let i = 0; i < writes; i++) await client.mkdirs(`/dir-${i}`);
  const appliedNow = a.engine.appliedTxidNow;
  await waitFor('b applied every write', () => b.engine.appliedTxidNow === appliedNow);

  const after = { a: await scrape(a.httpAddress), b: await scrape(b.httpAddress) };
  for (const m of ['a', 'b'] as const) {
    const name = { a, b }[m];
    const txid = after[m].must('tandem_applied_txid', labels(name));
    assert.ok(txid >= before[m].must('tandem_applied_txid', labels(name)) + writes, `${m}: the applied txid grew by the writes`);
    assert.ok(after[m].must('tandem_durable_txid', labels(name)) <= txid);
    assert.ok(
      after[m].must('tandem_journal_fsync_seconds_count', labels(name)) > before[m].must('tandem_journal_fsync_seconds_count', labels(name)),
      `${m}: its journal's group commits were counted`,
    );
    assert.ok(after[m].must('tandem_journal_fsync_seconds_sum', labels(name)) > 0);
    assert.ok(after[m].must('tandem_segments_since_image', labels(name)) >= 1, `${m}: no image yet, its edits lie past none`);
  }
  assert.equal(after.a.must('tandem_committed_txid'), appliedNow, 'the active committed every write');
  const mkdirs = after.a.must('tandem_rpc_duration_seconds_count', { method: 'ns.mkdirs', outcome: 'ok' });
  assert.ok(mkdirs >= writes + 1, `the RPC histogram counted the mkdirs calls by method (${mkdirs})`);
  assert.ok(after.a.must('tandem_rpc_duration_seconds_bucket', { method: 'ns.mkdirs', outcome: 'ok', le: '+Inf' }) === mkdirs);
  assert.ok(after.b.must('tandem_rpc_duration_seconds_count', { method: 'repl.append', outcome: 'ok' }) > 0, 'the standby counts the stream it serves');

  assert.deepEqual(await health(a.httpAddress), { code: 200, body: { status: 'ok', role: 'active' } });
  assert.deepEqual(await health(b.httpAddress), { code: 200, body: { status: 'ok', role: 'standby' } });

  // The admin answer carries the (empty) alert list.
  const status = (await client.status()) as { alerts?: Alert[] };
  assert.deepEqual(status.alerts, []);
});

test('/health: 503 "stopping" while an active drains, then the standby that took over answers 200 as active', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/metrics-stop';
  // The held write must stay in flight until the test lets it go: no ISR shrink, no drain timeout in between.
  const limits = limitsWith({ isrLagMaxMs: 60_000, drainTimeoutMs: 60_000 });
  const a = await startMember(chroot, 'a', limits);
  await waitFor('a is active', () => a.status().role === 'active', 15_000);
  const b = await startMember(chroot, 'b', limits);
  await waitFor('b in sync', () => (a.status().ha?.isr ?? []).map(memberOfReplica).includes('b'), 15_000);
  const client = clientFor(chroot);
  await client.mkdirs('/before');

  // Hold b's stream: the next write waits in flight on a for b's acknowledgement.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const ha = (b as unknown as { ha: { handleReplication(method: string, args: unknown): Promise<unknown> } }).ha;
  const handle = ha.handleReplication.bind(ha);
  ha.handleReplication = async (method, args) => {
    await released;
    return handle(method, args);
  };
  const write = client.mkdirs('/held');
  await waitFor('the write is in flight on a', () => a.server.stats().inFlight >= 1);
  const stopping = a.stop();
  try {
    const answer = await health(a.httpAddress);
    assert.equal(answer.code, 503);
    assert.deepEqual(answer.body, { status: 'unavailable', reason: 'stopping', role: 'active' });
  } finally {
    release();
  }
  await write;
  await stopping;
  await waitFor('b took over', () => b.status().role === 'active', 20_000);
  assert.deepEqual(await health(b.httpAddress), { code: 200, body: { status: 'ok', role: 'active' } });
  const scraped = await scrape(b.httpAddress);
  assert.equal(scraped.role(), 'active');
  assert.ok(scraped.must('tandem_epoch') >= 2, 'the new active is in a new epoch');
  assert.equal(scraped.must('tandem_isr_size'), 1, 'alone in the in-sync set');
});

test('a monitor serves /health and /metrics', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/metrics-monitor';
  const limits = limitsWith();
  const a = await startMember(chroot, 'a', limits);
  await waitFor('a is active', () => a.status().role === 'active', 15_000);
  const monitor = new Monitor({ shard: 'ns', member: 'a', dir: a.engine.dir, connect: connect(chroot), log: silentLogger() });
  await monitor.start();
  try {
    const http = monitor.http;
    await waitFor('the monitor found its master', async () => (await scrape(http)).value('tandem_monitor_master_alive') === 1);
    const scraped = await scrape(http);
    assert.equal(scraped.role(), 'monitor');
    assert.equal(scraped.must('tandem_monitor_zookeeper_session', { shard: 'ns', member: 'a' }), 1);
    assert.equal(scraped.must('tandem_monitor_master_deaths'), 0);
    const answer = await health(http);
    assert.equal(answer.code, 200);
    assert.equal(answer.body.role, 'monitor');
  } finally {
    await monitor.stop();
  }
});

async function tandem(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI_ENTRY, ...args], { timeout: 30_000 });
  return stdout;
}

test('the checkpoint alert fires when no checkpoint is taken for twice its period, and clears once a standby takes one', { timeout: 60_000 }, async () => {
  const chroot = '/tandem/metrics-alert';
  // A period of 300 ms: alone, the active has nobody to checkpoint for it, and the alert is due after 600 ms.
  const limits = limitsWith({ checkpointIntervalMs: 300 });
  const x = await startMember(chroot, 'x', limits);
  await waitFor('x is active', () => x.status().role === 'active', 15_000);
  const client = clientFor(chroot);
  await client.mkdirs('/waits-for-a-checkpoint');

  const alertsOf = async (): Promise<Alert[]> => ((await client.status()) as { alerts: Alert[] }).alerts;
  await waitFor('the alert fires', async () => (await alertsOf()).some((a) => a.alert === 'checkpoint-overdue'), 15_000, 50);
  const [overdue] = await alertsOf();
  assert.match(overdue!.message, /no checkpoint for \d+ s with edits past the newest image \(no image\)/);
  assert.equal((await scrape(x.httpAddress)).must('tandem_alert', { alert: 'checkpoint-overdue' }), 1);
  assert.ok((await scrape(x.httpAddress)).must('tandem_checkpoint_pending_seconds') > 0.6);
  const printed = await tandem('admin', 'status', '--master', x.status().rpc);
  assert.match(printed, /^WARNING checkpoint-overdue: no checkpoint for/m, 'tandem admin status prints the warning');

  // A standby joins, checkpoints and uploads: the alert clears on the active.
  await startMember(chroot, 'y', limits);
  await waitFor('a checkpoint reached x', () => x.status().imageTxid > 0, 20_000, 50);
  await waitFor('the alert clears', async () => (await alertsOf()).length === 0, 15_000, 50);
  const scraped = await scrape(x.httpAddress);
  assert.equal(scraped.must('tandem_alert', { alert: 'checkpoint-overdue' }), 0);
  assert.equal(scraped.must('tandem_checkpoint_txid'), x.status().imageTxid);
  assert.ok(scraped.must('tandem_checkpoint_age_seconds') >= 0);
});
