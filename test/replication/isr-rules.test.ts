import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isrAdjustments, type FollowerView } from '../../src/replication/rules.js';

const follower = (over: Partial<FollowerView>): FollowerView => ({
  member: 'b#1',
  inSync: false,
  streaming: true,
  durableTxid: 0,
  missingSince: 0,
  lastAckAt: 1_000,
  ...over,
});

test('a streaming standby is added once it holds every committed record, though it lacks applied ones', () => {
  const log = { appliedTxid: 120, committedTxid: 100 };
  // Under load the standby trails what is applied: holding every committed record is enough.
  assert.deepEqual(isrAdjustments(1_000, log, [follower({ durableTxid: 100 })], [], 1_000), [{ member: 'b#1', change: 'add' }]);
  assert.deepEqual(isrAdjustments(1_000, log, [follower({ durableTxid: 110 })], [], 1_000), [{ member: 'b#1', change: 'add' }]);
  // One committed record missing: an acknowledged write would not be on it.
  assert.deepEqual(isrAdjustments(1_000, log, [follower({ durableTxid: 99 })], [], 1_000), []);
  // Not streaming (still in its hello, or disconnected): never.
  assert.deepEqual(isrAdjustments(1_000, log, [follower({ durableTxid: 120, streaming: false })], [], 1_000), []);
});

test('an in-sync standby is removed when a record has been missing on it, or it has been silent, past the bound', () => {
  const log = { appliedTxid: 120, committedTxid: 100 };
  const lagging = follower({ inSync: true, durableTxid: 100, missingSince: 0, lastAckAt: 1_500 });
  assert.deepEqual(isrAdjustments(1_500, log, [lagging], [], 1_000), [{ member: 'b#1', change: 'remove', lagMs: 1_500 }]);
  assert.deepEqual(isrAdjustments(900, log, [lagging], [], 1_000), []);
  const silent = follower({ inSync: true, durableTxid: 120, lastAckAt: 0 });
  assert.deepEqual(isrAdjustments(1_200, log, [silent], [], 1_000), [{ member: 'b#1', change: 'remove', lagMs: 1_200 }]);
  assert.deepEqual(isrAdjustments(1_200, log, [], [{ member: 'c#2', since: 100 }], 1_000), [{ member: 'c#2', change: 'remove', lagMs: 1_100 }]);
});
