import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { TandemError } from '../../src/errors.js';
import { readEdits, recoverJournal } from '../../src/replication/journal-recovery.js';
import { JournalWriter, SEGMENT_PREALLOCATE_BYTES } from '../../src/replication/journal-writer.js';
import { encodeRecord, SEGMENT_HEADER_BYTES } from '../../src/replication/record-codec.js';
import type { EditRecord } from '../../src/replication/state-machine.js';
import { finalizedSegmentName, inProgressSegmentName } from '../../src/replication/storage-layout.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir as sharedTempDir } from '../helpers/temp.js';

const log = silentLogger();
const tempDir = (): Promise<string> => sharedTempDir('tandem-journal-');

function record(txid: number): EditRecord {
  return { txid, epoch: 1, op: { kind: 'create', path: `/file-${txid}`, mtimeMs: 1_700_000_000_000 + txid } };
}

async function readAll(dir: string, fromTxid: number): Promise<EditRecord[]> {
  const out: EditRecord[] = [];
  for await (const r of readEdits(dir, fromTxid)) out.push(r);
  return out;
}

describe('JournalWriter', () => {
  it('creates the in-progress segment with its header', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 5, limits: limitsWith(), log });
    assert.deepEqual(await readdir(dir), [inProgressSegmentName(5)]);
    assert.equal(writer.durableTxid, 4);
    assert.equal(writer.lastAppendedTxid, 4);
    await writer.close();
    assert.deepEqual(await readdir(dir), [], 'an empty segment is removed at close');
  });

  it('group commit: 1000 records appended in one turn share few fsyncs', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith(), log });
    const reported: number[] = [];
    writer.onDurable = (txid) => reported.push(txid);
    const fsyncsBefore = writer.stats.fsyncs;
    for (let txid = 1; txid <= 1000; txid++) writer.append(record(txid));
    assert.equal(writer.lastAppendedTxid, 1000);
    assert.equal(writer.durableTxid, 0, 'nothing is durable before the flush runs');
    await writer.flush();
    assert.equal(writer.durableTxid, 1000);
    const stats = writer.stats;
    assert.equal(stats.records, 1000);
    assert.ok(stats.fsyncs - fsyncsBefore <= 2, `${stats.fsyncs - fsyncsBefore} fsyncs for 1000 records`);
    assert.ok(stats.flushes <= 2);
    assert.equal(reported.at(-1), 1000);
    for (let i = 1; i < reported.length; i++) assert.ok(reported[i]! > reported[i - 1]!, 'onDurable is monotonic');
    await writer.close();
    assert.deepEqual(await readdir(dir), [finalizedSegmentName(1, 1000)]);
    assert.deepEqual(await readAll(dir, 1), Array.from({ length: 1000 }, (_, i) => record(i + 1)));
  });

  it('flushes on its own (setImmediate) without an explicit flush', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith(), log });
    const durable = new Promise<number>((resolve) => {
      writer.onDurable = (txid) => {
        if (txid === 3) resolve(txid);
      };
    });
    writer.append(record(1));
    writer.append(record(2));
    writer.append(record(3));
    assert.equal(await durable, 3);
    assert.equal(writer.stats.flushes, 1, 'records of one turn share one flush');
    await writer.close();
  });

  it('records arriving during an fsync pile up and share the next one', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith(), log });
    const reported: number[] = [];
    let next = 1;
    writer.onDurable = (txid) => {
      reported.push(txid);
      // The driver appends more while each flush completes: they must go out together.
      if (next <= 400) for (let i = 0; i < 100; i++) writer.append(record(next++));
    };
    for (let i = 0; i < 100; i++) writer.append(record(next++));
    while (writer.durableTxid < 400) await writer.flush();
    assert.deepEqual(reported, [100, 200, 300, 400]);
    assert.equal(writer.stats.flushes, 4);
    await writer.close();
  });

  it('caps one flush at groupCommitBytesMax and writes the rest in the next', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith({ groupCommitBytesMax: 1000 }), log });
    for (let txid = 1; txid <= 200; txid++) writer.append(record(txid));
    await writer.flush();
    const stats = writer.stats;
    assert.equal(stats.records, 200);
    assert.ok(stats.flushes >= Math.ceil(stats.bytes / 1000), `${stats.flushes} flushes for ${stats.bytes} bytes`);
    await writer.close();
    assert.equal((await readAll(dir, 1)).length, 200);
  });

  it('refuses records past journalPendingRecordsMax with TOO_MANY_IN_FLIGHT', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith({ journalPendingRecordsMax: 10 }), log });
    for (let txid = 1; txid <= 10; txid++) writer.append(record(txid));
    assert.throws(
      () => writer.append(record(11)),
      (err: unknown) => err instanceof TandemError && err.code === 'TOO_MANY_IN_FLIGHT',
    );
    assert.equal(writer.lastAppendedTxid, 10, 'the refused record was not queued');
    await writer.flush();
    writer.append(record(11));
    await writer.close();
    assert.equal((await readAll(dir, 1)).length, 11);
  });

  it('throws on a txid that does not follow the last one', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith(), log });
    writer.append(record(1));
    assert.throws(() => writer.append(record(3)), /expected 2/);
    assert.throws(() => writer.append(record(1)), /expected 2/);
    await writer.close();
  });

  it('rolls by size after a flush', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith({ segmentBytesMax: 600 }), log });
    for (let txid = 1; txid <= 100; txid++) {
      writer.append(record(txid));
      if (txid % 10 === 0) await writer.flush();
    }
    await writer.close();
    const names = (await readdir(dir)).sort();
    assert.ok(names.length >= 3, `${names.join(', ')}`);
    assert.ok(writer.stats.rolls >= 2);
    assert.ok(names.every((n) => !n.includes('inprogress')));
    const recovered = await recoverJournal(dir, log);
    assert.equal(recovered.lastTxid, 100);
    assert.deepEqual(await readAll(dir, 1), Array.from({ length: 100 }, (_, i) => record(i + 1)));
    assert.deepEqual((await readAll(dir, 57)).map((r) => r.txid)[0], 57);
  });

  it('preallocates the in-progress segment a MiB at a time and cuts the zeros off before finalizing', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith(), log });
    const inProgress = join(dir, inProgressSegmentName(1));
    assert.equal((await stat(inProgress)).size, SEGMENT_HEADER_BYTES, 'nothing preallocated before the first record');
    const big = (txid: number): EditRecord => ({ txid, epoch: 1, op: { kind: 'create', path: `/${'x'.repeat(3000)}-${txid}` } });
    let recordBytes = SEGMENT_HEADER_BYTES;
    for (let txid = 1; txid <= 500; txid++) {
      const r = big(txid);
      recordBytes += encodeRecord(r).length;
      writer.append(r);
      if (txid % 50 === 0) {
        await writer.flush();
        const size = (await stat(inProgress)).size;
        assert.equal(size % SEGMENT_PREALLOCATE_BYTES, 0, `file size ${size} is whole MiBs`);
        assert.ok(size >= recordBytes && size - recordBytes < SEGMENT_PREALLOCATE_BYTES, `${size} bytes for ${recordBytes} bytes of records`);
      }
    }
    assert.ok(recordBytes > SEGMENT_PREALLOCATE_BYTES, 'the test crosses a MiB boundary');
    // Zeros go out once per MiB boundary crossed, each run up to the next boundary.
    const crossings = Math.ceil(recordBytes / SEGMENT_PREALLOCATE_BYTES);
    const { preallocatedBytes } = writer.stats;
    assert.ok(preallocatedBytes > 0 && preallocatedBytes < crossings * SEGMENT_PREALLOCATE_BYTES, `${preallocatedBytes} bytes of zeros written`);
    await writer.roll();
    assert.equal((await stat(join(dir, finalizedSegmentName(1, 500)))).size, recordBytes, 'a finalized segment holds its records only');
    writer.append(big(501));
    await writer.close();
    assert.equal((await stat(join(dir, finalizedSegmentName(501, 501)))).size, SEGMENT_HEADER_BYTES + encodeRecord(big(501)).length);
    const recovered = await recoverJournal(dir, log);
    assert.equal(recovered.lastTxid, 501);
    assert.equal((await readAll(dir, 1)).length, 501);
  });

  it('rolls by age with the injected clock, and not before', async () => {
    const dir = await tempDir();
    let nowMs = 1_000_000;
    const writer = await JournalWriter.open(dir, {
      firstTxid: 1,
      limits: limitsWith({ segmentRollIntervalMs: 60_000 }),
      log,
      now: () => nowMs,
    });
    for (let txid = 1; txid <= 5; txid++) writer.append(record(txid));
    nowMs += 59_999;
    await writer.maybeRoll();
    assert.deepEqual(await readdir(dir), [inProgressSegmentName(1)]);
    nowMs += 1;
    await writer.maybeRoll();
    assert.deepEqual((await readdir(dir)).sort(), [finalizedSegmentName(1, 5), inProgressSegmentName(6)]);
    // The new segment is young again; an explicit roll of an empty segment does nothing.
    await writer.maybeRoll();
    await writer.roll();
    assert.deepEqual((await readdir(dir)).sort(), [finalizedSegmentName(1, 5), inProgressSegmentName(6)]);
    writer.append(record(6));
    await writer.roll();
    assert.deepEqual((await readdir(dir)).sort(), [
      finalizedSegmentName(1, 5),
      finalizedSegmentName(6, 6),
      inProgressSegmentName(7),
    ]);
    await writer.close();
    assert.deepEqual((await readdir(dir)).sort(), [finalizedSegmentName(1, 5), finalizedSegmentName(6, 6)]);
  });

  it('close finalizes and flushes records appended just before it', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 10, limits: limitsWith(), log });
    for (let txid = 10; txid <= 19; txid++) writer.append(record(txid));
    await writer.close();
    assert.equal(writer.durableTxid, 19);
    assert.deepEqual(await readdir(dir), [finalizedSegmentName(10, 19)]);
    assert.throws(() => writer.append(record(20)), /closed/);
  });

  it('an I/O failure is fatal: onFatal is called once and the writer refuses more', async () => {
    const dir = await tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith(), log });
    const fatal: Error[] = [];
    writer.onFatal = (err) => fatal.push(err);
    writer.append(record(1));
    await writer.flush();
    // Pull the file handle out from under the writer: the next write fails with EBADF.
    await (writer as unknown as { handle: { close(): Promise<void> } }).handle.close();
    writer.append(record(2));
    await assert.rejects(writer.flush());
    assert.equal(fatal.length, 1);
    assert.equal(writer.durableTxid, 1);
    assert.throws(() => writer.append(record(3)), /failed/);
    await assert.rejects(writer.close());
  });
});
