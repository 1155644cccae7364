// The block store: replicas written, finalized, read and verified; what open() makes of a
// crash's leftovers (a torn rbw tail, a bad meta header); refusals with typed codes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile, writeFile, open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlockStore, META_HEADER_BYTES, metaName } from '../../src/datanode/block-store.js';
import { computeChunkCrcs } from '../../src/datanode/chunk-checksums.js';
import { datanodeConfigWith } from '../../src/datanode/config.js';
import { silentLogger } from '../../src/util/log.js';
import { capturingLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';

// Small chunks and packets so a few KiB exercise many chunks and pieces.
const config = datanodeConfigWith({ chunkBytes: 1024, packetDataBytesMax: 4096 });
const cb = config.chunkBytes;

async function readAll(store: BlockStore, blockId: string, genStamp: number, offset: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of await store.read(blockId, genStamp, offset, length)) {
    assert.equal(piece.offset % cb, 0, 'pieces start on chunk boundaries');
    assert.ok(piece.data.length <= config.packetDataBytesMax);
    assert.deepEqual(piece.crcs, computeChunkCrcs(piece.data, cb), 'the stored CRCs come with each piece');
    parts.push(piece.data);
  }
  return Buffer.concat(parts);
}

async function writeBlock(store: BlockStore, blockId: string, genStamp: number, data: Buffer, pieceBytes: number, finalize = true) {
  const writer = await store.createRbw(blockId, genStamp);
  for (let offset = 0; offset < data.length; offset += pieceBytes) {
    const piece = data.subarray(offset, Math.min(data.length, offset + pieceBytes));
    await writer.append(offset, piece, computeChunkCrcs(piece, cb));
  }
  if (finalize) return writer.finalize();
  await writer.sync();
  await writer.close();
  return undefined;
}

test('append, finalize, read back (whole and ranges), verify, list, delete', async () => {
  const dir = await tempDir();
  const store = await BlockStore.open(dir, silentLogger(), config);
  const data = randomBytes(10 * cb + 300); // ends mid-chunk
  const replica = await writeBlock(store, 'fms-0_1', 7, data, 3 * cb);
  assert.deepEqual(replica, { blockId: 'fms-0_1', genStamp: 7, length: data.length, finalized: true });
  assert.deepEqual((await readdir(join(dir, 'finalized'))).sort(), ['fms-0_1', metaName('fms-0_1', 7)]);
  assert.deepEqual(await readdir(join(dir, 'rbw')), []);
  assert.deepEqual(await readAll(store, 'fms-0_1', 7, 0, data.length), data);
  // A range is widened to whole chunks: [1500, 5000) comes as [1024, 5120).
  const range = await readAll(store, 'fms-0_1', 7, 1500, 3500);
  assert.deepEqual(range, data.subarray(1024, 5120));
  assert.deepEqual(await store.verify('fms-0_1'), { ok: true, length: data.length });
  assert.deepEqual(store.list(), [replica]);
  assert.equal(store.usedBytes(), data.length + META_HEADER_BYTES + 11 * 4);

  // Reopen: the finalized replica is found as it was.
  const again = await BlockStore.open(dir, silentLogger(), config);
  assert.deepEqual(again.list(), [replica]);
  const genStamp = again.get('fms-0_1')!.genStamp;
  assert.equal(await again.delete('fms-0_1', genStamp - 1), 'newer', 'a delete meant for an older genStamp leaves a newer replica');
  assert.ok(again.get('fms-0_1'));
  assert.equal(await again.delete('fms-0_1', genStamp), 'deleted');
  assert.equal(await again.delete('fms-0_1'), 'absent', 'deleting twice is fine');
  assert.deepEqual(await readdir(join(dir, 'finalized')), []);
});

