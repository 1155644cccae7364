// WebHDFS's APPEND, TRUNCATE, CONCAT, SETREPLICATION and GETFILECHECKSUM against a real
// cluster. They run through TandemClient's appendFile, truncate, concat, setReplication
// and getFileChecksum (src/webhdfs/file-system.ts): these tests pass once those methods
// exist on TandemClient; a client without them answers UnsupportedOperationException.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { waitFor } from '../helpers/zookeeper.js';
import { useWebHdfsGateway, type Gateway } from './gateway.js';
import { webHdfsPackage, type NpmWebHdfs } from './npm-webhdfs.js';

let gw: Gateway;
let hdfs: NpmWebHdfs;
useWebHdfsGateway({ fmsShards: 1, fmsMembers: 1, datanodes: 3 }, (ready) => {
  gw = ready;
  const { port } = new URL(gw.base);
  hdfs = webHdfsPackage(createRequire(import.meta.url), { user: 'dave', host: '127.0.0.1', port: Number(port), path: '/webhdfs/v1' });
});

const q = (query: Record<string, string>): string => new URLSearchParams({ 'user.name': 'dave', ...query }).toString();

async function call(method: string, path: string, query: Record<string, string>, body?: Buffer | string): Promise<{ status: number; headers: Headers; text: string; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${gw.base}/webhdfs/v1${path}?${q(query)}`, { method, redirect: 'manual', ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text.startsWith('{') ? JSON.parse(text) : null };
}

async function read(path: string): Promise<Buffer> {
  const first = await call('GET', path, { op: 'OPEN' });
  assert.equal(first.status, 307, first.text);
  return Buffer.from(await (await fetch(first.headers.get('location')!)).arrayBuffer());
}

async function write(path: string, data: Buffer | string, extra: Record<string, string> = {}): Promise<void> {
  const first = await call('PUT', path, { op: 'CREATE', ...extra });
  assert.equal(first.status, 307, first.text);
  const second = await fetch(first.headers.get('location')!, { method: 'PUT', body: data });
  assert.equal(second.status, 201, await second.text());
}

async function lengthOf(path: string): Promise<number> {
  return (await call('GET', path, { op: 'GETFILESTATUS' })).json.FileStatus.length as number;
}

test('setup: root gives dave /user/dave', async () => {
  await gw.client.mkdirs('/user/dave');
  await gw.client.setOwner('/user/dave', { owner: 'dave' });
});

test('APPEND by hand: 307 to a datanode, POST of the bytes there answers 200; the file grows', async () => {
  const a = randomBytes(70_000);
  const b = randomBytes(50_000);
  await write('/user/dave/log', a);
  const first = await call('POST', '/user/dave/log', { op: 'APPEND' });
  assert.equal(first.status, 307, first.text);
  const location = new URL(first.headers.get('location')!);
  assert.ok(gw.datanodes.some((dn) => dn.http === location.host));
  assert.equal(location.searchParams.get('op'), 'APPEND');
  const second = await fetch(location, { method: 'POST', body: b });
  assert.equal(second.status, 200, await second.text());
  assert.equal(await lengthOf('/user/dave/log'), a.length + b.length);
  assert.deepEqual(await read('/user/dave/log'), Buffer.concat([a, b]));
  // noredirect=true for APPEND too.
  const noRedirect = await call('POST', '/user/dave/log', { op: 'APPEND', noredirect: 'true' });
  assert.equal(noRedirect.status, 200);
  assert.equal(new URL(noRedirect.json.Location).searchParams.get('op'), 'APPEND');
});

test('APPEND to a missing file or a directory is a FileNotFoundException (404) at step one', async () => {
  const missing = await call('POST', '/user/dave/none', { op: 'APPEND' });
  assert.equal(missing.status, 404);
  assert.equal(missing.json.RemoteException.exception, 'FileNotFoundException');
  assert.equal((await call('POST', '/user/dave', { op: 'APPEND' })).status, 404);
});

test('the npm webhdfs package appends', async () => {
  await hdfs.writeFile('/user/dave/npm.txt', 'hello ');
  await hdfs.appendFile('/user/dave/npm.txt', 'world');
  assert.equal((await hdfs.readFile('/user/dave/npm.txt')).toString(), 'hello world');
});

test('SETREPLICATION answers {"boolean": true} and GETFILESTATUS shows the new replication', async () => {
  await write('/user/dave/rep', 'r', { replication: '1' });
  assert.equal((await call('GET', '/user/dave/rep', { op: 'GETFILESTATUS' })).json.FileStatus.replication, 1);
  const answer = await call('PUT', '/user/dave/rep', { op: 'SETREPLICATION', replication: '3' });
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(answer.json, { boolean: true });
  assert.equal((await call('GET', '/user/dave/rep', { op: 'GETFILESTATUS' })).json.FileStatus.replication, 3);
  assert.equal((await call('PUT', '/user/dave/none', { op: 'SETREPLICATION', replication: '2' })).status, 404);
  assert.equal((await call('PUT', '/user/dave/rep', { op: 'SETREPLICATION', replication: '0' })).status, 400);
});

test('TRUNCATE answers {"boolean": …}; the file then has the new length and its first bytes', async () => {
  const data = randomBytes(10_000);
  await write('/user/dave/trunc', data);
  const answer = await call('POST', '/user/dave/trunc', { op: 'TRUNCATE', newlength: '4000' });
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(Object.keys(answer.json), ['boolean']);
  assert.equal(typeof answer.json.boolean, 'boolean');
  // false: the last block is being recovered to the new length; wait for it.
  await waitFor('the truncated file closed at 4000 bytes', async () => (await lengthOf('/user/dave/trunc')) === 4000, 20_000, 100);
  await waitFor('the truncated file readable', async () => (await read('/user/dave/trunc')).equals(data.subarray(0, 4000)), 20_000, 200);
  assert.equal((await call('POST', '/user/dave/trunc', { op: 'TRUNCATE' })).status, 400, 'newlength is required');
  assert.equal((await call('POST', '/user/dave/trunc', { op: 'TRUNCATE', newlength: '-1' })).status, 400);
  assert.equal((await call('POST', '/user/dave/none', { op: 'TRUNCATE', newlength: '0' })).status, 404);
});

test('CONCAT moves the sources\' blocks to the end of the target: an empty 200, the sources gone', async () => {
  const parts = [randomBytes(3_000), randomBytes(4_000), randomBytes(5_000)];
  await write('/user/dave/cat/target', parts[0]!);
  await write('/user/dave/cat/s1', parts[1]!);
  await write('/user/dave/cat/s2', parts[2]!);
  const answer = await call('POST', '/user/dave/cat/target', { op: 'CONCAT', sources: '/user/dave/cat/s1,/user/dave/cat/s2' });
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.text, '');
  assert.deepEqual(await read('/user/dave/cat/target'), Buffer.concat(parts));
  assert.equal((await call('GET', '/user/dave/cat/s1', { op: 'GETFILESTATUS' })).status, 404);
  assert.equal((await call('POST', '/user/dave/cat/target', { op: 'CONCAT' })).status, 400, 'sources is required');
  assert.equal((await call('POST', '/user/dave/cat/target', { op: 'CONCAT', sources: 'relative' })).status, 400);
});

test('GETFILECHECKSUM: Hadoop\'s FileChecksum; equal bytes give equal checksums, others differ', async () => {
  const data = randomBytes(50_000);
  await write('/user/dave/ck1', data);
  await write('/user/dave/ck2', data);
  await write('/user/dave/ck3', randomBytes(50_000));
  const one = await call('GET', '/user/dave/ck1', { op: 'GETFILECHECKSUM' });
  assert.equal(one.status, 200, one.text);
  assert.deepEqual(Object.keys(one.json), ['FileChecksum']);
  assert.deepEqual(Object.keys(one.json.FileChecksum).sort(), ['algorithm', 'bytes', 'length']);
  assert.equal(typeof one.json.FileChecksum.algorithm, 'string');
  assert.match(one.json.FileChecksum.bytes, /^[0-9a-f]+$/);
  assert.equal(one.json.FileChecksum.length, one.json.FileChecksum.bytes.length / 2);
  assert.deepEqual((await call('GET', '/user/dave/ck2', { op: 'GETFILECHECKSUM' })).json, one.json);
  assert.notDeepEqual((await call('GET', '/user/dave/ck3', { op: 'GETFILECHECKSUM' })).json, one.json);
  assert.equal((await call('GET', '/user/dave/none', { op: 'GETFILECHECKSUM' })).status, 404);
});
