// append, truncate, concat, setReplication and the file checksum end to end against real
// processes (ZooKeeper, NS, two FMS shards, three datanodes): bytes read back exactly, the
// namespace and the FMS agree on lengths, and replica counts follow setReplication.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { crc32c } from '@node-rs/crc32';
import { TandemError } from '../../src/errors.js';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { useDataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

let client: TandemClient;

// Pools 0..3 over fms-0 and fms-1: a file's shard is its id's parity.
useDataCluster({ fmsShards: 2, fmsMembers: 1, datanodes: 3, pools: 4 }, (_cluster, itsClient) => {
  client = itsClient;
});

const BLOCK = 128 * 1024;

async function readAll(path: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of await client.openFile(path)) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

async function write(path: string, data: Buffer, replication = 3): Promise<void> {
  const writer = await client.createFile(path, { replication, blockSize: BLOCK });
  // Several pieces, so blocks fill across writes.
  await pipeline(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), writer);
}

/** Writes `data` at `path` on the shard `shard` (0 or 1): ids that land elsewhere are deleted and made again. */
async function writeOnShard(path: string, data: Buffer, shard: number): Promise<void> {
  for (let attempt = 0; attempt < 4; attempt++) {
    await write(path, data);
    if ((await client.getFileInfo(path))!.fileId % 2 === shard) return;
    await client.delete(path);
  }
  assert.fail(`could not place ${path} on shard ${shard}`);
}

async function assertCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof TandemError && err.code === code);
}

test('append: the bytes go after the end, in a new block, and read back as the concatenation', async () => {
  const first = randomBytes(BLOCK + 50_000);
  const second = randomBytes(2 * BLOCK + 7);
  await write('/append/f', first);
  const writer = await client.appendFile('/append/f');
  // Open for append: a second appender, a truncate and a concat are refused.
  await assertCode(client.appendFile('/append/f'), 'ALREADY_BEING_CREATED');
  await assertCode(client.truncate('/append/f', 1), 'ALREADY_BEING_CREATED');
  await pipeline(Readable.from([second]), writer);
  assert.equal(writer.length, first.length + second.length);
  const info = await client.getFileInfo('/append/f');
  assert.deepEqual([info?.length, info?.underConstruction], [first.length + second.length, false]);
  assert.ok((await readAll('/append/f')).equals(Buffer.concat([first, second])));
  const located = await client.getBlockLocations('/append/f');
  assert.deepEqual(located.blocks.map((b) => b.length), [BLOCK, 50_000, BLOCK, BLOCK, 7], 'the partial last block stays; the appended bytes start a new one');

  // Appending to an empty file (never known to its FMS shard), and appending nothing.
  await write('/append/empty', Buffer.alloc(0));
  const nothing = await client.appendFile('/append/empty');
  await pipeline(Readable.from([]), nothing);
  assert.equal((await client.getFileInfo('/append/empty'))?.underConstruction, false);
  const some = await client.appendFile('/append/empty');
  await pipeline(Readable.from([first.subarray(0, 10)]), some);
  assert.ok((await readAll('/append/empty')).equals(first.subarray(0, 10)));
});

test('truncate: to the current length, at a block boundary (at once) and inside a block (closes when the datanodes are done)', async () => {
  const data = randomBytes(3 * BLOCK + 1234);
  await write('/truncate/f', data);
  assert.equal(await client.truncate('/truncate/f', data.length), true);
  await assertCode(client.truncate('/truncate/f', data.length + 1), 'INVALID_ARGUMENT');

  assert.equal(await client.truncate('/truncate/f', 2 * BLOCK), true, 'a block boundary: done at once');
  assert.deepEqual((await client.getFileInfo('/truncate/f'))?.length, 2 * BLOCK);
  assert.ok((await readAll('/truncate/f')).equals(data.subarray(0, 2 * BLOCK)));

  const cut = BLOCK + 70_001; // inside the second block, inside a 64 KiB chunk
  assert.equal(await client.truncate('/truncate/f', cut), false, 'inside a block: the datanodes cut it');
  const during = await client.getFileInfo('/truncate/f');
  assert.deepEqual([during?.length, during?.underConstruction], [cut, true]);
  await assertCode(client.appendFile('/truncate/f'), 'ALREADY_BEING_CREATED');
  await waitFor('the truncated file to close', async () => (await client.getFileInfo('/truncate/f'))?.underConstruction === false, 60_000, 100);
  assert.ok((await readAll('/truncate/f')).equals(data.subarray(0, cut)));
  const located = await client.getBlockLocations('/truncate/f');
  assert.deepEqual(located.blocks.map((b) => b.length), [BLOCK, cut - BLOCK]);
  assert.ok(located.blocks.every((b) => b.locations.length >= 1));

  // And appended to after: the new bytes follow the cut.
  const more = randomBytes(5_000);
  const writer = await client.appendFile('/truncate/f');
  await pipeline(Readable.from([more]), writer);
  assert.ok((await readAll('/truncate/f')).equals(Buffer.concat([data.subarray(0, cut), more])));
});

