// The client's side of the adapters (src/client/adapter-resolver.ts) against fake adapters:
// real RPC servers in this process answering `adapter.shardMap` from a script, counting
// what they are asked. Refreshes are deduplicated and rate-limited, a dead adapter is
// skipped once it failed, a stale answer makes the client ask another adapter, and a
// client whose adapters are all gone gets ADAPTER_UNAVAILABLE.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { AdapterShardMaps } from '../../src/client/adapter-resolver.js';
import type { ShardMap } from '../../src/client/shard-map.js';
import { ShardCaller } from '../../src/client/shard-caller.js';
import { DEFAULT_LIMITS } from '../../src/config/limits.js';
import { TandemError } from '../../src/errors.js';
import { RpcServer } from '../../src/rpc/server.js';
import { silentLogger } from '../../src/util/log.js';

interface FakeAdapter {
  address: string;
  /** performance.now() of each adapter.shardMap call. */
  calls: number[];
  answer: () => ShardMap;
  server: RpcServer;
}

const servers: RpcServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

function mapNaming(active: string | null, opts: { stale?: boolean; ageMs?: number; adapter?: string } = {}): ShardMap {
  return {
    shards: { ns: { active: active === null ? null : { member: 'm1', rpc: active, epoch: 1 }, activeIsLastKnown: false, standbys: [], epoch: 1 } },
    pools: null,
    stale: opts.stale ?? false,
    ageMs: opts.ageMs ?? 5,
    readAt: new Date().toISOString(),
    adapter: opts.adapter ?? 'fake',
  };
}

async function fakeAdapter(answer: () => ShardMap, delayMs = 0): Promise<FakeAdapter> {
  const fake: Partial<FakeAdapter> = { calls: [], answer };
  const server = new RpcServer({
    handler: async () => {
      fake.calls!.push(performance.now());
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return fake.answer!();
    },
    methods: new Set(['adapter.shardMap']),
    limits: DEFAULT_LIMITS,
    log: silentLogger(),
    serverName: 'fake adapter',
  });
  servers.push(server);
  const { port } = await server.listen('127.0.0.1', 0);
  return Object.assign(fake, { server, address: `127.0.0.1:${port}` }) as FakeAdapter;
}

/** A port nothing listens on (bound, then closed). */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `127.0.0.1:${port}`;
}

/** Fisher–Yates with random ≈ 1 swaps nothing: the list's order is kept. */
const keepOrder = (): number => 0.999;

test('concurrent refreshes share one call; callers invalidated at once refresh once', async () => {
  const adapter = await fakeAdapter(() => mapNaming('127.0.0.1:1'), 20);
  const maps = new AdapterShardMaps({ adapters: [adapter.address], limits: DEFAULT_LIMITS, clientName: 'test', refreshIntervalMsMin: 10 });
  try {
    const answers = await Promise.all(Array.from({ length: 50 }, () => maps.refresh()));
    assert.equal(adapter.calls.length, 1, 'fifty refreshes at once asked once');
    assert.ok(answers.every((a) => a === answers[0]));
    const resolvers = Array.from({ length: 100 }, () => maps.resolver('ns'));
    for (const r of resolvers) r.invalidate();
    const addresses = await Promise.all(resolvers.map((r) => r.activeAddress()));
    assert.ok(addresses.every((a) => a === '127.0.0.1:1'));
    assert.equal(adapter.calls.length, 2, 'a hundred invalidated resolvers caused one more call');
    // Nothing invalidated: the cached map answers, no call.
    await Promise.all(resolvers.map((r) => r.activeAddress()));
    assert.equal(adapter.calls.length, 2);
    await Promise.all(resolvers.map((r) => r.close()));
  } finally {
    maps.close();
  }
});

test('refreshes are rate-limited: consecutive ones start at least half the minimum interval apart', async () => {
  const adapter = await fakeAdapter(() => mapNaming('127.0.0.1:1'));
  const intervalMs = 100;
  const maps = new AdapterShardMaps({ adapters: [adapter.address], limits: DEFAULT_LIMITS, clientName: 'test', refreshIntervalMsMin: intervalMs });
  const resolver = maps.resolver('ns');
  try {
    // The connection is made by a first refresh, not counted: the gaps measure refreshes only.
    await resolver.activeAddress();
    adapter.calls.length = 0;
    const loopStartedAt = performance.now();
    // A client hammering: invalidate and resolve again, 10 times in a row, as fast as it may.
    for (let i = 0; i < 10; i++) {
      resolver.invalidate();
      await resolver.activeAddress();
    }
    assert.equal(adapter.calls.length, 10);
    // The jitter draws each interval from [0.5, 1.5) × the minimum, so the 10th refresh
    // starts at least 9 half-intervals after the first, which starts after loopStartedAt;
    // a call arrives after it starts. Only lower bounds: a loaded machine makes them larger.
    // (Gaps between arrivals are no bound: a first call delayed on its way shortens the next gap.)
    const spanMs = adapter.calls.at(-1)! - loopStartedAt;
    assert.ok(spanMs >= 9 * intervalMs * 0.5, `10 refreshes arrived within ${spanMs.toFixed(1)} ms`);
  } finally {
    await resolver.close();
  }
});

