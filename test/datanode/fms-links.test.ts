// A datanode's links to the FMS members (src/datanode/fms-links.ts) against members that are
// real RPC servers on loopback, found through an in-memory ZooKeeper (the fake behind the
// same Coordinator port): commands are obeyed only from the active of the highest epoch the
// datanode has seen — in ZooKeeper's epoch counter or in any member's answer — so a deposed
// active that still believes it is active commands nothing. Also: a whole report on first
// contact, heartbeats that go on while a copy runs, saying how many copies are under way, and
// copies that did not land told to the member that handed them out until it answers.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { FakeZooKeeper } from '../../src/election/fake-coordinator.js';
import type { Coordinator } from '../../src/election/coordinator.js';
import { shardPaths } from '../../src/election/layout.js';
import { formatPoolMap } from '../../src/election/pool-map.js';
import { CommandRunner } from '../../src/datanode/command-runner.js';
import { ANY_GEN_STAMP } from '../../src/filemeta/block-map.js';
import { FmsLinks, type FmsCommand } from '../../src/datanode/fms-links.js';
import type { ReplicaInfo } from '../../src/datanode/block-store.js';
import { RpcServer } from '../../src/rpc/server.js';
import { silentLogger } from '../../src/util/log.js';
import { capturingLogger } from '../helpers/log.js';
import { waitFor } from '../helpers/zookeeper.js';

const SHARD = 'fms-0';
const CHROOT = '/tandem/links';
const limits = limitsWith();
const paths = shardPaths(SHARD);

/** What a fake FMS member answers, and what it received. */
interface FakeMember {
  name: string;
  rpc: string;
  answer: { epoch: number; active: boolean; commands: FmsCommand[]; needFullReport: boolean };
  heartbeats: Array<{ epoch: number; copiesInProgress: number; copyFailures?: unknown[] }>;
  fullReports: number;
  /** Heartbeats to refuse (after recording them) before answering again. */
  refuseHeartbeats?: number;
  server: RpcServer;
}

const servers: RpcServer[] = [];
const linksToStop: FmsLinks[] = [];
after(async () => {
  for (const links of linksToStop) await links.stop();
  for (const server of servers) await server.close();
});

async function fakeMember(zk: Coordinator, name: string, answer: FakeMember['answer']): Promise<FakeMember> {
  const member: Partial<FakeMember> & { heartbeats: FakeMember['heartbeats']; fullReports: number } = { name, answer, heartbeats: [], fullReports: 0 };
  const server = new RpcServer({
    handler: (method, args) => {
      const a = args as { epoch: number; copiesInProgress: number; last?: boolean; copyFailures?: unknown[] };
      if (method === 'dn.heartbeat') {
        member.heartbeats.push({ epoch: a.epoch, copiesInProgress: a.copiesInProgress, ...(a.copyFailures ? { copyFailures: a.copyFailures } : {}) });
        if ((member.refuseHeartbeats ?? 0) > 0) {
          member.refuseHeartbeats!--;
          throw new Error('not now');
        }
        return member.answer;
      }
      if (method === 'dn.blockReport') {
        if (a.last) member.fullReports++;
        return { pages: 1 };
      }
      return null;
    },
    methods: new Set(['dn.heartbeat', 'dn.blockReport', 'dn.incrementalReport']),
    limits,
    log: silentLogger(),
    serverName: `fake ${name}`,
  });
  servers.push(server);
  const address = await server.listen('127.0.0.1', 0);
  member.rpc = `${address.host}:${address.port}`;
  member.server = server;
  await zk.ensurePath(paths.election);
  await zk.create(`${paths.election}/n_`, { member: name, rpc: member.rpc }, 'ephemeral-sequential');
  return member as FakeMember;
}

async function shard(): Promise<{ zk: FakeZooKeeper; admin: Coordinator }> {
  const zk = new FakeZooKeeper();
  const admin = zk.session({ chroot: CHROOT });
  await formatPoolMap(admin, { pools: 1, shards: [SHARD] });
  await admin.ensurePath(paths.root);
  return { zk, admin };
}

