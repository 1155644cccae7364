// The transfer protocol's codec: requests, packets and acks round-trip whatever way the
// socket cuts them; oversized, truncated and garbage input gives typed errors, never a crash.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { computeChunkCrcs, findBadChunk, findBadChunkInParts, partsBytes } from '../../src/datanode/chunk-checksums.js';
import { datanodeConfigWith } from '../../src/datanode/config.js';
import { TransferDecoder, encodeAck, encodeMessage, encodePacketHead, parseRequest, type Packet } from '../../src/datanode/packet.js';

const config = datanodeConfigWith({ chunkBytes: 512, packetDataBytesMax: 4096, requestBytesMax: 1024 });

function packetBytes(seq: number, last: boolean, offset: number, data: Buffer): Buffer {
  return Buffer.concat([encodePacketHead(seq, last, offset, data.length, computeChunkCrcs(data, config.chunkBytes)), data]);
}

/** Feeds `bytes` to a decoder cut at `cuts`, collecting messages in the order the protocol expects them. */
function decodeStream(bytes: Buffer, cuts: number[]): { request: unknown; packets: Packet[] } {
  const decoder = new TransferDecoder(config);
  let request: unknown;
  const packets: Packet[] = [];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let previous = 0;
  for (const point of [...points, bytes.length]) {
    decoder.push(bytes.subarray(previous, point));
    previous = point;
    if (request === undefined) request = decoder.nextFrame();
    if (request !== undefined) for (let p = decoder.nextPacket(); p !== undefined; p = decoder.nextPacket()) packets.push(p);
  }
  assert.equal(decoder.buffered, 0);
  return { request, packets };
}

test('a request and packets round-trip through any cutting of the stream (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 4096 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      (sizes, cuts, base) => {
        const request = { op: 'write', blockId: 'fms-3_99', genStamp: 4, offset: 0, targets: [{ id: 'dn2', data: '127.0.0.1:9' }], finalize: true, discardAbandoned: false };
        const datas = sizes.map((n) => randomBytes(n));
        const offset = base - (base % config.chunkBytes);
        const stream = Buffer.concat([encodeMessage(request, config.requestBytesMax), ...datas.map((d, i) => packetBytes(i, i === datas.length - 1, offset + i * 4096, d))]);
        const decoded = decodeStream(stream, cuts);
        assert.deepEqual(parseRequest(decoded.request, config), request);
        assert.equal(decoded.packets.length, datas.length);
        decoded.packets.forEach((p, i) => {
          assert.equal(p.seq, i);
          assert.equal(p.last, i === datas.length - 1);
          assert.equal(p.offset, offset + i * 4096);
          assert.deepEqual(p.data, datas[i]);
          assert.deepEqual(p.crcs, computeChunkCrcs(datas[i] as Buffer, config.chunkBytes));
        });
      },
    ),
    { numRuns: 200 },
  );
});

test('acks round-trip, also one byte at a time', () => {
  const decoder = new TransferDecoder(config);
  const bytes = Buffer.concat([encodeAck({ seq: 1, status: 0, okReplicas: 3 }), encodeAck({ seq: 2, status: 1, okReplicas: 1 })]);
  const acks = [];
  for (const byte of bytes) {
    decoder.push(Buffer.from([byte]));
    for (let a = decoder.nextAck(); a !== undefined; a = decoder.nextAck()) acks.push(a);
  }
  assert.deepEqual(acks, [
    { seq: 1, status: 0, okReplicas: 3 },
    { seq: 2, status: 1, okReplicas: 1 },
  ]);
});

test('an oversized request length is refused as soon as its 4 bytes arrive, and the decoder keeps nothing', () => {
  const decoder = new TransferDecoder(config);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(0xfffffff0);
  decoder.push(header);
  assert.throws(() => decoder.nextFrame(), { code: 'FRAME_TOO_LARGE' });
  decoder.push(randomBytes(100_000));
  assert.equal(decoder.buffered, 0, 'nothing is buffered after a failure');
  assert.throws(() => decoder.nextFrame(), { code: 'FRAME_TOO_LARGE' }, 'the failure sticks');
  assert.throws(() => encodeMessage({ pad: 'x'.repeat(2000) }, config.requestBytesMax), { code: 'FRAME_TOO_LARGE' });
});