test('a dead adapter first in line costs one failed connection, then is skipped', async () => {
  const good = await fakeAdapter(() => mapNaming('127.0.0.1:2'));
  const dead = await deadAddress();
  const maps = new AdapterShardMaps({ adapters: [dead, good.address], limits: DEFAULT_LIMITS, clientName: 'test', refreshIntervalMsMin: 1, random: keepOrder });
  const resolver = maps.resolver('ns');
  try {
    assert.deepEqual(maps.order, [dead, good.address]);
    assert.equal(await resolver.activeAddress(), '127.0.0.1:2');
    assert.equal(maps.stats.adapterFailures, 1);
    for (let i = 0; i < 10; i++) {
      resolver.invalidate();
      assert.equal(await resolver.activeAddress(), '127.0.0.1:2');
    }
    assert.equal(maps.stats.adapterFailures, 1, 'the dead adapter was not asked again');
    assert.equal(good.calls.length, 11);
  } finally {
    await resolver.close();
  }
});

test('a stale answer makes the client ask the next adapter, and the freshest answer wins', async () => {
  const stale = await fakeAdapter(() => mapNaming('127.0.0.1:3', { stale: true, ageMs: 9_000, adapter: 'stale' }));
  const fresh = await fakeAdapter(() => mapNaming('127.0.0.1:4', { adapter: 'fresh' }));
  const maps = new AdapterShardMaps({ adapters: [stale.address, fresh.address], limits: DEFAULT_LIMITS, clientName: 'test', random: keepOrder });
  try {
    const map = await maps.refresh();
    assert.equal(map.adapter, 'fresh');
    assert.equal(maps.stats.staleAnswers, 1);
    // Both stale: the younger cache is used.
    fresh.answer = () => mapNaming('127.0.0.1:4', { stale: true, ageMs: 2_000, adapter: 'younger' });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await maps.refresh()).adapter, 'younger');
  } finally {
    maps.close();
  }
});

test('every adapter dead: ADAPTER_UNAVAILABLE naming each; a ShardCaller retries it until its deadline', async () => {
  const dead = [await deadAddress(), await deadAddress()];
  const maps = new AdapterShardMaps({ adapters: dead, limits: DEFAULT_LIMITS, clientName: 'test', refreshIntervalMsMin: 5 });
  try {
    await assert.rejects(maps.refresh(), (err: TandemError) => err.code === 'ADAPTER_UNAVAILABLE' && dead.every((a) => err.message.includes(`${a}: `)));
    const caller = new ShardCaller({ label: 'shard ns', resolver: maps.resolver('ns'), deadlineMs: 500, backoff: { baseMs: 10, capMs: 50 }, limits: DEFAULT_LIMITS, clientName: 'test' });
    await assert.rejects(caller.call('ns.getFileInfo', { path: '/' }), (err: TandemError) => err.code === 'DEADLINE_EXCEEDED' && /ADAPTER_UNAVAILABLE/.test(err.message));
    assert.ok(caller.retries >= 1);
    caller.close();
  } finally {
    maps.close();
  }
});

test('no active in the map: NOT_ACTIVE after a refresh, and the active once the map names one', async () => {
  let active: string | null = null;
  const adapter = await fakeAdapter(() => mapNaming(active));
  const maps = new AdapterShardMaps({ adapters: [adapter.address], limits: DEFAULT_LIMITS, clientName: 'test', refreshIntervalMsMin: 1 });
  const resolver = maps.resolver('ns');
  const other = maps.resolver('fms-0');
  try {
    await assert.rejects(resolver.activeAddress(), (err: TandemError) => err.code === 'NOT_ACTIVE' && /ns has no active/.test(err.message));
    await assert.rejects(other.activeAddress(), (err: TandemError) => err.code === 'NOT_ACTIVE' && /fms-0 is not in the shard map/.test(err.message));
    active = '127.0.0.1:5';
    assert.equal(await resolver.activeAddress(), '127.0.0.1:5', 'a map without the active is refreshed at the next ask');
  } finally {
    await resolver.close();
    await other.close();
  }
});

test('the connection to an adapter closes when idle, and a later refresh opens another', async () => {
  const adapter = await fakeAdapter(() => mapNaming('127.0.0.1:6'));
  const maps = new AdapterShardMaps({ adapters: [adapter.address], limits: DEFAULT_LIMITS, clientName: 'test', refreshIntervalMsMin: 1, idleCloseMs: 50 });
  try {
    await maps.refresh();
    assert.equal(adapter.server.stats().connections, 1);
    const deadline = performance.now() + 5_000;
    while (adapter.server.stats().connections > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(adapter.server.stats().connections, 0, 'closed once idle');
    assert.equal((await maps.refresh()).shards.ns?.active?.rpc, '127.0.0.1:6');
    assert.equal(adapter.calls.length, 2);
  } finally {
    maps.close();
  }
});
