import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { loadNewestValidImage, writeImage } from '../../src/replication/image-store.js';
import { readEdits, recoverJournal } from '../../src/replication/journal-recovery.js';
import { JournalWriter } from '../../src/replication/journal-writer.js';
import { encodeSegmentHeader } from '../../src/replication/record-codec.js';
import { purgeOldStorage } from '../../src/replication/retention.js';
import { finalizedSegmentName, imageName, inProgressSegmentName } from '../../src/replication/storage-layout.js';
import { silentLogger } from '../../src/util/log.js';

const log = silentLogger();

/** Drops a writer as a crash would: the file handle closes, the in-progress segment stays. */
async function abandon(writer: JournalWriter): Promise<void> {
  await (writer as unknown as { handle: { close(): Promise<void> } }).handle.close();
}
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const DAY_MS = 24 * 3600_000;
const NOW_MS = Date.UTC(2030, 0, 1);

async function age(dir: string, name: string, ageMs: number): Promise<void> {
  const when = new Date(NOW_MS - ageMs);
  await utimes(join(dir, name), when, when);
}

/**
 * Builds: segments 1-10, 11-20, 21-30, 31-40, images at 10, 20, 30, and an in-progress
 * segment at 41. Everything is 30 days old except what `young` names.
 */
async function buildStorage(young: string[] = []): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-retention-'));
  dirs.push(dir);
  const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith(), log });
  for (let txid = 1; txid <= 40; txid++) {
    writer.append({ txid, epoch: 1, op: { n: txid } });
    if (txid % 10 === 0) {
      await writer.roll();
      if (txid < 40) await writeImage(dir, txid, { upTo: txid }, log);
    }
  }
  await writer.flush();
  // Leave the in-progress segment as a live writer would have it (not closed).
  await abandon(writer);
  for (const name of await readdir(dir)) await age(dir, name, young.includes(name) ? 0 : 30 * DAY_MS);
  return dir;
}

const policy = { retentionAgeMs: 7 * DAY_MS, imagesRetainedMin: 2, now: NOW_MS };

describe('purgeOldStorage', () => {
  it('keeps the newest images and the edits the oldest kept image needs', async () => {
    const dir = await buildStorage();
    const purged = await purgeOldStorage(dir, policy, log);
    assert.deepEqual(purged.images, [imageName(10)]);
    assert.deepEqual(purged.segments, [finalizedSegmentName(1, 10), finalizedSegmentName(11, 20)]);
    assert.equal(purged.oldestKeptImageTxid, 20);
    assert.deepEqual((await readdir(dir)).sort(), [
      finalizedSegmentName(21, 30),
      finalizedSegmentName(31, 40),
      inProgressSegmentName(41),
      imageName(20),
      imageName(30),
    ].sort());

    // Recovery from the oldest kept image still works, and so does from the newest.
    const recovered = await recoverJournal(dir, log, { afterTxid: 20 });
    assert.equal(recovered.lastTxid, 40);
    const replayed: number[] = [];
    for await (const r of readEdits(dir, 21)) replayed.push(r.txid);
    assert.deepEqual(replayed, Array.from({ length: 20 }, (_, i) => i + 21));
    assert.equal((await loadNewestValidImage(dir, log))?.txid, 30);
  });

  it('keeps young files whatever their count', async () => {
    const dir = await buildStorage([imageName(10), finalizedSegmentName(11, 20)]);
    const purged = await purgeOldStorage(dir, policy, log);
    assert.deepEqual(purged.images, [], 'a young image is kept even beyond imagesRetainedMin');
    assert.equal(purged.oldestKeptImageTxid, 10);
    assert.deepEqual(purged.segments, [finalizedSegmentName(1, 10)]);
  });

  it('keeps imagesRetainedMin images however old, and their edits', async () => {
    const dir = await buildStorage();
    const purged = await purgeOldStorage(dir, { ...policy, imagesRetainedMin: 3 }, log);
    assert.deepEqual(purged.images, []);
    assert.deepEqual(purged.segments, [finalizedSegmentName(1, 10)]);
    assert.equal((await recoverJournal(dir, log, { afterTxid: 10 })).lastTxid, 40);
  });

  it('never deletes edits when there is no image, nor the in-progress segment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-retention-'));
    dirs.push(dir);
    await writeFile(join(dir, inProgressSegmentName(1)), encodeSegmentHeader());
    await age(dir, inProgressSegmentName(1), 100 * DAY_MS);
    const purged = await purgeOldStorage(dir, { ...policy, imagesRetainedMin: 0 }, log);
    assert.deepEqual(purged, { images: [], segments: [], oldestKeptImageTxid: null });
    assert.deepEqual(await readdir(dir), [inProgressSegmentName(1)]);
  });
});