function links(zk: FakeZooKeeper, opts: { execute?: (shard: string, command: FmsCommand, member: string) => void; copiesInProgress?: () => number; replicas?: ReplicaInfo[] } = {}) {
  const executed: FmsCommand[] = [];
  const { log, lines } = capturingLogger();
  const fmsLinks = new FmsLinks({
    self: { id: 'dn1', rpc: '127.0.0.1:1', data: '127.0.0.1:2', http: '' },
    connect: async () => zk.session({ chroot: CHROOT }),
    limits,
    log,
    replicas: () => opts.replicas ?? [],
    capacity: () => ({ capacityBytes: 1_000, usedBytes: 0 }),
    execute: opts.execute ?? ((_shard, command) => void executed.push(command)),
    ...(opts.copiesInProgress ? { copiesInProgress: opts.copiesInProgress } : {}),
    heartbeatIntervalMs: 20,
  });
  linksToStop.push(fmsLinks);
  return { fmsLinks, executed, lines };
}

const deleteOf = (...blockIds: string[]): FmsCommand => ({ type: 'delete', blockIds, genStampsMax: blockIds.map(() => ANY_GEN_STAMP) });

/** Waits until `member` has received `count` more heartbeats than now. */
async function heartbeatsMore(member: FakeMember, count: number): Promise<void> {
  const target = member.heartbeats.length + count;
  await waitFor(`${count} more heartbeats to ${member.name}`, () => member.heartbeats.length >= target, 5_000);
}

test('commands are obeyed from the active of the epoch in ZooKeeper; once the counter moves on, the deposed active is ignored', async () => {
  const { zk, admin } = await shard();
  await admin.create(paths.epoch, 1, 'persistent');
  const old = await fakeMember(admin, 'm1', { epoch: 1, active: true, commands: [deleteOf('fms-0_1')], needFullReport: false });
  const { fmsLinks, executed, lines } = links(zk);
  await fmsLinks.start();
  await waitFor('the active of epoch 1 obeyed', () => executed.length > 0, 5_000);
  assert.deepEqual(executed[0], deleteOf('fms-0_1'));

  // A takeover raises the counter before the new active serves. The old active has not
  // heard yet and still answers "active, epoch 1" with commands: the datanode refuses them
  // although its successor has not answered a single heartbeat.
  const counter = await admin.get<number>(paths.epoch);
  await admin.set(paths.epoch, 2, counter!.version);
  await waitFor('the datanode saw epoch 2 in ZooKeeper', () => fmsLinks.epochs()[SHARD] === 2, 5_000);
  executed.length = 0;
  await heartbeatsMore(old, 5);
  assert.deepEqual(executed, [], 'no command of the deposed active was obeyed');
  assert.ok(lines.some((l) => String(l.msg).includes('ignored 1 commands from fms-0/m1: its epoch 1 is not the newest active\'s (2)')));
  assert.ok(old.heartbeats.at(-1)!.epoch >= 2, 'heartbeats tell members the newest epoch seen');

  // The new active answers: its commands are obeyed, the old one's still are not.
  const fresh = await fakeMember(admin, 'm2', { epoch: 2, active: true, commands: [deleteOf('fms-0_2')], needFullReport: false });
  await waitFor('the active of epoch 2 obeyed', () => executed.length > 0, 5_000);
  await heartbeatsMore(old, 3);
  await heartbeatsMore(fresh, 3);
  assert.ok(executed.length >= 2);
  for (const command of executed) assert.deepEqual(command, deleteOf('fms-0_2'));
});

test('an answer without commands raises the epoch too: a member of a newer epoch fences the old active even when ZooKeeper lags', async () => {
  const { zk, admin } = await shard();
  await admin.create(paths.epoch, 4, 'persistent');
  const old = await fakeMember(admin, 'm1', { epoch: 4, active: true, commands: [deleteOf('fms-0_7')], needFullReport: false });
  const { fmsLinks, executed } = links(zk);
  await fmsLinks.start();
  await waitFor('the active of epoch 4 obeyed', () => executed.length > 0, 5_000);

  // A member of epoch 5 (the counter in ZooKeeper still says 4) answers with no command.
  const newer = await fakeMember(admin, 'm2', { epoch: 5, active: false, commands: [], needFullReport: false });
  await waitFor('the datanode saw epoch 5 from m2', () => fmsLinks.epochs()[SHARD] === 5, 5_000);
  executed.length = 0;
  await heartbeatsMore(old, 5);
  await heartbeatsMore(newer, 1);
  assert.deepEqual(executed, [], 'epoch 4 is no longer the newest: its active commands nothing');

  // A standby that says "active" at the newest epoch is not enough either: only active and newest.
  old.answer = { epoch: 5, active: false, commands: [deleteOf('fms-0_8')], needFullReport: false };
  await heartbeatsMore(old, 5);
  assert.deepEqual(executed, [], 'commands from a member that is not active are ignored');
});

