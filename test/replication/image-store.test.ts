import assert from 'node:assert/strict';
import { readdir, readFile, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TandemError } from '../../src/errors.js';
import { IMAGE_HEADER_BYTES, loadNewestValidImage, writeImage } from '../../src/replication/image-store.js';
import { imageName } from '../../src/replication/storage-layout.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir as sharedTempDir } from '../helpers/temp.js';
import { capturingLogger } from '../helpers/log.js';

const log = silentLogger();
const tempDir = (): Promise<string> => sharedTempDir('tandem-image-');


function state(txid: number): unknown {
  return {
    txid,
    inodes: Array.from({ length: 50 }, (_, i) => ({ id: i + 1, name: `f${i}`, children: [i, i + 1], mtimeMs: 1e12 + i })),
    retryCache: [['client-1', 7, { ok: true }]],
  };
}

async function flipByte(path: string, offset: number): Promise<void> {
  const buf = await readFile(path);
  buf[offset < 0 ? buf.length + offset : offset]! ^= 0x40;
  await writeFile(path, buf);
}

describe('image store', () => {
  it('round-trips an image and writes the documented header', async () => {
    const dir = await tempDir();
    const written = await writeImage(dir, 1234, state(1234), log);
    assert.equal(written.file, imageName(1234));
    assert.deepEqual(await readdir(dir), [imageName(1234)], 'no temp file left behind');
    const raw = await readFile(join(dir, written.file));
    assert.equal(raw.length, written.bytes);
    assert.equal(raw.toString('ascii', 0, 8), 'TNDMIMG1');
    assert.equal(raw.readUInt32BE(8), 1);
    assert.equal(raw.readBigUInt64BE(16), 1234n);
    assert.equal(raw.readBigUInt64BE(24), BigInt(raw.length - IMAGE_HEADER_BYTES - 4));
    assert.deepEqual(await loadNewestValidImage(dir, log), { txid: 1234, payload: state(1234), file: imageName(1234) });
  });

  it('returns null when there is no image, and deletes leftover temp files', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, `${imageName(9)}.tmp`), 'half an image');
    assert.equal(await loadNewestValidImage(dir, log), null);
    assert.deepEqual(await readdir(dir), []);
  });

  it('picks the newest of several valid images', async () => {
    const dir = await tempDir();
    for (const txid of [10, 200, 30]) await writeImage(dir, txid, state(txid), log);
    assert.equal((await loadNewestValidImage(dir, log))?.txid, 200);
  });

  const corruptions: Array<[string, (path: string) => Promise<void>, RegExp]> = [
    ['a flipped payload byte', (p) => flipByte(p, IMAGE_HEADER_BYTES + 20), /crc mismatch/],
    ['a flipped checksum byte', (p) => flipByte(p, -1), /crc mismatch/],
    ['bad magic', (p) => flipByte(p, 0), /bad magic/],
    ['a truncated file', (p) => truncate(p, 200), /length mismatch/],
    ['a file shorter than its header', (p) => truncate(p, 10), /short file/],
  ];
  for (const [what, corrupt, why] of corruptions) {
    it(`falls back to the previous image when the newest has ${what}, with a warning`, async () => {
      const dir = await tempDir();
      await writeImage(dir, 100, state(100), log);
      await writeImage(dir, 200, state(200), log);
      await corrupt(join(dir, imageName(200)));
      const { log: capturing, lines } = capturingLogger();
      const loaded = await loadNewestValidImage(dir, capturing);
      assert.deepEqual(loaded, { txid: 100, payload: state(100), file: imageName(100) });
      const warning = lines.find((l) => l.level === 40);
      assert.ok(warning, 'a warning is logged');
      assert.equal(warning.file, imageName(200));
      assert.match(String(warning.msg), why);
      assert.ok(String(warning.msg).includes(imageName(200)));
    });
  }

  it('rejects an image whose header txid does not match its name', async () => {
    const dir = await tempDir();
    await writeImage(dir, 100, state(100), log);
    await writeImage(dir, 150, state(150), log);
    await rename(join(dir, imageName(150)), join(dir, imageName(300)));
    const { log: capturing, lines } = capturingLogger();
    assert.equal((await loadNewestValidImage(dir, capturing))?.txid, 100);
    assert.match(String(lines.find((l) => l.level === 40)?.msg), /does not match/);
  });

  it('all images corrupt → IMAGE_CORRUPT listing them', async () => {
    const dir = await tempDir();
    await writeImage(dir, 100, state(100), log);
    await writeImage(dir, 200, state(200), log);
    await flipByte(join(dir, imageName(100)), IMAGE_HEADER_BYTES + 3);
    await truncate(join(dir, imageName(200)), 40);
    await assert.rejects(loadNewestValidImage(dir, log), (err: unknown) => {
      assert.ok(err instanceof TandemError);
      assert.equal(err.code, 'IMAGE_CORRUPT');
      assert.ok(err.message.includes(imageName(100)) && err.message.includes(imageName(200)), err.message);
      return true;
    });
  });
});