test('refusals: bad CRC, wrong offset, mid-chunk continuation, bad block id, wrong genStamp', async () => {
  const store = await BlockStore.open(await tempDir(), silentLogger(), config);
  const writer = await store.createRbw('fms-1_2', 1);
  const data = randomBytes(2 * cb);
  const crcs = computeChunkCrcs(data, cb);
  const badCrcs = Buffer.from(crcs);
  badCrcs[5] = (badCrcs[5] as number) ^ 1;
  assert.throws(() => writer.append(0, data, badCrcs), { code: 'CHECKSUM_MISMATCH', message: /chunk 1 of fms-1_2/ });
  assert.throws(() => writer.append(cb, data, crcs), { code: 'INVALID_ARGUMENT' });
  await writer.append(0, data, crcs);
  const tail = randomBytes(100);
  await writer.append(2 * cb, tail, computeChunkCrcs(tail, cb));
  assert.throws(() => writer.append(2 * cb + 100, tail, computeChunkCrcs(tail, cb)), { code: 'INVALID_ARGUMENT', message: /chunk boundary/ });
  assert.equal(writer.length, 2 * cb + 100);
  await assert.rejects(store.createRbw('fms-1_2', 1), { code: 'INVALID_ARGUMENT' }, 'one replica per block');
  await assert.rejects(store.createRbw('../etc/passwd', 1), { code: 'INVALID_ARGUMENT' });
  await assert.rejects(store.createRbw('FMS_1', 1), { code: 'INVALID_ARGUMENT' });
  await assert.rejects(store.read('fms-1_2', 2, 0, 10), { code: 'BLOCK_NOT_FOUND' }, 'genStamp differs');
  await assert.rejects(store.read('fms-1_9', 1, 0, 10), { code: 'BLOCK_NOT_FOUND' });
  await assert.rejects(store.read('fms-1_2', 1, 0, 3 * cb), { code: 'INVALID_ARGUMENT' }, 'past the end');
  await writer.close();
  assert.equal(store.openWriters, 0);
});

test('open(): a torn rbw tail is cut back to the chunks that match their CRCs, and logged', async () => {
  const dir = await tempDir();
  const store = await BlockStore.open(dir, silentLogger(), config);
  const data = randomBytes(6 * cb);
  await writeBlock(store, 'fms-0_5', 3, data, 2 * cb, false);
  // What a crash can leave: data past the last CRC, and a last chunk whose bytes were torn.
  const dataPath = join(dir, 'rbw', 'fms-0_5');
  await appendFile(dataPath, randomBytes(cb + 17));
  const handle = await openFile(dataPath, 'r+');
  await handle.write(Buffer.from([0xff ^ (data[5 * cb + 3] as number)]), 0, 1, 5 * cb + 3);
  await handle.close();

  const { log, lines } = capturingLogger();
  const reopened = await BlockStore.open(dir, log, config);
  assert.deepEqual(reopened.get('fms-0_5'), { blockId: 'fms-0_5', genStamp: 3, length: 5 * cb, finalized: false });
  assert.ok(lines.some((l) => /torn tail: kept 5120 of 7185 bytes/.test(String(l.msg))), 'the cut is logged');
  assert.equal((await readFile(dataPath)).length, 5 * cb);
  assert.equal((await readFile(join(dir, 'rbw', metaName('fms-0_5', 3)))).length, META_HEADER_BYTES + 5 * 4);
  assert.deepEqual(await readAll(reopened, 'fms-0_5', 3, 0, 5 * cb), data.subarray(0, 5 * cb));
  // It can be resumed from there.
  const writer = await reopened.openRbw('fms-0_5', 3, 5 * cb);
  const rest = data.subarray(5 * cb);
  await writer.append(5 * cb, rest, computeChunkCrcs(rest, cb));
  await writer.finalize();
  assert.deepEqual(await readAll(reopened, 'fms-0_5', 3, 0, data.length), data);
});

test('open(): a meta file with a bad header is set aside as *.corrupt, stray temp files go, nothing crashes', async () => {
  const dir = await tempDir();
  const store = await BlockStore.open(dir, silentLogger(), config);
  const data = randomBytes(3 * cb);
  await writeBlock(store, 'fms-0_1', 1, data, cb);
  await writeBlock(store, 'fms-0_2', 1, data, cb);
  await writeFile(join(dir, 'finalized', metaName('fms-0_2', 1)), Buffer.from('NOPE and not a header'));
  await writeFile(join(dir, 'rbw', 'fms-0_3.tmp'), 'leftover');
  const { log, lines } = capturingLogger();
  const reopened = await BlockStore.open(dir, log, config);
  assert.deepEqual(reopened.list().map((r) => r.blockId), ['fms-0_1']);
  assert.deepEqual((await readdir(join(dir, 'finalized'))).sort(), ['fms-0_1', 'fms-0_1_1.meta', 'fms-0_2.corrupt', 'fms-0_2_1.meta.corrupt']);
  assert.deepEqual(await readdir(join(dir, 'rbw')), []);
  assert.ok(lines.some((l) => /set replica fms-0_2 aside/.test(String(l.msg))));
  await assert.rejects(reopened.read('fms-0_2', 1, 0, 1), { code: 'BLOCK_NOT_FOUND' });
});

