// The dashboard's memory without a cluster: failover detection, the bounded series and
// history, stale readings, and the watch driver over a fake registry source and fake
// status calls (the real cluster and browser are in dashboard.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Registry, ShardRegistry } from '../../src/election/registry.js';
import { ClusterHistory, type ActiveStatus, type RegistryReading, type StatusResult } from '../../src/dashboard/cluster-history.js';
import { ClusterWatch, parseActiveStatus } from '../../src/dashboard/cluster-watch.js';
import { RingBuffer } from '../../src/util/ring-buffer.js';
import { silentLogger } from '../../src/util/log.js';

const LIMITS = { seriesPointsMax: 5, failoversMax: 3, membersPerShardMax: 8, pollIntervalMs: 1_000 };

/** A shard's registry entry: `active` at `epoch`, the others standing behind it in the election. */
function shardEntry(active: string | null, epoch: number, standbys: string[] = []): ShardRegistry {
  const info = (member: string) => ({ member, rpc: `127.0.0.1:${7000 + Number(member.slice(1))}` });
  const line = [...(active ? [active] : []), ...standbys];
  return {
    active: { current: active ? { ...info(active), epoch } : null, lastNotNull: null },
    standby: { current: standbys[0] ? info(standbys[0]) : null, lastNotNull: null },
    monitor: { current: null, lastNotNull: null },
    epoch,
    isr: { epoch, members: line.map((m) => `${m}#disk`) },
    election: line.map((m, i) => ({ node: `n_${String(i).padStart(10, '0')}`, ...info(m) })),
  };
}

function reading(shards: Record<string, ShardRegistry>, stale = false, ageMs = 0): RegistryReading {
  const registry: Registry = { readAt: new Date(0).toISOString(), shards };
  return { registry, stale, ageMs, error: stale ? 'COORDINATOR_UNAVAILABLE: down' : null };
}

function status(member: string, committedTxid: number, lags: Record<string, number> = {}): StatusResult {
  const value: ActiveStatus = {
    member,
    role: 'active',
    epoch: 1,
    appliedTxid: committedTxid,
    committedTxid,
    isr: [],
    followers: Object.entries(lags).map(([m, lag]) => ({ member: m, inSync: true, connected: true, durableTxid: committedTxid - lag, lagTxids: lag, lagMsP50: 0.4 })),
    datanodes: null,
  };
  return { ok: true, status: value };
}

test('a new active member or a new epoch is a failover; the first active seen and a stale registry are not', () => {
  const history = new ClusterHistory(LIMITS);
  const none = new Map<string, StatusResult>();
  assert.deepEqual(history.observe({ atMs: 1_000, reading: reading({ ns: shardEntry('m1', 1, ['m2']) }), statuses: none }), [], 'the baseline');
  history.observe({ atMs: 2_000, reading: reading({ ns: shardEntry('m1', 1, ['m2']) }), statuses: none });
  // m1 dies: no active for a while (the epoch counter already moved), then m2 at epoch 2.
  history.observe({ atMs: 3_000, reading: reading({ ns: shardEntry(null, 2, ['m2']) }), statuses: none });
  history.observe({ atMs: 4_000, reading: reading({ ns: shardEntry(null, 2, ['m2']) }), statuses: none });
  const seen = history.observe({ atMs: 5_000, reading: reading({ ns: shardEntry('m2', 2) }), statuses: none });
  assert.deepEqual(seen, [{ shard: 'ns', atMs: 5_000, from: 'm1', to: 'm2', fromEpoch: 1, toEpoch: 2, noActiveMs: 2_000 }]);

  // m2 loses its session and wins again: same member, new epoch — a failover, with no gap seen.
  const again = history.observe({ atMs: 6_000, reading: reading({ ns: shardEntry('m2', 3) }), statuses: none });
  assert.deepEqual(again.map((f) => [f.from, f.to, f.fromEpoch, f.toEpoch, f.noActiveMs]), [['m2', 'm2', 2, 3, null]]);

  // A stale cache showing some other active judges nothing; the next good read does.
  assert.deepEqual(history.observe({ atMs: 7_000, reading: reading({ ns: shardEntry('m1', 9) }, true, 5_000), statuses: none }), []);
  assert.deepEqual(history.observe({ atMs: 8_000, reading: reading({ ns: shardEntry('m2', 3) }), statuses: none }), []);

  const snap = history.snapshot(8_500);
  assert.deepEqual(snap.failovers.map((f) => f.toEpoch), [2, 3]);
  assert.equal(snap.shards[0]!.active, 'm2');
  assert.equal(snap.shards[0]!.epoch, 3);
  const m1 = snap.shards[0]!.members.find((m) => m.member === 'm1');
  assert.equal(m1?.role, 'gone', 'a member seen before and now nowhere stays listed, as gone');
});

test('a member that just took over is not shown as first standby, though the standby entry still names it', () => {
  const history = new ClusterHistory(LIMITS);
  const entry = shardEntry('m2', 2, ['m3']);
  entry.standby.current = { member: 'm2', rpc: '127.0.0.1:7002' };
  history.observe({ atMs: 1_000, reading: reading({ ns: entry }), statuses: new Map() });
  const members = history.snapshot(1_000).shards[0]!.members;
  assert.deepEqual(members.map((m) => [m.member, m.role, m.firstStandby]), [['m2', 'active', false], ['m3', 'standby', false]]);
});

