// A standby FMS and its takeover, against a real ZooKeeper and real processes (NS, the FMS
// active, three datanodes), with the standby as a Master in this process so the test can
// hold back its replication stream — deterministically, no race to win:
// - reports for blocks its journal has not reached go to the deferred queue
//   (admin.status deferredReports) and are placed once the journal reaches them;
// - on takeover the new active stays in safe mode until enough blocks are reported, says so
//   with the counts in its log and status, refuses writes meanwhile, then leaves it;
// - the datanodes follow the new active (epoch 2) and obey its commands: a delete after the
//   takeover frees the replicas on disk.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TandemClient } from '../../src/client/tandem-client.js';
import { limitsWith } from '../../src/config/limits.js';
import { TandemError } from '../../src/errors.js';
import { Master, type MasterStatus } from '../../src/master/master.js';
import { createFileMetaService } from '../../src/master/filemeta-service.js';
import { RpcConnection } from '../../src/rpc/connection.js';
import { ClusterSecret } from '../../src/security/cluster-secret.js';
import { memberOfReplica } from '../../src/election/layout.js';
import { DataCluster, type ClusterDatanode, type ClusterMember } from '../helpers/data-cluster.js';
import { capturingLogger } from '../helpers/log.js';
import { waitFor } from '../helpers/zookeeper.js';

const SHARD = 'fms-0';
const HEARTBEAT_DEADLINE_MS = 3_000;

let cluster: DataCluster;
let client: TandemClient;
let active: ClusterMember;
let standby: Master;
const standbyLog = capturingLogger();
/** While set, the standby refuses its replication stream (the active retries, then drops it from the ISR). */
let holdBack = false;

