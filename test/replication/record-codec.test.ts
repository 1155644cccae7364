import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeRecordAt,
  decodeRecordBatch,
  encodeRecord,
  encodeSegmentHeader,
  findValidRecordAfter,
  isPadding,
  scanRecords,
  SEGMENT_HEADER_BYTES,
  segmentHeaderProblem,
} from '../../src/replication/record-codec.js';
import type { EditRecord } from '../../src/replication/state-machine.js';
import { toMutation, type MutationMethod } from '../../src/master/namespace-methods.js';
import { Packr } from 'msgpackr';
import { crc32c } from '@node-rs/crc32';
import {
  finalizedSegmentName,
  imageName,
  inProgressSegmentName,
  parseImageName,
  parseSegmentName,
} from '../../src/replication/storage-layout.js';

function records(first: number, count: number): EditRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    txid: first + i,
    epoch: 3,
    op: { kind: 'mkdir', path: `/d/${first + i}`, nested: { ids: [1, 2, first + i] } },
  }));
}

function segment(recs: EditRecord[]): Buffer {
  return Buffer.concat([encodeSegmentHeader(), ...recs.map(encodeRecord)]);
}

describe('record codec', () => {
  it('round-trips records through encode and scan', () => {
    const recs = records(7, 50);
    const buf = segment(recs);
    assert.equal(segmentHeaderProblem(buf), null);
    const scan = scanRecords(buf, { start: SEGMENT_HEADER_BYTES, expectedFirstTxid: 7 });
    assert.equal(scan.stop, undefined);
    assert.equal(scan.endOffset, buf.length);
    assert.deepEqual(scan.records, recs);
  });

  it('writes the documented header', () => {
    const header = encodeSegmentHeader();
    assert.equal(header.length, 16);
    assert.equal(header.toString('ascii', 0, 8), 'TNDMEDIT');
    assert.equal(header.readUInt32BE(8), 2);
    assert.equal(header.readUInt32BE(12), 0);
    assert.match(segmentHeaderProblem(Buffer.from('NOTEDIT!\0\0\0\x01\0\0\0\0')) ?? '', /magic/);
    assert.match(segmentHeaderProblem(header.subarray(0, 10)) ?? '', /10 bytes/);
  });

  it('stops at a torn record, a bad crc, a bad length and an out-of-order txid', () => {
    const recs = records(1, 3);
    const full = segment(recs);
    const lastStart = full.length - encodeRecord(recs[2]!).length;

    const torn = scanRecords(full.subarray(0, full.length - 1), { start: SEGMENT_HEADER_BYTES });
    assert.equal(torn.records.length, 2);
    assert.deepEqual({ offset: torn.stop?.offset, reason: torn.stop?.reason }, { offset: lastStart, reason: 'torn' });

    const flipped = Buffer.from(full);
    flipped[full.length - 1]! ^= 0x01;
    assert.equal(scanRecords(flipped, { start: SEGMENT_HEADER_BYTES }).stop?.reason, 'crc');

    const badLength = Buffer.from(full);
    badLength.writeUInt32BE(0, lastStart);
    assert.equal(scanRecords(badLength, { start: SEGMENT_HEADER_BYTES }).stop?.reason, 'length');

    const outOfOrder = segment([recs[0]!, recs[2]!]);
    const scan = scanRecords(outOfOrder, { start: SEGMENT_HEADER_BYTES });
    assert.equal(scan.stop?.reason, 'txid-order');
    assert.equal(scanRecords(segment(recs), { start: SEGMENT_HEADER_BYTES, expectedFirstTxid: 2 }).stop?.reason, 'txid-order');
  });

  it('rejects a payload with a good crc that is not a record', async () => {
    const { crc32c } = await import('@node-rs/crc32');
    const { Packr } = await import('msgpackr');
    const payload = new Packr({ useRecords: false }).pack({ hello: 'world' });
    const buf = Buffer.alloc(8 + payload.length);
    buf.writeUInt32BE(payload.length, 0);
    buf.writeUInt32BE(crc32c(payload), 4);
    payload.copy(buf, 8);
    const at = decodeRecordAt(buf, 0);
    assert.equal(at.ok, false);
    assert.equal(!at.ok && at.reason, 'decode');
  });

  it('finds the next valid record after damage', () => {
    const recs = records(1, 4);
    const buf = segment(recs);
    const secondStart = SEGMENT_HEADER_BYTES + encodeRecord(recs[0]!).length;
    const thirdStart = secondStart + encodeRecord(recs[1]!).length;
    buf[secondStart + 10]! ^= 0xff;
    assert.deepEqual(findValidRecordAfter(buf, secondStart + 1, 1), { offset: thirdStart, txid: 3 });
    assert.equal(findValidRecordAfter(buf, secondStart + 1, 4), null);
  });

  it('a scan stops where preallocated zeros start, and isPadding tells zeros from damage', () => {
    const recs = records(1, 5);
    const body = segment(recs);
    const buf = Buffer.concat([body, Buffer.alloc(200_000)]);
    const scan = scanRecords(buf, { start: SEGMENT_HEADER_BYTES, expectedFirstTxid: 1 });
    assert.equal(scan.records.length, 5);
    assert.equal(scan.stop?.offset, body.length);
    assert.equal(isPadding(buf, body.length), true);
    assert.equal(isPadding(buf, buf.length), true, 'nothing left is no damage');
    assert.equal(isPadding(buf, body.length - 1), false);
    for (const at of [body.length, body.length + 65_535, body.length + 65_536, buf.length - 1]) {
      const damaged = Buffer.from(buf);
      damaged[at] = 0x80;
      assert.equal(isPadding(damaged, body.length), false, `a nonzero byte at ${at}`);
    }
  });
});

