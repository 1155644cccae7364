// `tandem fs put|get|cat|head|cp|checksum|rm` against a cluster of real processes, run as
// a person or a script would run them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { crc32c } from '@node-rs/crc32';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { DataCluster } from '../helpers/data-cluster.js';
import { tempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/zookeeper.js';

const run = promisify(execFile);
let cluster: DataCluster;
let local: string;

before(async () => {
  cluster = await DataCluster.start({ fmsShards: 1, fmsMembers: 1, datanodes: 3 });
  local = await tempDir();
  await waitFor('three live datanodes', async () => (await cluster.status((await cluster.active('fms-0'))!)).liveDatanodes === 3, 20_000, 100);
});
after(async () => {
  await cluster?.stop();
});

async function fs(...args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  const argv = [CLI_ENTRY, 'fs', '--zk', cluster.zkAddress, '--zk-auth', cluster.zkAuth, '--user', 'root', ...args];
  try {
    const { stdout, stderr } = await run(process.execPath, argv, { timeout: 60_000, encoding: 'buffer', maxBuffer: 64 << 20 });
    return { stdout, stderr: stderr.toString(), code: 0 };
  } catch (err) {
    const e = err as { stdout: Buffer; stderr: Buffer; code: number };
    return { stdout: e.stdout, stderr: e.stderr.toString(), code: e.code };
  }
}

test('put, cat, head, get, cp and checksum carry the bytes exactly', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const source = join(local, 'source.bin');
  await writeFile(source, data);

  const put = await fs('put', '--block-size', String(1 << 20), source, '/data/file.bin');
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout.toString(), /\/data\/file\.bin: 3\.0 MiB written/);

  assert.deepEqual((await fs('cat', '/data/file.bin')).stdout, data);
  assert.deepEqual((await fs('head', '-c', '100', '/data/file.bin')).stdout, data.subarray(0, 100));

  const copy = join(local, 'copy.bin');
  assert.equal((await fs('get', '/data/file.bin', copy)).code, 0);
  assert.deepEqual(await readFile(copy), data);

  assert.equal((await fs('cp', '/data/file.bin', '/data/copy.bin')).code, 0);
  const sum = JSON.parse((await fs('--json', 'checksum', '/data/copy.bin')).stdout.toString()) as { checksum: string; length: number };
  assert.equal(sum.length, data.length);
  assert.equal(sum.checksum, (crc32c(data) >>> 0).toString(16).padStart(8, '0'));

  // The copy went through `._COPYING_`: nothing of it is left.
  const listing = JSON.parse((await fs('--json', 'ls', '/data')).stdout.toString()) as Array<{ path: string; underConstruction: boolean }>;
  assert.deepEqual(listing.map((e) => e.path).sort(), ['/data/copy.bin', '/data/file.bin']);
  assert.ok(listing.every((e) => !e.underConstruction));
});

test('put refuses to overwrite without -f, overwrites with it, and names a missing local file', async () => {
  const first = join(local, 'first.txt');
  const second = join(local, 'second.txt');
  await writeFile(first, 'first version\n');
  await writeFile(second, 'second\n');
  assert.equal((await fs('put', first, '/twice.txt')).code, 0);
  const refused = await fs('put', second, '/twice.txt');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /FILE_EXISTS/);
  assert.equal((await fs('cat', '/twice.txt')).stdout.toString(), 'first version\n');
  assert.equal((await fs('put', '-f', second, '/twice.txt')).code, 0);
  assert.equal((await fs('cat', '/twice.txt')).stdout.toString(), 'second\n');

  const missing = await fs('put', join(local, 'nope'), '/nope');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /nope/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /, 'a clear error, not a stack trace');
});

test('cat of a directory or a missing file is a clear error', async () => {
  const dir = await fs('cat', '/data');
  assert.notEqual(dir.code, 0);
  assert.match(dir.stderr, /IS_DIRECTORY/);
  const missing = await fs('cat', '/no/such');
  assert.match(missing.stderr, /NOT_FOUND/);
});

test('append, truncate -w, concat, setrep -w and checksum --hdfs, as hdfs dfs names them', async () => {
  const data = randomBytes(300_000);
  const more = randomBytes(100_000);
  const source = join(local, 'ops-a.bin');
  const tail = join(local, 'ops-b.bin');
  await writeFile(source, data);
  await writeFile(tail, more);
  assert.equal((await fs('put', '--block-size', String(1 << 17), source, '/ops/f')).code, 0);

  const appended = await fs('--json', 'append', tail, '/ops/f');
  assert.equal(appended.code, 0, appended.stderr);
  assert.deepEqual(JSON.parse(appended.stdout.toString()), { path: '/ops/f', local: tail, length: 400_000, appended: 100_000 });
  assert.deepEqual((await fs('cat', '/ops/f')).stdout, Buffer.concat([data, more]));

  const truncated = await fs('truncate', '-w', '250000', '/ops/f');
  assert.equal(truncated.code, 0, truncated.stderr);
  assert.match(truncated.stdout.toString(), /Truncated \/ops\/f to 250000 bytes/);
  assert.deepEqual((await fs('cat', '/ops/f')).stdout, data.subarray(0, 250_000));
  const tooLong = await fs('truncate', '999999', '/ops/f');
  assert.notEqual(tooLong.code, 0);
  assert.match(tooLong.stderr, /INVALID_ARGUMENT/);

  assert.equal((await fs('put', '--block-size', String(1 << 17), tail, '/ops/g')).code, 0);
  const concat = await fs('concat', '/ops/f', '/ops/g');
  assert.equal(concat.code, 0, concat.stderr);
  assert.deepEqual((await fs('cat', '/ops/f')).stdout, Buffer.concat([data.subarray(0, 250_000), more]));

  const setrep = await fs('setrep', '-w', '1', '/ops/f');
  assert.equal(setrep.code, 0, setrep.stderr);
  assert.match(setrep.stdout.toString(), /Replication 1 set: \/ops\/f/);

  const sum = JSON.parse((await fs('--json', 'checksum', '--hdfs', '/ops/f')).stdout.toString()) as { algorithm: string; bytes: string; length: number };
  assert.equal(sum.algorithm, 'MD5-of-256MD5-of-512CRC32C');
  assert.match(sum.bytes, /^[0-9a-f]{56}$/);
  assert.equal(sum.length, 28);
});