// One suite, so that its `after` (stopping the in-process standby) runs while ZooKeeper and
// the cluster are still up: the helpers' file-level hooks stop them afterwards.
describe('a standby FMS, then its takeover', () => {
  before(async () => {
    cluster = await DataCluster.start({ fmsShards: 1, fmsMembers: 1, datanodes: 3, heartbeatDeadlineMs: HEARTBEAT_DEADLINE_MS });
    client = cluster.client();
    active = await cluster.waitForActive(SHARD);
    const limits = limitsWith();
    const dir = join(cluster.base, SHARD, 'm2');
    await mkdir(dir, { recursive: true });
    standby = await Master.start({
      shard: SHARD,
      member: 'm2',
      dir,
      host: '127.0.0.1',
      port: 0,
      limits,
      log: standbyLog.log,
      superuser: 'root',
      secret: await ClusterSecret.load(cluster.secretFile),
      service: createFileMetaService({ shard: SHARD, poolMap: cluster.poolMap, limits, superuser: 'root', config: { heartbeatDeadlineMs: HEARTBEAT_DEADLINE_MS }, connect: cluster.connect }),
      ha: { connect: cluster.connect },
    });
    // The test's hand on the stream: the active pushes repl.* calls to this member.
    const ha = (standby as unknown as { ha: { handleReplication(method: string, args: unknown): unknown } }).ha;
    const handle = ha.handleReplication.bind(ha);
    ha.handleReplication = (method, args) => {
      if (holdBack) throw new TandemError('INTERNAL', 'the test holds back this standby\'s replication stream');
      return handle(method, args);
    };
  });
  after(async () => {
    for (const dn of cluster?.datanodes ?? []) signal(dn, 'SIGCONT');
    client?.close();
    await standby?.stop();
    await cluster?.stop();
  }, { timeout: 30_000 });

  function signal(dn: ClusterDatanode, name: 'SIGSTOP' | 'SIGCONT'): void {
    if (dn.process.child.exitCode === null && dn.process.child.signalCode === null) process.kill(dn.process.pid, name);
  }

  /** Shard-specific fields of the standby's admin.status. */
  const fmsStatus = (): MasterStatus & Record<string, unknown> => standby.status();

  async function inSyncMembers(): Promise<string[]> {
    const status = await cluster.status(active);
    return ((status.ha as { isr?: string[] } | undefined)?.isr ?? []).map(memberOfReplica);
  }

  async function blocksOn(dn: ClusterDatanode): Promise<string[]> {
    const names = await readdir(join(dn.dir, 'finalized')).catch(() => [] as string[]);
    return names.filter((n) => !n.endsWith('.meta'));
  }

  async function datanodeStatus(dn: ClusterDatanode): Promise<{ fms: Record<string, Record<string, { active: boolean; epoch: number }>>; fmsEpochs: Record<string, number> }> {
    const [host, port] = dn.process.rpc.split(':');
    const connection = await RpcConnection.connect(host!, Number(port), { limits: limitsWith(), clientName: 'test' });
    try {
      return await connection.call('admin.status', {}, { deadlineMs: 5_000 });
    } finally {
      connection.close();
    }
  }

  async function readAll(path: string): Promise<Buffer> {
    const pieces: Buffer[] = [];
    for await (const piece of await client.openFile(path)) pieces.push(piece as Buffer);
    return Buffer.concat(pieces);
  }

  const first = randomBytes(200_000);
  const held = randomBytes(3 * 256 * 1024);

  test('a standby defers reports for blocks its journal has not reached, and places them once it has', async () => {
    await waitFor('m2 in the in-sync set', async () => (await inSyncMembers()).includes('m2'), 20_000, 100);
    await waitFor('three datanodes heard by the standby', () => fmsStatus().liveDatanodes === 3, 20_000, 100);
    await client.writeFile('/placed', first, { replication: 3 });
    await waitFor('the standby placed the 3 replicas of /placed', () => fmsStatus().replicas === 3, 10_000, 50);
    assert.equal(fmsStatus().deferredReports, 0);

    // The stream is held back: the active drops m2 from its in-sync set and commits without it.
    holdBack = true;
    await client.writeFile('/held', held, { replication: 3, blockSize: 256 * 1024 });
    assert.ok(!(await inSyncMembers()).includes('m2'), 'm2 fell out of the in-sync set');
    // 3 blocks × 3 datanodes reported to a standby that has never heard of the blocks.
    await waitFor('9 reports deferred on the standby', () => fmsStatus().deferredReports === 9, 10_000, 50);
    assert.equal(fmsStatus().replicas, 3, 'nothing placed for blocks the journal has not reached');
    assert.equal(fmsStatus().blocks, 1, 'the standby knows only /placed\'s block');
    assert.equal(fmsStatus().deferredDropped, 0);

    // Released: the stream catches up, and the deferred reports are placed.
    holdBack = false;
    await waitFor('the standby caught up', async () => fmsStatus().appliedTxid === (await cluster.status(active)).appliedTxid && fmsStatus().blocks === 4, 20_000, 50);
    await waitFor('the deferred reports placed', () => fmsStatus().deferredReports === 0 && fmsStatus().replicas === 12, 10_000, 50);
    assert.ok(standbyLog.lines.some((l) => /^placed \d+ deferred block reports: the journal reached their blocks/.test(String(l.msg))));
    await waitFor('m2 back in the in-sync set', async () => (await inSyncMembers()).includes('m2'), 20_000, 100);
  });

  test('the new active stays in safe mode until enough blocks are reported, says so, then leaves it; datanodes obey it', async () => {
    // The datanodes freeze (SIGSTOP) until the standby counts them dead: after the takeover
    // no replica counts, so safe mode lasts until they wake up and report.
    for (const dn of cluster.datanodes) signal(dn, 'SIGSTOP');
    try {
      await waitFor('the standby counts the frozen datanodes dead', () => fmsStatus().liveDatanodes === 0, 20_000, 100);
      await active.process.kill9();
      await waitFor('m2 active and in safe mode', () => fmsStatus().role === 'active' && fmsStatus().safeMode === true, 20_000, 50);
      const status = fmsStatus();
      assert.equal(status.epoch, 2);
      assert.deepEqual(status.safeModeBlocks, { reported: 0, complete: 4 });
      assert.equal(status.safeModeFraction, 0);
      assert.ok(
        standbyLog.lines.some((l) => String(l.msg) === 'active of fms-0: in safe mode, 0 of 4 complete blocks have a reported replica (0.00%), waiting for 99.9%'),
        'the log says safe mode, with the count',
      );
      // Writes wait for the end of safe mode.
      const [host, port] = standby.status().rpc.split(':');
      const connection = await RpcConnection.connect(host!, Number(port), { limits: limitsWith(), clientName: 'test' });
      try {
        await assert.rejects(
          connection.call('fms.addBlock', { fileId: 999, pool: 0, user: 'root', clientId: 'test', callId: 1 }, { deadlineMs: 5_000 }),
          (err: unknown) => err instanceof TandemError && err.code === 'SAFE_MODE' && /0 of 4 complete blocks/.test(err.message),
        );
      } finally {
        connection.close();
      }
    } finally {
      for (const dn of cluster.datanodes) signal(dn, 'SIGCONT');
    }

    // Awake, the datanodes find the new active and report: safe mode ends.
    await waitFor('safe mode left', () => fmsStatus().safeMode === false, 30_000, 50);
    assert.deepEqual(fmsStatus().safeModeBlocks, { reported: 4, complete: 4 });
    assert.ok(standbyLog.lines.some((l) => /^left safe mode after \d+ ms: 4 of 4 complete blocks have a reported replica$/.test(String(l.msg))));
    for (const dn of cluster.datanodes) {
      await waitFor(`${dn.id} follows m2 at epoch 2`, async () => {
        const links = await datanodeStatus(dn);
        return links.fmsEpochs[SHARD] === 2 && links.fms[SHARD]?.m2?.active === true && links.fms[SHARD]?.m2?.epoch === 2 && links.fms[SHARD]?.m1 === undefined;
      }, 20_000, 100);
    }
    assert.deepEqual(await readAll('/held'), held);

    // A command of the new active reaches the datanodes: /placed's replicas go once deleted.
    const before = await Promise.all(cluster.datanodes.map(blocksOn));
    assert.ok(await client.delete('/placed'));
    await waitFor('the replicas of /placed deleted on every datanode', async () => {
      const now = await Promise.all(cluster.datanodes.map(blocksOn));
      return now.every((blocks, i) => blocks.length === before[i]!.length - 1);
    }, 20_000, 100);
    assert.deepEqual(await readAll('/held'), held);
  });
});