test('a new link sends a whole report on first contact, even to a member that does not ask for one', async () => {
  const { zk, admin } = await shard();
  await admin.create(paths.epoch, 1, 'persistent');
  const member = await fakeMember(admin, 'm1', { epoch: 1, active: true, commands: [], needFullReport: false });
  const replicas: ReplicaInfo[] = [{ blockId: 'fms-0_3', genStamp: 1, length: 10, finalized: true } as ReplicaInfo];
  const { fmsLinks } = links(zk, { replicas });
  await fmsLinks.start();
  await heartbeatsMore(member, 5);
  assert.equal(member.fullReports, 1, 'one whole report (a restarted datanode is not taken for the one the member knew), then incremental ones');
});

test('heartbeats go on while copies run, each saying how many are under way; copies are bounded and not repeated', async () => {
  const { zk, admin } = await shard();
  await admin.create(paths.epoch, 1, 'persistent');
  const releases: Array<() => void> = [];
  const copied: string[] = [];
  const runner = new CommandRunner({
    deleteReplica: async () => 'deleted' as const,
    recoverReplica: async () => undefined,
    onDeleted: () => undefined,
    copy: (command) => {
      copied.push(command.blockId);
      return new Promise<void>((resolve) => releases.push(resolve));
    },
    log: silentLogger(),
    copiesInFlightMax: 2,
    copiesQueuedMax: 2,
  });
  const replicate = (blockId: string): FmsCommand => ({ type: 'replicate', blockId, genStamp: 1, length: 10, targets: [{ id: 'dn2', data: '127.0.0.1:3' }] });
  // The active hands out five copies, one of them twice.
  const member = await fakeMember(admin, 'm1', {
    epoch: 1,
    active: true,
    commands: ['fms-0_1', 'fms-0_2', 'fms-0_2', 'fms-0_3', 'fms-0_4', 'fms-0_5'].map(replicate),
    needFullReport: false,
  });
  const { fmsLinks } = links(zk, { execute: (s, c, m) => runner.submit(s, c, m), copiesInProgress: () => runner.copiesInProgress });
  await fmsLinks.start();
  await waitFor('two copies running', () => copied.length === 2, 5_000);
  member.answer = { ...member.answer, commands: [] };
  await heartbeatsMore(member, 5);
  assert.deepEqual(copied, ['fms-0_1', 'fms-0_2'], 'two at a time');
  assert.equal(runner.copiesInProgress, 4, 'two running, two waiting; the repeated block and the one past the queue were dropped');
  assert.equal(member.heartbeats.at(-1)!.copiesInProgress, 4, 'the FMS hears how busy the datanode is');

  for (let round = 0; round < 200 && (copied.length < 4 || releases.length > 0); round++) {
    releases.shift()?.();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(copied, ['fms-0_1', 'fms-0_2', 'fms-0_3', 'fms-0_4']);
  await waitFor('nothing under way', () => runner.copiesInProgress === 0, 5_000);
  await heartbeatsMore(member, 2);
  assert.equal(member.heartbeats.at(-1)!.copiesInProgress, 0);
  await runner.stop();
});

test('deletes wait in a bounded backlog that heartbeats report, and a delete meant for an older genStamp keeps a newer replica', async () => {
  const releases: Array<() => void> = [];
  const asked: Array<[string, number]> = [];
  const deletedReported: string[] = [];
  const runner = new CommandRunner({
    deleteReplica: (blockId, genStampMax) => {
      asked.push([blockId, genStampMax]);
      return new Promise((resolve) => releases.push(() => resolve(blockId === 'fms-0_2' ? 'newer' : 'deleted')));
    },
    onDeleted: (blockId) => deletedReported.push(blockId),
    recoverReplica: async () => undefined,
    copy: async () => undefined,
    log: silentLogger(),
    copiesInFlightMax: 1,
    copiesQueuedMax: 1,
  });
  runner.submit('fms-0', { type: 'delete', blockIds: ['fms-0_1', 'fms-0_2'], genStampsMax: [ANY_GEN_STAMP, 3] });
  runner.submit('fms-0', { type: 'delete', blockIds: ['fms-0_3'], genStampsMax: [ANY_GEN_STAMP] });
  assert.equal(runner.deletesInProgress, 3);
  // Past the bound a batch is dropped, not queued.
  runner.submit('fms-0', { type: 'delete', blockIds: Array.from({ length: 100_000 }, (_, i) => `fms-0_${i + 10}`), genStampsMax: Array.from({ length: 100_000 }, () => ANY_GEN_STAMP) });
  assert.equal(runner.deletesInProgress, 3);
  for (let i = 0; i < 3; i++) {
    await waitFor(`delete ${i + 1} asked`, () => releases.length > i, 5_000);
    releases[i]!();
  }
  await waitFor('the backlog drained', () => runner.deletesInProgress === 0, 5_000);
  assert.deepEqual(asked, [['fms-0_1', ANY_GEN_STAMP], ['fms-0_2', 3], ['fms-0_3', ANY_GEN_STAMP]]);
  assert.deepEqual(deletedReported, ['fms-0_1', 'fms-0_3'], 'the replica kept at its newer genStamp is not reported deleted');
  await runner.stop();
});

test('a copy that did not land goes in the next heartbeats to the member that handed it out, until one of them is answered', async () => {
  const { zk, admin } = await shard();
  await admin.create(paths.epoch, 1, 'persistent');
  const active = await fakeMember(admin, 'm1', { epoch: 1, active: true, commands: [], needFullReport: false });
  const standby = await fakeMember(admin, 'm2', { epoch: 1, active: false, commands: [], needFullReport: false });
  const { fmsLinks } = links(zk);
  await fmsLinks.start();
  await heartbeatsMore(active, 2);
  await heartbeatsMore(standby, 2);
  assert.ok(active.heartbeats.every((h) => h.copyFailures === undefined), 'no failure, no field');

  // Its next two heartbeats fail: the failure stays owed and goes again.
  active.refuseHeartbeats = 2;
  const from = active.heartbeats.length;
  fmsLinks.noteCopyFailed(SHARD, 'm1', [{ blockId: 'fms-0_7', target: 'dn3', reason: 'TOO_MANY_IN_FLIGHT' }]);
  fmsLinks.noteCopyFailed(SHARD, 'gone', [{ blockId: 'fms-0_8', target: 'dn3', reason: 'x' }]);
  assert.equal(fmsLinks.copyFailures.size, 1, 'a member this datanode has no link to is owed nothing');
  await waitFor('the failure answered', () => fmsLinks.copyFailures.size === 0, 5_000);
  await heartbeatsMore(active, 3);
  // One heartbeat may have been on its way without it (and taken one refusal): the run
  // carrying it is at least a refused one and the answered one, and nothing carries it after.
  const carried = active.heartbeats.slice(from).map((h) => h.copyFailures);
  const first = carried.findIndex((c) => c !== undefined);
  const run = carried.slice(first).findIndex((c) => c === undefined);
  assert.ok(first >= 0 && first <= 1, `carried from the next heartbeat on (${first})`);
  assert.ok(run >= 2 && run <= 3, `sent until a heartbeat carrying it was answered (${run} times)`);
  for (const c of carried.slice(first, first + run)) assert.deepEqual(c, [{ blockId: 'fms-0_7', target: 'dn3', reason: 'TOO_MANY_IN_FLIGHT' }]);
  assert.ok(carried.slice(first + run).every((c) => c === undefined), 'then never again');
  assert.ok(standby.heartbeats.every((h) => h.copyFailures === undefined), 'only to the member that handed the copy out');
});
