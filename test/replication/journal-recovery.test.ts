import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { TandemError } from '../../src/errors.js';
import { readEdits, recoverJournal } from '../../src/replication/journal-recovery.js';
import { JournalWriter } from '../../src/replication/journal-writer.js';
import { encodeRecord, encodeSegmentHeader, SEGMENT_HEADER_BYTES } from '../../src/replication/record-codec.js';
import type { EditRecord } from '../../src/replication/state-machine.js';
import { finalizedSegmentName, inProgressSegmentName } from '../../src/replication/storage-layout.js';
import { silentLogger } from '../../src/util/log.js';
import { capturingLogger } from '../helpers/log.js';

const log = silentLogger();

/** Drops a writer as a crash would: the file handle closes, the in-progress segment stays. */
async function abandon(writer: JournalWriter): Promise<void> {
  await (writer as unknown as { handle: { close(): Promise<void> } }).handle.close();
}
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-recovery-'));
  dirs.push(dir);
  return dir;
}

function record(txid: number, epoch = 2): EditRecord {
  return { txid, epoch, op: { kind: 'rename', src: `/a/${txid}`, dst: `/b/${txid}` } };
}

function segmentBytes(first: number, count: number): Buffer {
  return Buffer.concat([encodeSegmentHeader(), ...Array.from({ length: count }, (_, i) => encodeRecord(record(first + i)))]);
}


async function readAll(dir: string, fromTxid: number): Promise<EditRecord[]> {
  const out: EditRecord[] = [];
  for await (const r of readEdits(dir, fromTxid)) out.push(r);
  return out;
}