test('verify() finds a corrupt chunk; resumeRbw reopens a finalized replica at a new genStamp and shorter length', async () => {
  const dir = await tempDir();
  const store = await BlockStore.open(dir, silentLogger(), config);
  const data = randomBytes(8 * cb);
  await writeBlock(store, 'fms-2_4', 10, data, 4 * cb);
  const handle = await openFile(join(dir, 'finalized', 'fms-2_4'), 'r+');
  await handle.write(Buffer.from([(data[6 * cb + 9] as number) ^ 1]), 0, 1, 6 * cb + 9);
  await handle.close();
  assert.deepEqual(await store.verify('fms-2_4'), { ok: false, chunkIndex: 6 });

  const info = await store.resumeRbw('fms-2_4', 10, 11, 3 * cb + 5);
  assert.deepEqual(info, { blockId: 'fms-2_4', genStamp: 11, length: 3 * cb + 5, finalized: false });
  assert.deepEqual((await readdir(join(dir, 'rbw'))).sort(), ['fms-2_4', metaName('fms-2_4', 11)]);
  assert.deepEqual(await readAll(store, 'fms-2_4', 11, 0, 3 * cb + 5), data.subarray(0, 3 * cb + 5));
  await assert.rejects(store.read('fms-2_4', 10, 0, 1), { code: 'BLOCK_NOT_FOUND' });
  await assert.rejects(store.resumeRbw('fms-2_4', 10, 12, 0), { code: 'BLOCK_NOT_FOUND' }, 'old genStamp no longer here');
  const reopened = await BlockStore.open(dir, silentLogger(), config);
  assert.deepEqual(reopened.get('fms-2_4'), info);
});

test('appends given as parts with write-behind flushes in flight: the bytes read back whole; close waits for a flush', async () => {
  const dir = await tempDir();
  // A flush after every 2 chunks written: most appends start or meet one.
  const store = await BlockStore.open(dir, silentLogger(), datanodeConfigWith({ ...config, writeBehindBytes: 2 * cb }));
  const data = randomBytes(40 * cb);
  const writer = await store.createRbw('fms-0_9', 3);
  const appends: Promise<void>[] = [];
  for (let offset = 0; offset < data.length; offset += config.packetDataBytesMax) {
    const piece = data.subarray(offset, Math.min(data.length, offset + config.packetDataBytesMax));
    // Cut each piece at uneven points, as socket reads cut a packet.
    const parts = [piece.subarray(0, 5), piece.subarray(5, 1500), piece.subarray(1500)].filter((p) => p.length > 0);
    appends.push(writer.append(offset, parts, computeChunkCrcs(piece, cb)));
  }
  await Promise.all(appends);
  await writer.close(); // a write-behind flush may still run: close waits for it (no EBADF, no unhandled rejection)
  assert.equal(store.get('fms-0_9')?.length, data.length);
  const reopened = await BlockStore.open(dir, silentLogger(), config);
  assert.deepEqual(reopened.get('fms-0_9'), { blockId: 'fms-0_9', genStamp: 3, length: data.length, finalized: false });
  assert.deepEqual(await readAll(reopened, 'fms-0_9', 3, 0, data.length), data);

  // A chunk that straddles two parts and fails its CRC is refused before anything is written; the right one goes in.
  const resumed = await reopened.openRbw('fms-0_9', 3, data.length);
  const tail = randomBytes(cb + 300);
  const bad = Buffer.from(tail);
  bad[cb - 1]! ^= 1;
  assert.throws(() => resumed.append(data.length, [bad.subarray(0, 10), bad.subarray(10)], computeChunkCrcs(tail, cb)), { code: 'CHECKSUM_MISMATCH' });
  assert.equal(resumed.length, data.length);
  await resumed.append(data.length, [tail.subarray(0, cb - 1), tail.subarray(cb - 1)], computeChunkCrcs(tail, cb));
  await resumed.finalize();
  assert.deepEqual(await readAll(reopened, 'fms-0_9', 3, 0, data.length + tail.length), Buffer.concat([data, tail]));
});