describe('storage layout', () => {
  it('pads txids to 19 digits so names sort by txid', () => {
    assert.equal(inProgressSegmentName(42), 'edits_inprogress_0000000000000000042');
    assert.equal(finalizedSegmentName(1, 9), 'edits_0000000000000000001-0000000000000000009');
    assert.equal(imageName(1000), 'fsimage_0000000000000001000');
    const names = [9, 10, 100, 11].map((t) => imageName(t)).sort();
    assert.deepEqual(names.map((n) => parseImageName('/d', n)?.txid), [9, 10, 11, 100]);
    assert.deepEqual(parseSegmentName('/d', finalizedSegmentName(5, 8)), {
      name: finalizedSegmentName(5, 8),
      path: `/d/${finalizedSegmentName(5, 8)}`,
      firstTxid: 5,
      lastTxid: 8,
      inProgress: false,
    });
    assert.equal(parseSegmentName('/d', 'edits_5-8'), null);
    assert.equal(parseImageName('/d', `${imageName(3)}.tmp`), null);
  });
});

describe('decodeRecordBatch (a repl.append batch)', () => {
  it('returns every record and its exact bytes, which re-encode to the same', () => {
    const recs = records(40, 12);
    const buf = Buffer.concat(recs.map(encodeRecord));
    const batch = decodeRecordBatch(buf);
    assert.ok(batch.ok);
    assert.deepEqual(batch.records, recs);
    assert.equal(batch.encoded.length, recs.length);
    batch.encoded.forEach((bytes, i) => assert.ok(bytes.equals(encodeRecord(recs[i]!))));
    assert.deepEqual(decodeRecordBatch(Buffer.alloc(0)), { ok: true, records: [], encoded: [] });
  });

  it('names the first bad record: flipped byte, torn end, txids out of order', () => {
    const recs = records(1, 5);
    const parts = recs.map(encodeRecord);
    const third = parts[0]!.length + parts[1]!.length;
    const flipped = Buffer.concat(parts);
    flipped[third + 12] = flipped[third + 12]! ^ 0x40;
    assert.deepEqual(pick(decodeRecordBatch(flipped)), { ok: false, offset: third, reason: 'crc' });
    const torn = Buffer.concat(parts).subarray(0, -3);
    assert.deepEqual(pick(decodeRecordBatch(torn)), { ok: false, offset: torn.length - parts[4]!.length + 3, reason: 'torn' });
    const swapped = Buffer.concat([parts[0]!, parts[2]!, parts[1]!]);
    assert.deepEqual(pick(decodeRecordBatch(swapped)), { ok: false, offset: parts[0]!.length, reason: 'txid-order' });
  });
});

function pick(result: ReturnType<typeof decodeRecordBatch>): unknown {
  return result.ok ? { ok: true } : { ok: false, offset: result.offset, reason: result.reason };
}

/** A record's payload as msgpack decodes it (the form it took on disk). */
function payloadOf(encoded: Buffer): unknown {
  return new Packr({ useRecords: false }).unpack(encoded.subarray(8));
}

