// The engine on a real disk: replay(image, edits) equals the live state for random op
// sequences — after a clean close, and after a "crash" (the storage directory copied while
// the engine still runs, as kill -9 would leave it) — and the write path's ordering.
import assert from 'node:assert/strict';
import { cp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { limitsWith } from '../../src/config/limits.js';
import { canonicalDump, createNamespaceMachine, type NamespaceState } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';
import { ReplicationEngine } from '../../src/replication/engine.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';

const machine = createNamespaceMachine({ superuser: 'hdfs', retryCacheEntriesMax: 16 });
const limits = limitsWith({ segmentBytesMax: 2_048 }); // tiny segments: sequences cross several rolls
type Engine = ReplicationEngine<NamespaceState, NamespaceMutation, unknown>;

const open = (dir: string): Promise<Engine> =>
  ReplicationEngine.open({ dir, machine, limits, log: silentLogger() }) as Promise<Engine>;

const path = fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 }).map((names) => `/${names.join('/')}`);
const body = fc.oneof(
  fc.record({ type: fc.constant('mkdirs' as const), path }),
  fc.record({ type: fc.constant('create' as const), path, overwrite: fc.boolean() }),
  fc.record({ type: fc.constant('delete' as const), path, recursive: fc.boolean() }),
  fc.record({ type: fc.constant('rename' as const), src: path, dst: path }),
  fc.record({ type: fc.constant('setPermission' as const), path, permission: fc.constantFrom(0o755, 0o700) }),
);
const step = fc.record({
  body,
  callId: fc.integer({ min: 1, max: 40 }), // repeats hit the retry cache
  saveImage: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
});

test('replay(image, edits) equals the live state, after a clean close and after a crash', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.nat(), async (steps, crashAtSeed) => {
      const dir = await tempDir('tandem-engine-');
      const live = join(dir, 'live');
      const crashed = join(dir, 'crashed');
      const engine = await open(live);
      const crashAt = crashAtSeed % steps.length;
      let crashDump: unknown = null;
      for (const [i, s] of steps.entries()) {
        await engine.submit({ ...s.body, user: 'hdfs', groups: [], clientId: 'prop', callId: s.callId, time: 1_000 + i } as NamespaceMutation);
        if (s.saveImage) await engine.saveImage();
        if (i === crashAt) {
          // Every submit above was acknowledged, so it is durable: a copy now is what kill -9 leaves.
          await cp(live, crashed, { recursive: true, filter: (src) => !src.endsWith('in_use.lock') });
          crashDump = canonicalDump(engine.peekState());
        }
      }
      const liveDump = canonicalDump(engine.peekState());
      await engine.close();

      const reopened = await open(live);
      assert.deepEqual(canonicalDump(reopened.peekState()), liveDump);
      await reopened.close();

      const recovered = await open(crashed);
      assert.deepEqual(canonicalDump(recovered.peekState()), crashDump);
      await recovered.close();
    }),
    { numRuns: 25 },
  );
});

test('a reply waits for its record to be durable, and a read waits for what it observed', async () => {
  const dir = await tempDir('tandem-engine-');
  const engine = await open(dir);
  try {
    const op = (callId: number, path: string): NamespaceMutation => ({ type: 'mkdirs', path, user: 'hdfs', groups: [], clientId: 'w', callId, time: 1 });
    const write = engine.submit(op(1, '/x'));
    // Applied in memory at once, but not durable yet: nothing has had a turn to fsync.
    assert.equal(engine.status().appliedTxid, 1);
    assert.equal(engine.status().durableTxid, 0);
    const read = engine.read((s) => canonicalDump(s));
    const outcome = await write;
    assert.deepEqual(outcome, { ok: true, value: true, mutated: true });
    assert.ok(engine.status().durableTxid >= 1, 'the reply came after the fsync');
    await read;
    // A failed op is not journaled and changes nothing.
    const failed = await engine.submit({ type: 'delete', path: '/', recursive: true, user: 'hdfs', groups: [], clientId: 'w', callId: 2, time: 2 });
    assert.equal(failed.ok, false);
    assert.equal(engine.status().appliedTxid, 1);
    // A retried call (same clientId and callId) gets the first answer and is not journaled again.
    assert.deepEqual(await engine.submit(op(1, '/x')), { ok: true, value: true, mutated: false });
    assert.equal(engine.status().appliedTxid, 1);
  } finally {
    await engine.close();
  }
});

