// Where a standby's log agrees with a new active's (EpochHistory.agreementPoint), and
// cutting the uncommitted tail off a standby's storage: after truncateStorageAfter and a
// reopen, the standby's state is exactly the state at that txid, across segment rolls and
// images, and the epoch history and promise survive.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { canonicalDump, createNamespaceMachine, type NamespaceState } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';
import { ReplicationEngine } from '../../src/replication/engine.js';
import { EpochHistory } from '../../src/replication/epoch-history.js';
import { truncateStorageAfter } from '../../src/replication/journal-truncate.js';
import type { EditRecord } from '../../src/replication/state-machine.js';
import { listImages, listSegments } from '../../src/replication/storage-layout.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';

const machine = createNamespaceMachine({ superuser: 'hdfs' });
const limits = limitsWith({ segmentBytesMax: 400 });
type Engine = ReplicationEngine<NamespaceState, NamespaceMutation, unknown>;
const open = (dir: string, role: 'standalone' | 'follower' = 'follower'): Promise<Engine> =>
  ReplicationEngine.open({ dir, machine, limits, log: silentLogger(), role }) as Promise<Engine>;

const op = (i: number): NamespaceMutation => ({ type: 'mkdirs', path: `/d${i}`, user: 'hdfs', groups: [], clientId: 't', callId: i, time: 1_000 + i }) as NamespaceMutation;

test('agreementWith: the logs agree up to the first txid where their epochs differ', () => {
  const active = new EpochHistory([
    { epoch: 1, firstTxid: 1 },
    { epoch: 3, firstTxid: 50 },
    { epoch: 4, firstTxid: 80 },
  ]);
  // A standby behind in epoch 1: stream from 41.
  assert.equal(active.agreementWith([{ epoch: 1, firstTxid: 1 }], 40, 100), 40);
  // It has epoch-1 records past 49 that epoch 3 replaced.
  assert.equal(active.agreementWith([{ epoch: 1, firstTxid: 1 }], 60, 100), 49);
  // Its tail comes from epoch 2, which this log never saw, starting at 45: cut at 44.
  assert.equal(active.agreementWith([{ epoch: 1, firstTxid: 1 }, { epoch: 2, firstTxid: 45 }], 60, 100), 44);
  // The case a single (lastTxid, lastEpoch) gets wrong: the standby's last records (epoch 5)
  // are unknown here, and this log has epoch 4 where the standby has epoch 3 records.
  const newer = new EpochHistory([{ epoch: 1, firstTxid: 1 }, { epoch: 2, firstTxid: 22 }, { epoch: 4, firstTxid: 25 }]);
  assert.equal(newer.agreementWith([{ epoch: 1, firstTxid: 1 }, { epoch: 3, firstTxid: 22 }, { epoch: 5, firstTxid: 24 }], 24, 30), 21);
  // Ahead of this log in the current epoch; an empty standby.
  assert.equal(active.agreementWith(active.entries(), 120, 100), 100);
  assert.equal(active.agreementWith([], 0, 100), 0);
  assert.equal(active.epochAt(79), 3);
  assert.equal(active.promisedEpoch, 4);
});

test('truncating a standby after txid t leaves exactly the state at t, images and segments included', { timeout: 60_000 }, async () => {
  const base = await tempDir();
  // The reference: an active that wrote 1..40 in epoch 1.
  const reference = await open(join(base, 'ref'), 'standalone');
  const records: EditRecord<NamespaceMutation>[] = [];
  reference.onAppended = (r) => records.push(r as EditRecord<NamespaceMutation>);
  let dumpAt25: unknown = null;
  for (let i = 1; i <= 40; i++) {
    await reference.submit(op(i));
    if (i === 25) dumpAt25 = canonicalDump(reference.peekState());
  }
  await reference.close();
  assert.equal(records.length, 40);

  // A standby that received all 40 (with an image at 30 and several rolled segments),
  // of which only 1..25 were committed before the failover.
  const dir = join(base, 'standby');
  const standby = await open(dir);
  assert.ok(await standby.promiseEpoch(1));
  for (let from = 0; from < 40; from += 5) {
    await standby.appendReplicated(1, records.slice(from, from + 5));
    if (from + 5 === 30) await standby.saveImage();
  }
  assert.ok(await standby.promiseEpoch(2));
  await standby.close();
  assert.ok((await listSegments(dir)).length > 2, 'the records span several segments');

  await truncateStorageAfter(dir, 25, silentLogger());
  assert.deepEqual((await listImages(dir)).filter((i) => i.txid > 25), [], 'images past the cut are gone');
  const reopened = await open(dir);
  try {
    assert.equal(reopened.appliedTxidNow, 25);
    assert.deepEqual(canonicalDump(reopened.peekState()), dumpAt25);
    assert.equal(reopened.epochHistory().promisedEpoch, 2, 'the promise to epoch 2 survives the truncation');
    // It follows the new active from 26 on, and refuses the deposed epoch 1.
    await assert.rejects(reopened.appendReplicated(1, [{ txid: 26, epoch: 1, op: op(99) }]), { code: 'STALE_EPOCH' });
    await reopened.appendReplicated(2, [{ txid: 26, epoch: 2, op: { type: '@epoch-start', member: 'b' } as unknown as NamespaceMutation }]);
    assert.equal(reopened.appliedTxidNow, 26);
    assert.equal(reopened.lastRecordEpoch, 2);
  } finally {
    await reopened.close();
  }
});