test('failovers, series and remembered members are bounded; the oldest go first', () => {
  const history = new ClusterHistory(LIMITS);
  for (let i = 0; i < 10; i++) {
    const active = i % 2 === 0 ? 'm1' : 'm2';
    history.observe({
      atMs: 1_000 * (i + 1),
      reading: reading({ 'fms-0': shardEntry(active, i + 1, [`m${10 + i}`]) }),
      statuses: new Map([['fms-0', status(active, 100 * (i + 1), { [`m${10 + i}`]: i })]]),
    });
  }
  const snap = history.snapshot(10_000);
  assert.deepEqual(snap.failovers.map((f) => f.toEpoch), [8, 9, 10], 'the newest failoversMax');
  const shard = snap.shards[0]!;
  assert.equal(shard.throughput.length, LIMITS.seriesPointsMax);
  assert.deepEqual(shard.throughput.map((p) => p[0]), [6_000, 7_000, 8_000, 9_000, 10_000]);
  assert.ok(shard.throughput.every((p) => p[1] === 100), '100 txids a second');
  assert.deepEqual(shard.lag.map((p) => p[1]), [5, 6, 7, 8, 9]);
  assert.ok(shard.members.length <= LIMITS.membersPerShardMax, `${shard.members.length} members remembered`);
  assert.ok(shard.members.some((m) => m.member === 'm19' && m.role === 'standby' && m.lagTxids === 9 && m.txid === 991));
  assert.equal(snap.seriesWindowMs, 5_000);
});

test('a stale reading keeps the last registry, statuses and datanodes on show, with ages that grow', () => {
  const history = new ClusterHistory(LIMITS);
  const withDatanodes: StatusResult = status('m1', 50);
  if (withDatanodes.ok) {
    withDatanodes.status.datanodes = [{ id: 'dn1', http: '127.0.0.1:9', live: true, capacityBytes: 1_000, usedBytes: 10, replicas: 4, lastHeartbeatAgoMs: 300 }];
  }
  const good = { ...reading({ 'fms-0': shardEntry('m1', 1, ['m2']) }), datanodes: [{ id: 'dn1', capacityBytes: 1_000 }, { id: 'dn2' }] };
  history.observe({ atMs: 1_000, reading: good, statuses: new Map([['fms-0', withDatanodes]]) });
  history.observe({ atMs: 4_000, reading: { ...good, stale: true, ageMs: 3_000, error: 'COORDINATOR_UNAVAILABLE: down' }, statuses: new Map([['fms-0', { ok: false, error: 'CONNECTION_LOST: gone' }]]) });
  // A source that has nothing at all to answer does not wipe the picture either.
  history.observe({ atMs: 5_000, reading: { registry: null, stale: true, ageMs: 0, error: 'lost it' }, statuses: new Map() });
  const snap = history.snapshot(6_000);
  assert.equal(snap.registry.stale, true);
  assert.equal(snap.registry.error, 'lost it');
  assert.equal(snap.registry.ageMs, 5_000, 'read at 1 000, shown at 6 000');
  assert.equal(snap.shards[0]!.active, 'm1');
  assert.equal(snap.shards[0]!.status?.error, 'CONNECTION_LOST: gone');
  assert.equal(snap.shards[0]!.status?.ageMs, 5_000);
  assert.deepEqual(
    snap.datanodes.map((d) => [d.id, d.registered, d.blocks, d.lastHeartbeatAgoMs]),
    [
      ['dn1', true, 4, 5_300],
      ['dn2', true, null, null],
    ],
  );
});

test('ring buffer: keeps the newest capacity items, oldest first', () => {
  const ring = new RingBuffer<number>(3);
  assert.equal(ring.last(), undefined);
  for (let i = 1; i <= 7; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [5, 6, 7]);
  assert.equal(ring.last(), 7);
  assert.equal(ring.length, 3);
  assert.throws(() => new RingBuffer(0));
});

test('parseActiveStatus refuses what is not a master status', () => {
  assert.throws(() => parseActiveStatus(null));
  assert.throws(() => parseActiveStatus({ member: 'm1', role: 'active', epoch: 'x' }));
  const parsed = parseActiveStatus({
    member: 'm1',
    role: 'active',
    epoch: 2,
    appliedTxid: 5,
    committedTxid: 5,
    ha: { isr: ['m1#aa', 'm2#bb'], followers: [{ member: 'm2#bb', inSync: true, connected: true, durableTxid: 4, lagTxids: 1, lagMsP50: 0.2 }] },
  });
  assert.deepEqual([parsed.member, parsed.committedTxid, parsed.datanodes], ['m1', 5, null]);
  assert.deepEqual([parsed.isr, parsed.followers.map((f) => f.member)], [['m1', 'm2'], ['m2']], 'replica ids become member names');
});

test('the watch polls the source and the active, and reports a standby that answers for an active as an error', async () => {
  let shards: Record<string, ShardRegistry> = { ns: shardEntry('m1', 1, ['m2']) };
  let now = 10_000;
  const calls: string[] = [];
  const watch = new ClusterWatch({
    source: { registry: () => reading(shards) },
    log: silentLogger(),
    limits: LIMITS,
    clock: () => now,
    callStatus: async (rpc) => {
      calls.push(rpc);
      const member = `m${Number(rpc.split(':')[1]) - 7000}`;
      return { member, role: member === 'm1' ? 'active' : 'standby', epoch: 1, appliedTxid: now / 100, committedTxid: now / 100, ha: { isr: [], followers: [] } };
    },
  });
  await watch.pollOnce();
  now += 1_000;
  await watch.pollOnce();
  assert.deepEqual(calls, ['127.0.0.1:7001', '127.0.0.1:7001']);
  assert.equal(watch.snapshot().shards[0]!.txidsPerSec, 10);

  shards = { ns: shardEntry('m2', 2) };
  now += 1_000;
  await watch.pollOnce();
  const snap = watch.snapshot();
  assert.equal(snap.failovers.length, 1);
  assert.match(snap.shards[0]!.status?.error ?? '', /m2 .* says it is standby/);
  await watch.stop();
});
