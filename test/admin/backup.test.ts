// What restore picks from a backup: the newest image and the contiguous edits after it; a
// gap after the image is refused rather than restored as a silently shorter history.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restorePlan, type BackupFile } from '../../src/admin/backup.js';
import { TandemError } from '../../src/errors.js';

const file = (kind: BackupFile['kind'], firstTxid: number, lastTxid = firstTxid): BackupFile => ({ name: `${kind}_${firstTxid}`, kind, bytes: 1, sha256: '', firstTxid, lastTxid });

test('the newest image, then every segment reaching past it, in order', () => {
  const plan = restorePlan({
    files: [file('edits', 1, 10), file('image', 8), file('edits', 11, 20), file('image', 15), file('edits', 21, 25)],
    lastTxid: 25,
    epochs: [{ epoch: 1, firstTxid: 1 }],
  });
  assert.equal(plan.image?.firstTxid, 15);
  assert.deepEqual(plan.edits.map((f) => [f.firstTxid, f.lastTxid]), [[11, 20], [21, 25]]);
});

test('no image: edits from txid 1; a missing range is JOURNAL_GAP', () => {
  assert.deepEqual(restorePlan({ files: [file('edits', 1, 5)], lastTxid: 5, epochs: [] }).edits.length, 1);
  assert.throws(
    () => restorePlan({ files: [file('image', 10), file('edits', 14, 20)], lastTxid: 20, epochs: [] }),
    (err: TandemError) => err.code === 'JOURNAL_GAP' && /11\.\.13/.test(err.message),
  );
});
