// The pure decisions of layout.ts that a takeover takes from ZooKeeper's contents.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activeFenced, type FencedActive } from '../../src/election/layout.js';

test('activeFenced: only a death recorded for the epoch of the in-sync set spares the lease wait', () => {
  const fenced = (epoch: number): FencedActive => ({ member: 'm1', epoch, pid: 4242, atMs: 0 });
  const isr = { epoch: 7, members: ['m1#a', 'm2#b'] };
  assert.equal(activeFenced(isr, fenced(7)), true, 'the active of the ISR epoch is dead');
  assert.equal(activeFenced(isr, null), false, 'no death recorded: wait');
  // An older death says nothing of the active of epoch 7; a newer one means the ISR read is stale.
  assert.equal(activeFenced(isr, fenced(6)), false);
  assert.equal(activeFenced(isr, fenced(8)), false);
});
