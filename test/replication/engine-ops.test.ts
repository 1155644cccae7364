// Manual safe mode and @verify markers, journaled by the engine whatever the machine:
// safe mode refuses mutations and survives a restart from the journal and from an image;
// every replica that applied the same records has the same digest at a marker.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { createNamespaceMachine, type NamespaceState } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';
import { ReplicationEngine } from '../../src/replication/engine.js';
import { applyEngineOp, initialAdminState, unwrapImagePayload, wrapImagePayload } from '../../src/replication/engine-ops.js';
import { TandemError } from '../../src/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';

const machine = createNamespaceMachine({ superuser: 'hdfs' });
type Engine = ReplicationEngine<NamespaceState, NamespaceMutation, unknown>;
const open = (dir: string): Promise<Engine> => ReplicationEngine.open({ dir, machine, limits: limitsWith({}), log: silentLogger() }) as Promise<Engine>;
let callId = 0;
const mkdirs = (engine: Engine, path: string, id = ++callId) =>
  engine.submit({ type: 'mkdirs', path, user: 'hdfs', groups: [], clientId: 'c', callId: id, time: 1_000 } as NamespaceMutation);

test('the image payload is wrapped only while safe mode is on, and unwraps to what was wrapped', () => {
  const off = initialAdminState();
  const payload = { a: 1 };
  assert.equal(wrapImagePayload(payload, off), payload, 'no engine state: the machine image as it is');
  assert.deepEqual(unwrapImagePayload({ a: 1 }), { machineImage: { a: 1 }, admin: off });
  const on = applyEngineOp(off, { type: '@safe-mode', on: true, by: 'ops', time: 5 }, 42);
  assert.deepEqual(on.safeMode, { by: 'ops', sinceMs: 5, txid: 42 });
  assert.deepEqual(unwrapImagePayload(wrapImagePayload({ a: 1 }, on)), { machineImage: { a: 1 }, admin: on });
  assert.equal(applyEngineOp(on, { type: '@safe-mode', on: false, by: 'ops', time: 6 }, 43).safeMode, null);
});

test('manual safe mode refuses mutations with SAFE_MODE, serves reads, and survives restarts from the journal and from an image', async () => {
  const dir = await tempDir('tandem-safemode-');
  let engine = await open(dir);
  await mkdirs(engine, '/a');
  const { txid } = await engine.submitEngineOp({ type: '@safe-mode', on: true, by: 'ops', time: 2_000 });
  await assert.rejects(mkdirs(engine, '/b'), (err: TandemError) => err.code === 'SAFE_MODE');
  assert.equal(engine.read((s) => machine.getFileInfo(s, '/a', { user: 'hdfs', groups: [] }).ok), true);
  await engine.close();

  engine = await open(dir); // from the journal
  assert.deepEqual(engine.manualSafeMode, { by: 'ops', sinceMs: 2_000, txid });
  await engine.saveImage();
  await engine.close();
  engine = await open(dir); // from the image (the record is covered by it)
  assert.deepEqual(engine.manualSafeMode, { by: 'ops', sinceMs: 2_000, txid });
  await assert.rejects(mkdirs(engine, '/b'), (err: TandemError) => err.code === 'SAFE_MODE');
  await engine.submitEngineOp({ type: '@safe-mode', on: false, by: 'ops', time: 3_000 });
  assert.equal((await mkdirs(engine, '/b')).ok, true);
  await engine.close();
});

test('a @verify marker digests the state at its txid: equal for equal states, different for different ones', async () => {
  const [a, b] = await Promise.all([open(await tempDir()), open(await tempDir())]);
  for (const engine of [a, b]) await mkdirs(engine, '/same', 7); // the same op: the retry cache is state too
  const atA = await a.submitEngineOp({ type: '@verify', by: 't', time: 1 });
  const atB = await b.submitEngineOp({ type: '@verify', by: 't', time: 1 });
  assert.equal(atA.txid, atB.txid);
  assert.equal(atA.digest, atB.digest);
  assert.equal(a.verifyDigestAt(atA.txid), atA.digest);
  assert.equal(a.verifyDigestAt(atA.txid - 1), null, 'only markers are digested');
  await mkdirs(b, '/different');
  assert.notEqual(a.digestNow().digest, b.digestNow().digest);
  await Promise.all([a.close(), b.close()]);
});