test('concat: three files (one empty) read back as one; the sources are gone; across shards is refused', async () => {
  const parts = [randomBytes(BLOCK + 3), randomBytes(40_000), Buffer.alloc(0), randomBytes(2 * BLOCK)];
  await writeOnShard('/concat/t', parts[0]!, 0);
  await writeOnShard('/concat/a', parts[1]!, 0);
  await writeOnShard('/concat/b', parts[2]!, 0);
  await writeOnShard('/concat/c', parts[3]!, 0);
  await writeOnShard('/concat/other', randomBytes(10), 1);
  await assertCode(client.concat('/concat/t', ['/concat/other']), 'CONCAT_ACROSS_SHARDS');
  await assertCode(client.concat('/concat/t', ['/concat/t']), 'INVALID_ARGUMENT');

  await client.concat('/concat/t', ['/concat/a', '/concat/b', '/concat/c']);
  const expected = Buffer.concat(parts);
  const info = await client.getFileInfo('/concat/t');
  assert.deepEqual([info?.length, info?.underConstruction], [expected.length, false]);
  assert.ok((await readAll('/concat/t')).equals(expected));
  for (const source of ['/concat/a', '/concat/b', '/concat/c']) assert.equal(await client.getFileInfo(source), null);
  assert.ok((await readAll('/concat/other')).length === 10, 'the refused source is untouched');
});

test('setReplication 3 → 1 → 3: the live replicas of every block follow', async () => {
  await write('/rep/f', randomBytes(2 * BLOCK + 10), 3);
  const counts = async (): Promise<number[]> => (await client.getBlockLocations('/rep/f')).blocks.map((b) => b.locations.length);
  await waitFor('3 replicas of every block', async () => (await counts()).every((n) => n === 3), 60_000, 100);
  assert.equal(await client.setReplication('/rep/f', 1), true);
  assert.equal((await client.getFileInfo('/rep/f'))?.replication, 1);
  await waitFor('the extra replicas trimmed to 1', async () => (await counts()).every((n) => n === 1), 60_000, 200);
  assert.equal(await client.setReplication('/rep/f', 3), true);
  await waitFor('copies made back up to 3', async () => (await counts()).every((n) => n === 3), 60_000, 200).catch(async (err: unknown) => {
    // Say what the FMS saw last, so a failure here can be told apart (a copy never scheduled, or scheduled and never reported).
    const blocks = (await client.getBlockLocations('/rep/f')).blocks.map((b) => `${b.blockId}@${b.genStamp} on [${b.locations.map((l) => l.id).join(', ')}]`);
    throw new Error(`${(err as Error).message}; blocks: ${blocks.join('; ')}`);
  });
  assert.equal(await client.setReplication('/rep', 2), false, 'a directory: false');
});

test('getFileChecksum: HDFS’s MD5-of-MD5-of-CRC32C over the file’s blocks', async () => {
  const data = randomBytes(2 * BLOCK + 999);
  await write('/sum/f', data);
  const sum = await client.getFileChecksum('/sum/f');
  // Computed here plainly: per block, MD5 of the big-endian CRC32C of each 512 bytes; MD5 of those.
  const blockMd5s = [0, BLOCK, 2 * BLOCK].map((start) => {
    const block = data.subarray(start, Math.min(start + BLOCK, data.length));
    const crcs = Buffer.alloc(Math.ceil(block.length / 512) * 4);
    for (let i = 0; i * 512 < block.length; i++) crcs.writeUInt32BE(crc32c(block.subarray(i * 512, (i + 1) * 512)) >>> 0, i * 4);
    return createHash('md5').update(crcs).digest();
  });
  const expected = Buffer.alloc(28);
  expected.writeUInt32BE(512, 0);
  expected.writeBigUInt64BE(BigInt(BLOCK / 512), 4);
  createHash('md5').update(Buffer.concat(blockMd5s)).digest().copy(expected, 12);
  assert.deepEqual(sum, { algorithm: `MD5-of-${BLOCK / 512}MD5-of-512CRC32C`, bytes: expected.toString('hex'), length: 28 });
});
