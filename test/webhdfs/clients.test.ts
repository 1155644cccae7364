// Existing WebHDFS clients against Tandem: the npm `webhdfs` package writes, reads, lists,
// renames and deletes files through the gateway (following the 307s to the real datanode
// processes itself); and `tandem bench webhdfs` runs against it. (Appending with the npm
// package: file-ops.test.ts.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { runWebHdfsBench } from '../../src/bench/webhdfs.js';
import { useWebHdfsGateway, type Gateway } from './gateway.js';
import { webHdfsPackage, type NpmWebHdfs } from './npm-webhdfs.js';

let gw: Gateway;
let hdfs: NpmWebHdfs;
useWebHdfsGateway({ fmsShards: 1, fmsMembers: 1, datanodes: 3 }, (ready) => {
  gw = ready;
  const { port } = new URL(gw.base);
  hdfs = webHdfsPackage(createRequire(import.meta.url), { user: 'carol', host: '127.0.0.1', port: Number(port), path: '/webhdfs/v1' });
});

test('setup: root gives carol /user/carol', async () => {
  await gw.client.mkdirs('/user/carol');
  await gw.client.setOwner('/user/carol', { owner: 'carol' });
});

test('the npm webhdfs package makes a directory, writes a file, stats and reads it back', async () => {
  await hdfs.mkdir('/user/carol/docs');
  const data = randomBytes(200_000);
  await hdfs.writeFile('/user/carol/docs/a.bin', data);
  const stat = await hdfs.stat('/user/carol/docs/a.bin');
  assert.equal(stat.type, 'FILE');
  assert.equal(stat.length, data.length);
  assert.equal(stat.owner, 'carol');
  assert.deepEqual(await hdfs.readFile('/user/carol/docs/a.bin'), data);
  // Written through the gateway, read straight from Tandem: the same bytes.
  const chunks: Buffer[] = [];
  for await (const piece of await gw.client.openFile('/user/carol/docs/a.bin')) chunks.push(piece as Buffer);
  assert.deepEqual(Buffer.concat(chunks), data);
  // writeFile overwrites (the package asks for overwrite=true).
  await hdfs.writeFile('/user/carol/docs/a.bin', 'shorter');
  assert.equal((await hdfs.readFile('/user/carol/docs/a.bin')).toString(), 'shorter');
});

test('the npm webhdfs package lists a directory, renames and deletes', async () => {
  await hdfs.writeFile('/user/carol/docs/b.txt', 'bee');
  await hdfs.writeFile('/user/carol/docs/c.txt', 'sea');
  assert.deepEqual((await hdfs.readdir('/user/carol/docs')).map((s) => s.pathSuffix), ['a.bin', 'b.txt', 'c.txt']);
  await hdfs.rename('/user/carol/docs/b.txt', '/user/carol/docs/renamed.txt');
  assert.equal((await hdfs.readFile('/user/carol/docs/renamed.txt')).toString(), 'bee');
  assert.equal(await hdfs.exists('/user/carol/docs/b.txt'), false);
  await hdfs.unlink('/user/carol/docs/c.txt');
  assert.deepEqual((await hdfs.readdir('/user/carol/docs')).map((s) => s.pathSuffix), ['a.bin', 'renamed.txt']);
  await hdfs.unlink('/user/carol/docs', true);
  assert.equal(await hdfs.exists('/user/carol/docs'), false);
  assert.equal(await gw.client.getFileInfo('/user/carol/docs'), null);
});

test('the npm webhdfs package sees Tandem\'s refusals as errors carrying the RemoteException message', async () => {
  await assert.rejects(hdfs.readFile('/user/carol/missing'), /File does not exist: \/user\/carol\/missing/);
  await assert.rejects(hdfs.stat('/user/carol/missing'), /File does not exist/);
  await assert.rejects(hdfs.mkdir('/not-carols'), /Permission denied: user=carol/);
});

test('tandem bench webhdfs: GETFILESTATUS over 64 keep-alive connections runs without errors', async () => {
  const result = await runWebHdfsBench({ url: gw.base, connections: 64, seconds: 2, path: '/user/carol' });
  process.stderr.write(`bench webhdfs (test setup, 2 s): ${JSON.stringify(result)}\n`);
  assert.equal(result.errors, 0, result.firstError ?? '');
  assert.equal(result.connections, 64);
  assert.ok(result.calls > 64, 'every connection made calls');
  assert.ok(result.p50Ms > 0 && result.p99Ms >= result.p50Ms);
  await assert.rejects(runWebHdfsBench({ url: gw.base, connections: 0, seconds: 1 }), /connections/);
});