test('a read never shows a write applied while it waited for fsync', async () => {
  const dir = await tempDir('tandem-engine-');
  const engine = await open(dir);
  try {
    const mkdir = (callId: number, path: string): NamespaceMutation => ({ type: 'mkdirs', path, user: 'hdfs', groups: [], clientId: 'r', callId, time: 1 });
    const first = engine.submit(mkdir(1, '/a'));
    // /a is applied but not durable: the read must wait, and must answer with what it saw then.
    const read = engine.read((s) => [...s.root.children!.keys()].sort());
    assert.ok(read instanceof Promise, 'the read waits for /a to be durable');
    // A later write arrives while the read waits; it may not leak into the read's answer.
    await new Promise((r) => setImmediate(r));
    const second = engine.submit(mkdir(2, '/b'));
    assert.deepEqual(await read, ['a']);
    await Promise.all([first, second]);
    assert.deepEqual(await engine.read((s) => [...s.root.children!.keys()].sort()), ['a', 'b']);
  } finally {
    await engine.close();
  }
});

test('backpressure: past journalPendingBytesMax a write is refused before it is applied', async () => {
  const dir = await tempDir('tandem-engine-');
  const engine = (await ReplicationEngine.open({ dir, machine, limits: limitsWith({ journalPendingBytesMax: 1 }), log: silentLogger() })) as Engine;
  try {
    const mkdir = (callId: number, path: string): NamespaceMutation => ({ type: 'mkdirs', path, user: 'hdfs', groups: [], clientId: 'p', callId, time: 1 });
    const first = engine.submit(mkdir(1, '/a'));
    // /a's record waits for its write in this same turn: the journal holds more than 1 byte.
    await assert.rejects(engine.submit(mkdir(2, '/b')), (err: Error & { code?: string }) => err.code === 'TOO_MANY_IN_FLIGHT');
    await first;
    assert.deepEqual(await engine.read((s) => [...s.root.children!.keys()]), ['a'], '/b was never applied');
    assert.equal(engine.status().appliedTxid, 1);
  } finally {
    await engine.close();
  }
});

test('a second engine on the same directory is refused while the first holds it', async () => {
  const dir = await tempDir('tandem-engine-');
  const engine = await open(dir);
  try {
    await assert.rejects(open(dir), (err: Error & { code?: string }) => err.code === 'STORAGE_LOCKED');
  } finally {
    await engine.close();
  }
  const names = await readdir(dir);
  assert.ok(!names.includes('in_use.lock'), 'close releases the lock');
});

test('the engine keeps its recent records as journaled, as a standby and as an active, for a takeover', async () => {
  const dir = await tempDir('tandem-engine-');
  const ops = (from: number, to: number): NamespaceMutation[] =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ type: 'mkdirs', path: `/r${from + i}`, user: 'hdfs', groups: [], clientId: 'recent', callId: from + i, time: from + i }) as NamespaceMutation);
  // An active writes records 1..5; a standby takes them (as repl.append would) and then becomes active.
  const source = await open(join(dir, 'source'));
  const encoded: Buffer[] = [];
  source.onAppended = (_record, bytes) => encoded.push(bytes);
  for (const op of ops(1, 5)) await source.submit(op);
  await source.close();
  const standby = (await ReplicationEngine.open({ dir: join(dir, 'standby'), machine, limits, log: silentLogger(), role: 'follower' })) as Engine;
  try {
    assert.deepEqual(standby.recentRecords(), { firstTxid: 1, encoded: [] });
    const records = ops(1, 5).map((op, i) => ({ txid: i + 1, epoch: 0, op }));
    await standby.appendReplicated(0, records, encoded);
    assert.deepEqual(standby.recentEncoded(3), encoded.slice(2), 'the bytes as the active journaled them');
    assert.deepEqual(standby.recentEncoded(6), []);
    assert.equal(standby.recentEncoded(0), null, 'txid 0 was never appended here');
    assert.deepEqual(standby.recentRecords(), { firstTxid: 1, encoded });
    standby.becomeActive(1, 'standby');
    await standby.submit(ops(6, 6)[0]!);
    const recent = standby.recentRecords();
    assert.equal(recent.firstTxid, 1);
    assert.equal(recent.encoded.length, 7, 'records 1..5, the epoch start, and the write');
  } finally {
    await standby.close();
  }
  // Reopened, it has kept nothing in memory: those records are read from disk.
  const reopened = await open(join(dir, 'standby'));
  try {
    assert.equal(reopened.recentEncoded(7), null);
    assert.deepEqual(reopened.recentRecords().encoded, []);
  } finally {
    await reopened.close();
  }
});
