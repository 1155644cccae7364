// The checkpoint alert's condition and a master's health verdict (both pure), and the
// figures they are judged on, gathered from a real engine's storage with an injected clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkpointAlerts, type CheckpointFigures } from '../../src/metrics/alerts.js';
import { masterHealth, type MasterHealthInput } from '../../src/metrics/health.js';
import { checkpointFiguresOf, storageFigures } from '../../src/metrics/checkpoint-figures.js';
import { limitsWith } from '../../src/config/limits.js';
import { createNamespaceMachine } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';
import { ReplicationEngine } from '../../src/replication/engine.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';

const HOUR_MS = 3_600_000;
const calm: CheckpointFigures = {
  segmentsSinceImage: 3,
  segmentsMax: 100,
  checkpointPendingMs: 10 * 60_000,
  checkpointIntervalMs: HOUR_MS,
  newestImageTxid: 500,
  newestEditTxid: 900,
};

test('no alert while checkpoints keep up', () => {
  assert.deepEqual(checkpointAlerts(calm), []);
  assert.deepEqual(checkpointAlerts({ ...calm, segmentsSinceImage: 100 }), [], 'exactly 100 segments apart is still fine');
  assert.deepEqual(checkpointAlerts({ ...calm, checkpointPendingMs: 2 * HOUR_MS }), [], 'exactly twice the period is still fine');
  assert.deepEqual(checkpointAlerts({ ...calm, checkpointPendingMs: null }), [], 'nothing waits for a checkpoint');
});

test('the newest edit more than 100 segments past the newest image fires image-edit-distance', () => {
  const alerts = checkpointAlerts({ ...calm, segmentsSinceImage: 101 });
  assert.deepEqual(alerts.map((a) => a.alert), ['image-edit-distance']);
  assert.match(alerts[0]!.message, /101 segments past the newest image \(image 500\), over 100/);
  assert.match(checkpointAlerts({ ...calm, segmentsSinceImage: 101, newestImageTxid: null })[0]!.message, /no image/);
});

test('edits waiting more than twice the checkpoint period fire checkpoint-overdue; both can fire at once', () => {
  const alerts = checkpointAlerts({ ...calm, checkpointPendingMs: 2 * HOUR_MS + 1 });
  assert.deepEqual(alerts.map((a) => a.alert), ['checkpoint-overdue']);
  assert.match(alerts[0]!.message, /no checkpoint for 7200 s .* over twice the checkpoint period of 3600 s/);
  const both = checkpointAlerts({ ...calm, checkpointPendingMs: 3 * HOUR_MS, segmentsSinceImage: 500 });
  assert.deepEqual(both.map((a) => a.alert).sort(), ['checkpoint-overdue', 'image-edit-distance']);
});

const healthy: MasterHealthInput = {
  stopping: false,
  fatal: null,
  role: 'active',
  handingOver: false,
  replacingStorage: false,
  sinceActiveMs: null,
  activeSilenceMaxMs: 1_000,
  shardProblem: null,
};

test('a master is healthy as the serving active or as a standby its active keeps feeding', () => {
  assert.deepEqual(masterHealth(healthy), { ok: true, detail: { role: 'active' } });
  assert.deepEqual(masterHealth({ ...healthy, role: 'standby', sinceActiveMs: 50 }), { ok: true, detail: { role: 'standby' } });
});

test('a master is unhealthy, with a reason, when it cannot do its job', () => {
  const reason = (input: Partial<MasterHealthInput>): string | undefined => {
    const verdict = masterHealth({ ...healthy, ...input });
    assert.equal(verdict.ok, false);
    return verdict.reason;
  };
  assert.equal(reason({ stopping: true }), 'stopping');
  assert.equal(reason({ role: 'standby', stopping: true, sinceActiveMs: 1 }), 'stopping');
  assert.match(reason({ fatal: 'EIO' })!, /journal failed: EIO/);
  assert.match(reason({ handingOver: true })!, /handing over/);
  assert.match(reason({ shardProblem: 'in safe mode: 3 of 12 blocks' })!, /safe mode/);
  assert.match(reason({ role: 'standby' })!, /no active has reached/);
  assert.match(reason({ role: 'standby', sinceActiveMs: 5_000 })!, /no word from the active for 5000 ms/);
  assert.match(reason({ role: 'standby', sinceActiveMs: 1, replacingStorage: true })!, /replacing its storage/);
  assert.match(reason({ role: 'taking-over' })!, /taking over/);
  assert.match(reason({ role: 'joining' })!, /joining/);
  assert.equal(masterHealth({ ...healthy, role: 'taking-over' }).detail?.role, 'taking-over', 'the role is in the answer');
});

test('the figures come from storage: segments past the newest image, and how long edits waited for one', async () => {
  const dir = await tempDir('tandem-alert-');
  let nowMs = 1_000_000;
  const machine = createNamespaceMachine({ superuser: 'hdfs', retryCacheEntriesMax: 16 });
  const limits = limitsWith({ alertSegmentsSinceImageMax: 2, checkpointIntervalMs: 1_000, segmentRollIntervalMs: 10 });
  const engine = await ReplicationEngine.open({ dir, machine, limits, log: silentLogger(), now: () => nowMs });
  try {
    const mkdir = (i: number) =>
      engine.submit({ type: 'mkdirs', path: `/d${i}`, user: 'hdfs', groups: [], clientId: 'c', callId: i, time: nowMs } as NamespaceMutation);
    const figures = async () => {
      const status = engine.status();
      return checkpointFiguresOf(await storageFigures(dir, status.durableTxid, nowMs), status, limits);
    };
    assert.equal((await figures()).checkpointPendingMs, null, 'a new namespace has nothing to checkpoint');
    assert.equal((await figures()).segmentsSinceImage, 0);

    // Three segments of edits, the clock past twice the period: both alerts.
    for (let i = 1; i <= 3; i++) {
      await mkdir(i);
      nowMs += 10;
      await engine.maybeRoll(); // the segment is old enough by the injected clock
    }
    nowMs += 2_470;
    const late = await figures();
    assert.equal(late.segmentsSinceImage, 3);
    assert.equal(late.checkpointPendingMs, 2_500, 'counted from the first edit past the (absent) image');
    assert.equal(late.newestImageTxid, null);
    assert.deepEqual(checkpointAlerts(late).map((a) => a.alert).sort(), ['checkpoint-overdue', 'image-edit-distance']);

    // A checkpoint: nothing waits, no segment lies past it.
    await engine.saveImage();
    const after = await figures();
    assert.equal(after.checkpointPendingMs, null);
    assert.equal(after.segmentsSinceImage, 0);
    assert.equal(after.newestImageTxid, 3);
    assert.deepEqual(checkpointAlerts(after), []);

    // One more edit waits from when it was applied; the in-progress segment holding it counts.
    nowMs += 100;
    await mkdir(4);
    nowMs += 400;
    const one = await figures();
    assert.equal(one.checkpointPendingMs, 400);
    assert.equal(one.segmentsSinceImage, 1);
  } finally {
    await engine.close();
  }
});