function isCode(code: string, ...mentions: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof TandemError, `expected a TandemError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const m of mentions) assert.ok(err.message.includes(m), `message "${err.message}" should mention ${m}`);
    return true;
  };
}

describe('recoverJournal: torn tail', () => {
  const N = 8;
  const full = segmentBytes(1, N);
  const lastRecordStart = full.length - encodeRecord(record(N)).length;

  it('for every cut inside the last record, keeps exactly the N-1 complete records and truncates', async () => {
    for (let cut = lastRecordStart + 1; cut < full.length; cut++) {
      const dir = tempDir();
      const name = inProgressSegmentName(1);
      writeFileSync(join(dir, name), full.subarray(0, cut));
      const result = await recoverJournal(dir, log);
      assert.equal(result.lastTxid, N - 1, `cut at ${cut}`);
      assert.equal(result.lastEpoch, 2);
      // A written prefix of zeros (the length's high bytes) cannot be told from preallocated space.
      const onlyZeros = full.subarray(lastRecordStart, cut).every((b) => b === 0);
      const expected = onlyZeros ? undefined : { file: join(dir, name), offset: lastRecordStart, bytesDropped: cut - lastRecordStart };
      assert.deepEqual(result.truncated, expected, `cut at ${cut}`);
      assert.deepEqual(readdirSync(dir), [finalizedSegmentName(1, N - 1)]);
      assert.equal(statSync(join(dir, finalizedSegmentName(1, N - 1))).size, lastRecordStart);
      assert.deepEqual(await readAll(dir, 1), Array.from({ length: N - 1 }, (_, i) => record(i + 1)));
      rmSync(dir, { recursive: true });
    }
  });

  it('a cut exactly between records needs no truncation', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, inProgressSegmentName(1)), full.subarray(0, lastRecordStart));
    const result = await recoverJournal(dir, log);
    assert.equal(result.lastTxid, N - 1);
    assert.equal(result.truncated, undefined);
  });

  it('truncates garbage appended after the last record, and says so in a warning', async () => {
    for (const garbage of [Buffer.from('0000000100', 'hex'), Buffer.from('deadbeefcafe', 'hex'), Buffer.alloc(3, 0xff)]) {
      const dir = tempDir();
      const name = inProgressSegmentName(1);
      writeFileSync(join(dir, name), Buffer.concat([full, garbage]));
      const { log: capturing, lines } = capturingLogger();
      const result = await recoverJournal(dir, capturing);
      assert.equal(result.lastTxid, N);
      assert.deepEqual(result.truncated, { file: join(dir, name), offset: full.length, bytesDropped: garbage.length });
      const warning = lines.find((l) => l.level === 40);
      assert.ok(warning, 'a warning is logged');
      assert.match(String(warning.msg), new RegExp(`${name}.*offset ${full.length}.*${garbage.length} bytes`));
    }
  });

  it('zeros after the last record are preallocated space: cut off with no warning and no truncation reported', async () => {
    for (const zeros of [1, 7, 100, 1024 * 1024 - full.length, 200_000]) {
      const dir = tempDir();
      const name = inProgressSegmentName(1);
      writeFileSync(join(dir, name), Buffer.concat([full, Buffer.alloc(zeros)]));
      const { log: capturing, lines } = capturingLogger();
      const result = await recoverJournal(dir, capturing);
      assert.equal(result.lastTxid, N, `${zeros} zeros`);
      assert.equal(result.truncated, undefined, `${zeros} zeros`);
      assert.equal(lines.filter((l) => Number(l.level) >= 40).length, 0, `no warning for ${zeros} zeros`);
      assert.ok(lines.some((l) => /preallocated space/.test(String(l.msg))), 'the cut is logged');
      assert.equal(statSync(join(dir, finalizedSegmentName(1, N))).size, full.length, 'the finalized segment holds its records only');
      assert.deepEqual(await readAll(dir, 1), Array.from({ length: N }, (_, i) => record(i + 1)));
    }
  });

  it('a torn last record followed by preallocated zeros is still a torn tail', async () => {
    const dir = tempDir();
    const name = inProgressSegmentName(1);
    const torn = full.subarray(0, lastRecordStart + 11);
    writeFileSync(join(dir, name), Buffer.concat([torn, Buffer.alloc(4096)]));
    const result = await recoverJournal(dir, log);
    assert.equal(result.lastTxid, N - 1);
    assert.deepEqual(result.truncated, { file: join(dir, name), offset: lastRecordStart, bytesDropped: 11 + 4096 });
  });

  it('a nonzero byte far inside the zeros makes them damage, not preallocated space', async () => {
    const dir = tempDir();
    const name = inProgressSegmentName(1);
    const tail = Buffer.alloc(300_000);
    tail[250_000] = 1;
    writeFileSync(join(dir, name), Buffer.concat([full, tail]));
    const result = await recoverJournal(dir, log);
    assert.equal(result.lastTxid, N);
    assert.deepEqual(result.truncated, { file: join(dir, name), offset: full.length, bytesDropped: tail.length });
  });

  it('a segment torn inside its first record or its header is deleted', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, finalizedSegmentName(1, N)), full);
    writeFileSync(join(dir, inProgressSegmentName(N + 1)), segmentBytes(N + 1, 1).subarray(0, SEGMENT_HEADER_BYTES + 5));
    assert.equal((await recoverJournal(dir, log)).lastTxid, N);
    assert.deepEqual(readdirSync(dir), [finalizedSegmentName(1, N)]);

    writeFileSync(join(dir, inProgressSegmentName(N + 1)), encodeSegmentHeader().subarray(0, 7));
    assert.equal((await recoverJournal(dir, log)).lastTxid, N);
    assert.deepEqual(readdirSync(dir), [finalizedSegmentName(1, N)]);
  });

  it('recovers what a JournalWriter left behind when the process died', async () => {
    const dir = tempDir();
    const writer = await JournalWriter.open(dir, { firstTxid: 1, limits: limitsWith({ segmentBytesMax: 400 }), log });
    for (let txid = 1; txid <= 40; txid++) {
      writer.append(record(txid));
      if (txid % 7 === 0) await writer.flush();
    }
    await writer.flush();
    // No close: the in-progress segment stays, as after a crash.
    await abandon(writer);
    const result = await recoverJournal(dir, log);
    assert.equal(result.lastTxid, 40);
    assert.equal(result.firstTxid, 1);
    assert.equal(result.truncated, undefined, 'the zeros the writer preallocated are no torn tail');
    assert.ok(readdirSync(dir).every((n) => !n.includes('inprogress')));
    assert.deepEqual(await readAll(dir, 1), Array.from({ length: 40 }, (_, i) => record(i + 1)));
  });
});

describe('recoverJournal: corruption is never skipped', () => {
  it('a flipped byte in a middle record of the in-progress segment → JOURNAL_CORRUPT naming file and offset', async () => {
    const dir = tempDir();
    const name = inProgressSegmentName(1);
    const buf = segmentBytes(1, 20);
    const recordBytes = encodeRecord(record(1)).length; // every record here has the same size
    const tenthStart = SEGMENT_HEADER_BYTES + 9 * recordBytes;
    buf[tenthStart + 12]! ^= 0x20;
    writeFileSync(join(dir, name), buf);
    await assert.rejects(recoverJournal(dir, log), isCode('JOURNAL_CORRUPT', name, `offset ${tenthStart}`));
    assert.deepEqual(readFileSync(join(dir, name)), buf, 'the corrupt file is left as it was');
  });

  it('a corrupt length field in the middle → JOURNAL_CORRUPT', async () => {
    const dir = tempDir();
    const name = inProgressSegmentName(1);
    const buf = segmentBytes(1, 5);
    buf.writeUInt32BE(0xffffff, SEGMENT_HEADER_BYTES);
    writeFileSync(join(dir, name), buf);
    await assert.rejects(recoverJournal(dir, log), isCode('JOURNAL_CORRUPT', name, `offset ${SEGMENT_HEADER_BYTES}`));
  });

  it('a record out of txid order → JOURNAL_CORRUPT', async () => {
    const dir = tempDir();
    const name = inProgressSegmentName(1);
    writeFileSync(join(dir, name), Buffer.concat([segmentBytes(1, 3), encodeRecord(record(5))]));
    await assert.rejects(recoverJournal(dir, log), isCode('JOURNAL_CORRUPT', name));
  });

  it('a flipped byte in a finalized segment (even in its last record) → JOURNAL_CORRUPT', async () => {
    const dir = tempDir();
    const name = finalizedSegmentName(1, 10);
    const buf = segmentBytes(1, 10);
    const lastStart = buf.length - encodeRecord(record(10)).length;
    buf[buf.length - 2]! ^= 0x01;
    writeFileSync(join(dir, name), buf);
    await assert.rejects(recoverJournal(dir, log), isCode('JOURNAL_CORRUPT', name, `offset ${lastStart}`));
    await assert.rejects(readAll(dir, 1), isCode('JOURNAL_CORRUPT', name));
  });

  it('a finalized segment shorter than its name says → JOURNAL_CORRUPT', async () => {
    const dir = tempDir();
    const name = finalizedSegmentName(1, 10);
    writeFileSync(join(dir, name), segmentBytes(1, 9));
    await assert.rejects(recoverJournal(dir, log), isCode('JOURNAL_CORRUPT', name));
  });
});

describe('recoverJournal: gaps', () => {
  function threeSegments(dir: string): void {
    writeFileSync(join(dir, finalizedSegmentName(1, 10)), segmentBytes(1, 10));
    writeFileSync(join(dir, finalizedSegmentName(11, 20)), segmentBytes(11, 10));
    writeFileSync(join(dir, finalizedSegmentName(21, 30)), segmentBytes(21, 10));
  }

  it('a missing middle segment → JOURNAL_GAP naming the missing range', async () => {
    const dir = tempDir();
    threeSegments(dir);
    rmSync(join(dir, finalizedSegmentName(11, 20)));
    await assert.rejects(recoverJournal(dir, log), isCode('JOURNAL_GAP', '11..20'));
    await assert.rejects(readAll(dir, 5), isCode('JOURNAL_GAP', '11..20'));
  });

  it('segments purged below the image are allowed; a hole above it is not', async () => {
    const dir = tempDir();
    threeSegments(dir);
    rmSync(join(dir, finalizedSegmentName(1, 10)));
    const result = await recoverJournal(dir, log, { afterTxid: 10 });
    assert.equal(result.lastTxid, 30);
    assert.equal(result.firstTxid, 11);
    await assert.rejects(recoverJournal(dir, log, { afterTxid: 5 }), isCode('JOURNAL_GAP', '6..10'));
    assert.deepEqual((await readAll(dir, 11)).map((r) => r.txid), Array.from({ length: 20 }, (_, i) => i + 11));
    await assert.rejects(readAll(dir, 3), isCode('JOURNAL_GAP', '3..10'));
  });

  it('only the segments after the image are read', async () => {
    const dir = tempDir();
    threeSegments(dir);
    // Damage in a segment the image already covers does not block recovery.
    writeFileSync(join(dir, finalizedSegmentName(1, 10)), Buffer.alloc(50));
    const result = await recoverJournal(dir, log, { afterTxid: 20 });
    assert.equal(result.lastTxid, 30);
    assert.equal(result.lastEpoch, 2);
  });

  it('an image ahead of every segment: lastTxid is the image txid', async () => {
    const dir = tempDir();
    threeSegments(dir);
    const result = await recoverJournal(dir, log, { afterTxid: 45 });
    assert.equal(result.lastTxid, 45);
    assert.equal(result.lastEpoch, 2);
    assert.deepEqual(await readAll(dir, 46), []);
  });

  it('an empty directory recovers to txid 0', async () => {
    const dir = tempDir();
    assert.deepEqual(await recoverJournal(dir, log), { lastTxid: 0, lastEpoch: 0, firstTxid: null });
  });

  it('overlapping segments → JOURNAL_CORRUPT', async () => {
    const dir = tempDir();
    threeSegments(dir);
    copyFileSync(join(dir, finalizedSegmentName(11, 20)), join(dir, finalizedSegmentName(15, 24)));
    await assert.rejects(recoverJournal(dir, log), isCode('JOURNAL_CORRUPT', 'overlaps'));
  });

});

describe('readEdits with stepOverEarlier (an active feeding a standby from disk)', () => {
  async function readStepping(dir: string, fromTxid: number): Promise<EditRecord[]> {
    const out: EditRecord[] = [];
    for await (const r of readEdits(dir, fromTxid, { stepOverEarlier: true })) out.push(r);
    return out;
  }

  it('yields the same records as a full read, from any txid', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, finalizedSegmentName(1, 10)), segmentBytes(1, 10));
    writeFileSync(join(dir, finalizedSegmentName(11, 25)), segmentBytes(11, 15));
    for (const from of [1, 2, 10, 11, 17, 25, 26]) assert.deepEqual(await readStepping(dir, from), await readAll(dir, from), `from ${from}`);
  });

  it('does not look into the records before fromTxid, but still checks the ones it yields and the segment against its name', async () => {
    const dir = tempDir();
    const name = finalizedSegmentName(1, 10);
    const buf = segmentBytes(1, 10);
    // A flipped payload byte in record 3: a full read refuses the segment; a read from 5 steps over it.
    const third = SEGMENT_HEADER_BYTES + encodeRecord(record(1)).length + encodeRecord(record(2)).length;
    buf[third + 10]! ^= 0x01;
    writeFileSync(join(dir, name), buf);
    await assert.rejects(readAll(dir, 5), isCode('JOURNAL_CORRUPT', name));
    assert.deepEqual(await readStepping(dir, 5), Array.from({ length: 6 }, (_, i) => record(i + 5)));
    await assert.rejects(readStepping(dir, 3), isCode('JOURNAL_CORRUPT', name), 'the damaged record is checked when it is yielded');
    // A damaged length before fromTxid throws the walk off its frames: refused, never yielded as records.
    const badLength = segmentBytes(1, 10);
    badLength.writeUInt32BE(5, third);
    writeFileSync(join(dir, name), badLength);
    await assert.rejects(readStepping(dir, 5), isCode('JOURNAL_CORRUPT', name));
    // Shorter than its name says.
    writeFileSync(join(dir, name), segmentBytes(1, 9));
    await assert.rejects(readStepping(dir, 5), isCode('JOURNAL_CORRUPT', name));
  });
});