test('packets with too much data, wrong CRC counts, unknown flags or huge offsets are typed errors', () => {
  const cases: Array<[string, (head: Buffer) => void, string]> = [
    ['data over the limit', (h) => h.writeUInt32BE(config.packetDataBytesMax + 1, 16), 'FRAME_TOO_LARGE'],
    ['CRC count off', (h) => h.writeUInt32BE(7, 20), 'MALFORMED_FRAME'],
    ['unknown flag', (h) => h.writeUInt32BE(4, 4), 'MALFORMED_FRAME'],
    ['offset past 2^53', (h) => h.writeUInt32BE(0xffffffff, 8), 'MALFORMED_FRAME'],
  ];
  for (const [what, spoil, code] of cases) {
    const data = randomBytes(1000);
    const bytes = packetBytes(0, false, 0, data);
    spoil(bytes);
    const decoder = new TransferDecoder(config);
    decoder.push(bytes);
    assert.throws(() => decoder.nextPacket(), { code }, what);
  }
});

test('garbage and truncated frames: typed errors or "not yet", never a crash', () => {
  // A truncated frame is simply incomplete.
  const frame = encodeMessage({ op: 'read', blockId: 'fms-0_1', genStamp: 1, offset: 0, length: 5 }, config.requestBytesMax);
  const partial = new TransferDecoder(config);
  partial.push(frame.subarray(0, frame.length - 1));
  assert.equal(partial.nextFrame(), undefined);
  // Garbage inside a well-sized frame: MALFORMED_FRAME; valid msgpack of the wrong shape: INVALID_ARGUMENT.
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (garbage) => {
      const decoder = new TransferDecoder(config);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(garbage.length);
      decoder.push(Buffer.concat([length, garbage]));
      try {
        parseRequest(decoder.nextFrame(), config);
      } catch (err) {
        assert.ok(['MALFORMED_FRAME', 'INVALID_ARGUMENT'].includes((err as { code?: string }).code ?? ''), String(err));
      }
    }),
    { numRuns: 300 },
  );
  for (const bad of [
    { op: 'write', blockId: '../x', genStamp: 1, offset: 0, targets: [] },
    { op: 'read', blockId: 'fms-0_1', genStamp: -1, offset: 0, length: 1 },
    { op: 'copy', blockId: 'fms-0_1', genStamp: 1, length: 1, targets: [] },
    { op: 'erase', blockId: 'fms-0_1' },
    'hello',
    null,
  ]) {
    assert.throws(() => parseRequest(bad, config), { code: 'INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
});

test('a packet taken as parts is the views of the chunks it came in, and its CRCs check across their seams (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 4096 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.option(fc.nat(), { nil: null }),
      (size, cuts, flip) => {
        const data = randomBytes(size);
        const crcs = computeChunkCrcs(data, config.chunkBytes);
        const stream = Buffer.concat([encodePacketHead(0, false, 0, data.length, crcs), data]);
        const decoder = new TransferDecoder(config);
        const chunks: Buffer[] = [];
        let previous = 0;
        for (const point of [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b).concat(stream.length)) {
          const chunk = Buffer.from(stream.subarray(previous, point));
          chunks.push(chunk);
          decoder.push(chunk);
          previous = point;
        }
        const packet = decoder.nextPacketParts();
        assert.ok(packet !== undefined);
        assert.equal(decoder.buffered, 0);
        assert.equal(packet.dataBytes, size);
        assert.deepEqual(Buffer.concat(packet.parts), data);
        assert.ok(
          packet.parts.every((part) => chunks.some((chunk) => chunk.buffer === part.buffer)),
          'every part is a view of a pushed chunk, not a copy',
        );
        assert.equal(findBadChunkInParts(packet.parts, packet.crcs, config.chunkBytes), -1);
        if (flip !== null && size > 0) {
          // One bit flipped anywhere: the same chunk fails, whichever parts it straddles.
          const at = flip % size;
          const owner = packet.parts.findIndex((_, i) => partsBytes(packet.parts.slice(0, i + 1)) > at);
          const within = at - partsBytes(packet.parts.slice(0, owner));
          packet.parts[owner]![within]! ^= 1;
          assert.equal(findBadChunkInParts(packet.parts, packet.crcs, config.chunkBytes), Math.floor(at / config.chunkBytes));
          assert.equal(findBadChunk(Buffer.concat(packet.parts), packet.crcs, config.chunkBytes), Math.floor(at / config.chunkBytes));
        }
      },
    ),
    { numRuns: 300 },
  );
});
