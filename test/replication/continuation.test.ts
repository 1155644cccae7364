// chooseContinuation: what a member taking over takes from the logs the other members offer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseContinuation } from '../../src/replication/rules.js';

const rec = (txid: number, epoch: number) => ({ txid, epoch });
const run = (from: number, to: number, epoch: number) => Array.from({ length: to - from + 1 }, (_, i) => rec(from + i, epoch));

test('chooseContinuation takes the most recent continuation of our log, and only one', () => {
  const ours = { lastTxid: 10, lastEpoch: 3 };
  // Offers start at our last txid; the same epoch there: a continuation.
  assert.deepEqual(chooseContinuation(ours, [run(10, 12, 3)]), run(11, 12, 3));
  assert.deepEqual(chooseContinuation(ours, [run(10, 12, 3), run(10, 15, 3), run(10, 10, 3)]), run(11, 15, 3), 'the longest of one epoch');
  // A later epoch beats a longer log of an older one.
  const newer = [rec(10, 3), rec(11, 4)];
  assert.deepEqual(chooseContinuation(ours, [run(10, 15, 3), newer]), [rec(11, 4)]);
  // Not a continuation: another epoch at our last txid, or not starting there.
  assert.deepEqual(chooseContinuation(ours, [run(10, 14, 2)]), []);
  assert.deepEqual(chooseContinuation(ours, [run(11, 14, 3)]), []);
  assert.deepEqual(chooseContinuation(ours, [run(9, 14, 3)]), []);
  // Nothing past ours, or nothing offered.
  assert.deepEqual(chooseContinuation(ours, [run(10, 10, 3), []]), []);
  assert.deepEqual(chooseContinuation(ours, []), []);
  // An empty log takes a log from txid 1.
  assert.deepEqual(chooseContinuation({ lastTxid: 0, lastEpoch: 0 }, [run(1, 3, 1), run(2, 5, 1)]), run(1, 3, 1));
});
