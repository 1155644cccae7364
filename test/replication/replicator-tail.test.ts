import assert from 'node:assert/strict';
import { test } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { EpochHistory } from '../../src/replication/epoch-history.js';
import { Replicator, type ReplicatedLog } from '../../src/replication/replicator.js';
import { silentLogger } from '../../src/util/log.js';

function replicator(tailRecordsMax: number): { r: Replicator; log: { appliedTxidNow: number } } {
  const log = {
    appliedTxidNow: 0,
    durableTxid: 0,
    committedTxid: 0,
    epochHistory: () => new EpochHistory([], 1),
    editsFrom: () => { throw new Error('not in this test'); },
    advanceCommit: () => {},
    oldestEditTxid: async () => null,
    newestImageTxid: async () => null,
  } satisfies ReplicatedLog;
  const r = new Replicator(log, {
    epoch: 1,
    member: 'a',
    limits: limitsWith({ replicationTailRecordsMax: tailRecordsMax }),
    logger: silentLogger(),
    events: { onDeposed: () => {}, onLagging: () => {}, onCaughtUp: () => {} },
  });
  return { r, log };
}

const bytes = (txid: number, size: number): Buffer => Buffer.alloc(size, txid);

test('the tail hands out encoded records by txid, capped by count and bytes, never empty while records wait', () => {
  const { r, log } = replicator(1000);
  try {
    for (let txid = 1; txid <= 10; txid++) {
      r.onAppended({ txid, epoch: 1, op: null }, bytes(txid, 100));
      log.appliedTxidNow = txid;
    }
    assert.deepEqual(r.encodedFromTail(3, 100, 350)!.map((b) => b[0]), [3, 4, 5]);
    assert.deepEqual(r.encodedFromTail(1, 2, Infinity)!.map((b) => b[0]), [1, 2]);
    // A record bigger than the cap still goes, alone.
    assert.deepEqual(r.encodedFromTail(9, 100, 10)!.map((b) => b[0]), [9]);
    assert.deepEqual(r.encodedFromTail(11, 100, Infinity), []);
    assert.ok(r.appendedAt(4) !== undefined);
    // A gap in what the engine appends is a broken invariant, not a silent hole.
    assert.throws(() => r.onAppended({ txid: 12, epoch: 1, op: null }, bytes(12, 1)), /invariant broken/);
  } finally {
    r.close();
  }
});

test('records older than the kept tail are not in memory (null: the standby is fed from disk)', () => {
  const { r, log } = replicator(4);
  try {
    for (let txid = 5; txid <= 5000; txid++) {
      r.onAppended({ txid, epoch: 1, op: null }, bytes(txid % 256, 10));
      log.appliedTxidNow = txid;
    }
    assert.equal(r.encodedFromTail(4996, 10, Infinity), null);
    assert.deepEqual(r.encodedFromTail(4997, 10, Infinity)!.map((b) => b[0]), [4997 % 256, 4998 % 256, 4999 % 256, 5000 % 256]);
    assert.equal(r.appendedAt(4996), undefined);
  } finally {
    r.close();
  }
});

test('a new active preloads its tail with the records it held before its epoch: a standby a few behind is fed from memory', () => {
  const { r, log } = replicator(4);
  try {
    // The engine's recent records 3..9 (more than the tail keeps: the newest 4 stay), then the epoch-start record 10.
    r.preload(3, [3, 4, 5, 6, 7, 8, 9].map((txid) => bytes(txid, 10)));
    log.appliedTxidNow = 9;
    assert.equal(r.encodedFromTail(5, 10, Infinity), null, 'older than the tail keeps');
    assert.deepEqual(r.encodedFromTail(6, 10, Infinity)!.map((b) => b[0]), [6, 7, 8, 9]);
    r.onAppended({ txid: 10, epoch: 2, op: null }, bytes(10, 10));
    log.appliedTxidNow = 10;
    assert.deepEqual(r.encodedFromTail(8, 10, Infinity)!.map((b) => b[0]), [8, 9, 10]);
    assert.throws(() => r.preload(11, [bytes(11, 1)]), /invariant broken/, 'only before the epoch starts');
  } finally {
    r.close();
  }
});
