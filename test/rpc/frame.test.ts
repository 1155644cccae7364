// Unit and property tests of the framing: encodeFrame, decodePayload, FrameDecoder, FrameOutbox.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TandemError } from '../../src/errors.js';
import { decodePayload, encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameOutbox } from '../../src/rpc/frame.js';

const FRAME_BYTES_MAX = 1024 * 1024;

function frameOf(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

function drain(decoder: FrameDecoder): Buffer[] {
  const out: Buffer[] = [];
  for (let payload = decoder.next(); payload !== undefined; payload = decoder.next()) out.push(payload);
  return out;
}

/** Cuts `bytes` at the given fractions of its length. */
function cut(bytes: Buffer, fractions: number[]): Buffer[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function isCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof TandemError && err.code === code;
}

describe('encodeFrame / decodePayload', () => {
  it('round-trips plain values with a big-endian length prefix', () => {
    const value = { id: 7, method: 'getFileInfo', args: { path: '/a/b', n: [1, 2.5, -3], flag: true, none: null } };
    const frame = encodeFrame(value, FRAME_BYTES_MAX);
    assert.equal(frame.readUInt32BE(0), frame.length - FRAME_HEADER_BYTES);
    assert.deepEqual(decodePayload(frame.subarray(FRAME_HEADER_BYTES)), value);
  });

  it('round-trips binary data as a Buffer', () => {
    const bytes = Buffer.from([0, 1, 2, 255]);
    const decoded = decodePayload(encodeFrame({ data: bytes }, FRAME_BYTES_MAX).subarray(4)) as { data: unknown };
    assert.ok(decoded.data instanceof Uint8Array);
    assert.deepEqual(Buffer.from(decoded.data as Uint8Array), bytes);
  });

  it('writes undefined as plain msgpack nil', () => {
    const frame = encodeFrame(undefined, FRAME_BYTES_MAX);
    assert.deepEqual([...frame.subarray(4)], [0xc0]);
  });

  it('refuses a payload over the limit with FRAME_TOO_LARGE', () => {
    assert.throws(() => encodeFrame('x'.repeat(200), 100), isCode('FRAME_TOO_LARGE'));
    assert.doesNotThrow(() => encodeFrame('x'.repeat(90), 100));
  });

  it('earlier frames stay intact after later encodes', () => {
    const first = encodeFrame({ n: 1, s: 'first' }, FRAME_BYTES_MAX);
    const copy = Buffer.from(first);
    for (let i = 0; i < 2_000; i++) encodeFrame({ n: i, s: 'later'.repeat(10) }, FRAME_BYTES_MAX);
    assert.deepEqual(first, copy);
  });

  it('rejects bytes that are not exactly one msgpack value with MALFORMED_FRAME', () => {
    assert.throws(() => decodePayload(Buffer.alloc(0)), isCode('MALFORMED_FRAME'));
    assert.throws(() => decodePayload(Buffer.from([0xc7, 0x00, 0x99])), isCode('MALFORMED_FRAME')); // unknown extension
    assert.throws(() => decodePayload(Buffer.from([0x92, 0x01])), isCode('MALFORMED_FRAME')); // truncated array
    assert.throws(() => decodePayload(Buffer.from([0x01, 0x02])), isCode('MALFORMED_FRAME')); // trailing bytes
  });
});

describe('FrameDecoder', () => {
  it('returns a payload inside one chunk as a view, without copying', () => {
    const chunk = Buffer.concat([frameOf(Buffer.from('abc')), frameOf(Buffer.from('defg'))]);
    const decoder = new FrameDecoder(FRAME_BYTES_MAX);
    decoder.push(chunk);
    const payloads = drain(decoder);
    assert.deepEqual(payloads.map((p) => p.toString()), ['abc', 'defg']);
    for (const payload of payloads) assert.equal(payload.buffer, chunk.buffer);
    assert.equal(decoder.buffered, 0);
  });

  it('decodes a frame fed one byte at a time', () => {
    const frame = encodeFrame({ id: 1, method: 'echo', args: 'hello' }, FRAME_BYTES_MAX);
    const decoder = new FrameDecoder(FRAME_BYTES_MAX);
    const payloads: Buffer[] = [];
    for (let i = 0; i < frame.length; i++) {
      decoder.push(frame.subarray(i, i + 1));
      payloads.push(...drain(decoder));
      if (i < frame.length - 1) assert.equal(payloads.length, 0);
    }
    assert.equal(payloads.length, 1);
    assert.deepEqual(decodePayload(payloads[0] as Buffer), { id: 1, method: 'echo', args: 'hello' });
  });

  it('rejects an oversized length as soon as the 4 length bytes arrive, keeping nothing', () => {
    const decoder = new FrameDecoder(1_000);
    decoder.push(Buffer.from([0x00, 0x00]));
    assert.equal(decoder.next(), undefined);
    decoder.push(Buffer.from([0x03, 0xe9, 0xaa, 0xbb])); // length 1001, then two body bytes
    assert.throws(() => decoder.next(), isCode('FRAME_TOO_LARGE'));
    assert.equal(decoder.buffered, 0);
    // It stays failed: the stream cannot be resynchronised.
    decoder.push(frameOf(Buffer.from('ok')));
    assert.throws(() => decoder.next(), isCode('FRAME_TOO_LARGE'));
  });

  it('accepts a frame of exactly frameBytesMax and an empty one', () => {
    const decoder = new FrameDecoder(10);
    decoder.push(Buffer.concat([frameOf(Buffer.alloc(10, 7)), frameOf(Buffer.alloc(0))]));
    const payloads = drain(decoder);
    assert.deepEqual(payloads.map((p) => p.length), [10, 0]);
  });

  it('property: any chunking of a frame sequence yields the same payloads', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }),
        (payloads, cutFractions) => {
          const stream = Buffer.concat(payloads.map(frameOf));
          const decoder = new FrameDecoder(FRAME_BYTES_MAX);
          const decoded: Buffer[] = [];
          for (const chunk of cut(stream, cutFractions)) {
            decoder.push(chunk);
            decoded.push(...drain(decoder));
          }
          assert.deepEqual(
            decoded.map((p) => [...p]),
            payloads.map((p) => [...p]),
          );
          assert.equal(decoder.buffered, 0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: msgpack values survive encodeFrame → any chunking → decodePayload', () => {
    fc.assert(
      fc.property(
        // msgpackr renames a "__proto__" key to "__proto_" on decode (no prototype
        // pollution from the wire), so values holding one do not round-trip by design.
        fc.array(
          fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).includes('"__proto__"')),
          { minLength: 1, maxLength: 10 },
        ),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
        (values, cutFractions) => {
          const stream = Buffer.concat(values.map((v) => encodeFrame(v, FRAME_BYTES_MAX)));
          const decoder = new FrameDecoder(FRAME_BYTES_MAX);
          const decoded: unknown[] = [];
          for (const chunk of cut(stream, cutFractions)) {
            decoder.push(chunk);
            for (const payload of drain(decoder)) decoded.push(decodePayload(payload));
          }
          // JSON round trip normalises -0, which msgpack keeps but deepEqual distinguishes.
          assert.deepEqual(JSON.parse(JSON.stringify(decoded)), JSON.parse(JSON.stringify(values)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a "__proto__" key from the wire cannot set a prototype', () => {
    const decoded = decodePayload(encodeFrame(JSON.parse('{"__proto__": {"polluted": true}}'), FRAME_BYTES_MAX).subarray(4)) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.equal((decoded as { polluted?: boolean }).polluted, undefined);
  });
});

describe('FrameOutbox', () => {
  it('writes every frame queued in one turn with one write, in order', async () => {
    const writes: Buffer[] = [];
    const outbox = new FrameOutbox((bytes) => writes.push(bytes));
    const frames = [0, 1, 2, 3].map((n) => encodeFrame({ n }, FRAME_BYTES_MAX));
    for (const frame of frames) outbox.push(frame);
    assert.equal(writes.length, 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 1);
    assert.deepEqual(writes[0], Buffer.concat(frames));
    const decoder = new FrameDecoder(FRAME_BYTES_MAX);
    decoder.push(writes[0] as Buffer);
    assert.deepEqual(drain(decoder).map(decodePayload), [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('flush() writes at once and the scheduled flush then has nothing to do', async () => {
    const writes: Buffer[] = [];
    const outbox = new FrameOutbox((bytes) => writes.push(bytes));
    outbox.push(encodeFrame(1, FRAME_BYTES_MAX));
    outbox.flush();
    assert.equal(writes.length, 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes.length, 1);
  });
});