/** A record with a hand-made payload, header and CRC included. */
function withPayload(payload: unknown): Buffer {
  const body = new Packr({ useRecords: false }).pack(payload);
  const out = Buffer.alloc(8 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.writeUInt32BE(crc32c(body), 4);
  body.copy(out, 8);
  return out;
}

describe('compact records (segment format 2)', () => {
  const envelope = { user: 'alice', groups: ['staff', 'eng'], clientId: 'c-1', callId: 7 };
  // Every field each op's schema allows, and the fewest it needs.
  const ops: [MutationMethod, Record<string, unknown>][] = [
    ['ns.create', { ...envelope, path: '/a/f', overwrite: true, permission: 0o600, replication: 2, blockSize: 1024 }],
    ['ns.create', { ...envelope, path: '/a/f' }],
    ['ns.mkdirs', { ...envelope, path: '/a/b', permission: 0o700 }],
    ['ns.mkdirs', { ...envelope, path: '/a/b' }],
    ['ns.delete', { ...envelope, path: '/a', recursive: true }],
    ['ns.rename', { ...envelope, src: '/a', dst: '/b' }],
    ['ns.complete', { ...envelope, path: '/a/f', fileId: 12, length: 4096 }],
  ];

  it('the namespace\'s hot ops, as the RPC layer makes them, take the compact form and come back equal', () => {
    for (const [method, args] of ops) {
      const record: EditRecord = { txid: 41, epoch: 3, op: toMutation(method, args, 1_700_000_000_123) };
      const encoded = encodeRecord(record);
      assert.ok(Array.isArray(payloadOf(encoded)), `${method} ${JSON.stringify(args)} is compact`);
      const back = decodeRecordAt(encoded, 0);
      assert.ok(back.ok);
      assert.deepEqual(back.record, record, method);
      assert.equal(back.bytes, encoded.length);
    }
  });

  it('is smaller than the map form', () => {
    const record: EditRecord = { txid: 41, epoch: 3, op: toMutation('ns.create', { ...envelope, path: '/a/f' }, 1_700_000_000_123) };
    const mapForm = new Packr({ useRecords: false }).pack({ txid: 41, epoch: 3, op: record.op });
    assert.ok(encodeRecord(record).length - 8 < mapForm.length * 0.6, `${encodeRecord(record).length - 8} vs ${mapForm.length} bytes`);
  });

  it('an op with a field its shape does not name, a null value, an undefined one or an unknown type takes the map form', () => {
    const base = toMutation('ns.create', { ...envelope, path: '/a/f' }, 5) as unknown as Record<string, unknown>;
    const variants: Record<string, unknown>[] = [
      { ...base, extra: 1 },
      { ...base, permission: null },
      { ...base, permission: undefined },
      { ...base, type: 'setOwner', owner: 'bob' },
      { type: '@verify' },
    ];
    for (const op of variants) {
      const record: EditRecord = { txid: 9, epoch: 1, op };
      const encoded = encodeRecord(record);
      assert.ok(!Array.isArray(payloadOf(encoded)), JSON.stringify(op));
      const back = decodeRecordAt(encoded, 0);
      assert.ok(back.ok);
      assert.deepEqual(back.record, { txid: 9, epoch: 1, op: new Packr({ useRecords: false }).unpack(new Packr({ useRecords: false }).pack(op)) });
    }
  });

  it('a malformed compact record is a decode stop naming what is wrong', () => {
    const cases: [unknown[], RegExp][] = [
      [[1, 1, 99, 'x'], /unknown op shape 99/],
      [[1, 1, 'create'], /unknown op shape/],
      [[0, 1, 0], /txid and epoch/],
      [[1, -1, 0], /txid and epoch/],
      [[1, 1, 4, 'u', [], 'c', 1, 2, '/p', 1, 2, 3], /values for the/],
    ];
    for (const [payload, message] of cases) {
      const at = decodeRecordAt(withPayload(payload), 0);
      assert.equal(at.ok, false, JSON.stringify(payload));
      if (!at.ok) {
        assert.equal(at.reason, 'decode');
        assert.match(at.detail, message);
      }
    }
  });

  it('segments of format 1 (map-form records only) are still read; a newer format is refused by name', () => {
    const v1 = Buffer.concat([encodeSegmentHeader(), withPayload({ txid: 1, epoch: 1, op: { type: 'create', path: '/old' } })]);
    v1.writeUInt32BE(1, 8);
    assert.equal(segmentHeaderProblem(v1), null);
    const scan = scanRecords(v1, { start: SEGMENT_HEADER_BYTES, expectedFirstTxid: 1 });
    assert.deepEqual(scan.records, [{ txid: 1, epoch: 1, op: { type: 'create', path: '/old' } }]);
    const v3 = Buffer.from(v1);
    v3.writeUInt32BE(3, 8);
    assert.match(segmentHeaderProblem(v3) ?? '', /unsupported segment format version 3/);
  });
});
