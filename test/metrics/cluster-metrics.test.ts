// Real processes (a ZooKeeper, the namespace, an FMS shard of an active and a standby, a
// datanode) scraped over HTTP: the FMS figures (safe mode, the deferred queue) and the
// datanode's usage are there, and move when a file is written.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { test } from 'node:test';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { useDataCluster, type ClusterMember, type DataCluster } from '../helpers/data-cluster.js';
import { health, scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/zookeeper.js';

let cluster: DataCluster;
let client: TandemClient;

useDataCluster({ nsMembers: 1, fmsShards: 1, fmsMembers: 2, datanodes: 1 }, (started, itsClient) => {
  cluster = started;
  client = itsClient;
});

const httpOf = async (member: ClusterMember | { process: { rpc: string } }): Promise<string> => {
  const status = await cluster.status(member as ClusterMember);
  assert.equal(typeof status.http, 'string');
  return status.http as string;
};

test('the datanode and the FMS members serve their metrics and health, and the figures move with a write', { timeout: 90_000 }, async () => {
  const dn = cluster.datanodes[0]!;
  const dnHttp = await httpOf(dn);
  const fmsActive = await cluster.waitForActive('fms-0');
  const fmsStandby = cluster.members.find((m) => m.shard === 'fms-0' && m !== fmsActive)!;
  const ns = await cluster.waitForActive('ns');
  const [activeHttp, standbyHttp, nsHttp] = [await httpOf(fmsActive), await httpOf(fmsStandby), await httpOf(ns)];

  const before = await scrape(dnHttp);
  assert.equal(before.role(), 'datanode');
  const dnLabels = { datanode: dn.id };
  assert.ok(before.must('tandem_datanode_capacity_bytes', dnLabels) > 0);
  assert.equal(before.must('tandem_datanode_copies_in_progress', dnLabels), 0);
  assert.equal(before.must('tandem_datanode_deletes_in_progress', dnLabels), 0);
  assert.ok(before.must('tandem_rpc_duration_seconds_count', { method: 'admin.status', outcome: 'ok' }) >= 1, 'the status call just made was counted');

  const size = 300_000;
  await client.writeFile('/metrics/file', randomBytes(size), { replication: 1 });
  // The datanode reports the finalized replica to both FMS members.
  await waitFor('the replica reported to the standby too', async () => (await scrape(standbyHttp)).value('tandem_safe_mode_reported_fraction') === 1 && (await cluster.status(fmsStandby)).blocks === 1, 20_000, 100);

  const after = await scrape(dnHttp);
  assert.equal(after.must('tandem_datanode_replicas', dnLabels), before.must('tandem_datanode_replicas', dnLabels) + 1);
  assert.ok(after.must('tandem_datanode_used_bytes', dnLabels) >= before.must('tandem_datanode_used_bytes', dnLabels) + size);

  const active = await scrape(activeHttp);
  const fmsLabels = { shard: 'fms-0', member: fmsActive.name };
  assert.equal(active.role(), 'active');
  assert.equal(active.must('tandem_safe_mode', fmsLabels), 0, 'the active left safe mode');
  assert.equal(active.must('tandem_safe_mode_reported_fraction', fmsLabels), 1);
  assert.equal(active.must('tandem_deferred_reports', fmsLabels), 0);
  assert.ok(active.must('tandem_applied_txid', fmsLabels) >= 3, 'addBlock and complete were journaled');
  assert.ok(active.all('tandem_rpc_duration_seconds_count').some((s) => s.labels.method?.startsWith('fms.') && s.value > 0), 'FMS methods are labelled');
  assert.ok(active.must('tandem_journal_fsync_seconds_count', fmsLabels) > 0);

  const standby = await scrape(standbyHttp);
  assert.equal(standby.role(), 'standby');
  assert.equal(standby.value('tandem_safe_mode'), undefined, 'a standby has no safe mode');
  assert.ok(standby.must('tandem_deferred_reports') >= 0, 'the standby reports its deferred queue');
  assert.equal(standby.must('tandem_applied_txid'), active.must('tandem_applied_txid'));

  assert.equal((await scrape(nsHttp)).role(), 'active');
  assert.deepEqual(await health(activeHttp), { code: 200, body: { status: 'ok', role: 'active' } });
  assert.deepEqual(await health(standbyHttp), { code: 200, body: { status: 'ok', role: 'standby' } });
  assert.deepEqual(await health(nsHttp), { code: 200, body: { status: 'ok', role: 'active' } });
  assert.deepEqual(await health(dnHttp), { code: 200, body: { status: 'ok', role: 'datanode' } });
});

test('tandem admin status --zk asks every shard\'s active for its alerts', { timeout: 60_000 }, async () => {
  const run = (...args: string[]) => promisify(execFile)(process.execPath, [CLI_ENTRY, 'admin', 'status', '--zk', cluster.zkAddress, '--zk-auth', cluster.zkAuth, ...args], { timeout: 30_000 });
  const json = JSON.parse((await run('--json')).stdout) as { shards: Array<{ shard: string; active: string | null; alerts: unknown[] }> };
  assert.deepEqual(json.shards.map((s) => s.shard).sort(), ['fms-0', 'ns']);
  for (const s of json.shards) assert.ok(s.active !== null && Array.isArray(s.alerts) && s.alerts.length === 0, `${s.shard}: its active answered, calm (${JSON.stringify(s)})`);
  // The registry as stored, with the alerts each active gave.
  const registry = JSON.parse((await run('--registry', '--json')).stdout) as { shards: Record<string, unknown>; alerts: Record<string, unknown> };
  assert.deepEqual(Object.keys(registry.shards).sort(), ['fms-0', 'ns']);
  assert.deepEqual(registry.alerts, { ns: [], 'fms-0': [] }, 'both actives answered, calm');
  const text = (await run()).stdout;
  assert.match(text, /^shard fms-0: epoch \d+/m);
  assert.doesNotMatch(text, /WARNING|alerts unknown/);
});
