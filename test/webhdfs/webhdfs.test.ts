// The WebHDFS REST API against a real cluster: every operation TandemClient already has,
// success and error paths, checked against the JSON and status codes Hadoop documents
// (WebHDFS REST API: FileStatus, FileStatuses, DirectoryListing, boolean, ContentSummary,
// Path, RemoteException). The two-step CREATE/OPEN is followed by hand, through the real
// datanode processes' own /webhdfs/v1 endpoint. (APPEND, TRUNCATE, CONCAT, SETREPLICATION
// and GETFILECHECKSUM: file-ops.test.ts.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { test } from 'node:test';
import { useWebHdfsGateway, type Gateway } from './gateway.js';

let gw: Gateway;
useWebHdfsGateway({ fmsShards: 1, fmsMembers: 1, datanodes: 3 }, (ready) => {
  gw = ready;
});

const FILE_STATUS_KEYS = ['accessTime', 'blockSize', 'childrenNum', 'fileId', 'group', 'length', 'modificationTime', 'owner', 'pathSuffix', 'permission', 'replication', 'storagePolicy', 'type'];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

function url(path: string, query: Record<string, string>): string {
  return `${gw.base}/webhdfs/v1${path}?${new URLSearchParams(query).toString()}`;
}

async function http(method: string, target: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(target, { method, redirect: 'manual', headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: parseJson(text) };
}

/** A GET of a path exactly as written (no URL normalisation of '.' and '..'). */
function rawGet(path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(gw.base);
    const req = httpRequest({ hostname, port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: new Headers(res.headers as Record<string, string>), text, json: text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const op = (method: string, path: string, query: Record<string, string>, body?: Buffer | string): Promise<Answer> => http(method, url(path, query), body);

function assertRemote(answer: Answer, status: number, exception: string, javaClassName: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.deepEqual(Object.keys(answer.json), ['RemoteException']);
  assert.deepEqual(Object.keys(answer.json.RemoteException).sort(), ['exception', 'javaClassName', 'message']);
  assert.equal(answer.json.RemoteException.exception, exception, answer.text);
  assert.equal(answer.json.RemoteException.javaClassName, javaClassName);
  assert.equal(typeof answer.json.RemoteException.message, 'string');
}

const notFound = (a: Answer): void => assertRemote(a, 404, 'FileNotFoundException', 'java.io.FileNotFoundException');
const illegalArgument = (a: Answer): void => assertRemote(a, 400, 'IllegalArgumentException', 'java.lang.IllegalArgumentException');
const accessDenied = (a: Answer): void => assertRemote(a, 403, 'AccessControlException', 'org.apache.hadoop.security.AccessControlException');

/** Writes a file through both steps of CREATE, by hand; returns the datanode's answer. */
async function create(path: string, data: Buffer, user: string, extra: Record<string, string> = {}): Promise<Answer> {
  const first = await op('PUT', path, { op: 'CREATE', 'user.name': user, ...extra });
  assert.equal(first.status, 307, first.text);
  return http('PUT', first.headers.get('location')!, data, { 'content-type': 'application/octet-stream' });
}

/** Reads through both steps of OPEN, by hand. */
async function open(path: string, user: string, extra: Record<string, string> = {}): Promise<Buffer> {
  const first = await op('GET', path, { op: 'OPEN', 'user.name': user, ...extra });
  assert.equal(first.status, 307, first.text);
  const res = await fetch(first.headers.get('location')!);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  return Buffer.from(await res.arrayBuffer());
}

test('setup: root makes /user/alice owned by alice (MKDIRS, SETOWNER)', async () => {
  const mkdirs = await op('PUT', '/user/alice', { op: 'MKDIRS', 'user.name': 'root' });
  assert.equal(mkdirs.status, 200);
  assert.deepEqual(mkdirs.json, { boolean: true });
  const chown = await op('PUT', '/user/alice', { op: 'SETOWNER', owner: 'alice', group: 'staff', 'user.name': 'root' });
  assert.equal(chown.status, 200);
  assert.equal(chown.text, '');
  const info = await gw.client.getFileInfo('/user/alice');
  assert.equal(info?.owner, 'alice');
  assert.equal(info?.group, 'staff');
});

test('GETHOMEDIRECTORY answers {"Path": "/user/<user.name>"}; without user.name the caller is dr.who', async () => {
  const home = await op('GET', '/', { op: 'GETHOMEDIRECTORY', 'user.name': 'alice' });
  assert.equal(home.status, 200);
  assert.deepEqual(home.json, { Path: '/user/alice' });
  assert.deepEqual((await op('GET', '/', { op: 'GETHOMEDIRECTORY' })).json, { Path: '/user/dr.who' });
});

test('MKDIRS and GETFILESTATUS of a directory: Hadoop\'s FileStatus, every field; op is case-insensitive', async () => {
  const made = await op('PUT', '/user/alice/dir', { op: 'mkdirs', permission: '750', 'user.name': 'alice' });
  assert.deepEqual(made.json, { boolean: true });
  const answer = await op('GET', '/user/alice/dir', { op: 'GetFileStatus', 'user.name': 'alice' });
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(Object.keys(answer.json), ['FileStatus']);
  const status = answer.json.FileStatus;
  assert.deepEqual(Object.keys(status).sort(), FILE_STATUS_KEYS);
  assert.equal(status.type, 'DIRECTORY');
  assert.equal(status.pathSuffix, '');
  assert.equal(status.permission, '750');
  assert.equal(status.owner, 'alice');
  assert.equal(status.length, 0);
  assert.equal(status.replication, 0);
  assert.equal(status.childrenNum, 0);
  assert.ok(Number.isInteger(status.fileId) && status.fileId > 0);
  assert.ok(status.modificationTime > 1_600_000_000_000, 'milliseconds since the epoch');
  // MKDIRS of an existing directory is true again (FileSystem.mkdirs).
  assert.deepEqual((await op('PUT', '/user/alice/dir', { op: 'MKDIRS', 'user.name': 'alice' })).json, { boolean: true });
});

test('CREATE by hand: 307 to a live datanode with an empty body, then PUT of the bytes there answers 201 with a Location', async () => {
  const data = randomBytes(300_000);
  const first = await op('PUT', '/user/alice/a.bin', { op: 'CREATE', 'user.name': 'alice', replication: '2' });
  assert.equal(first.status, 307);
  assert.equal(first.text, '');
  const location = new URL(first.headers.get('location')!);
  assert.ok(gw.datanodes.some((dn) => dn.http === location.host), `${location.host} is a live datanode's HTTP address`);
  assert.equal(location.pathname, '/webhdfs/v1/user/alice/a.bin');
  assert.equal(location.searchParams.get('op'), 'CREATE');
  assert.equal(location.searchParams.get('user.name'), 'alice');
  const second = await http('PUT', location.toString(), data, { 'content-type': 'application/octet-stream' });
  assert.equal(second.status, 201, second.text);
  assert.equal(second.headers.get('location'), `webhdfs://${location.host}/user/alice/a.bin`);

  const status = (await op('GET', '/user/alice/a.bin', { op: 'GETFILESTATUS', 'user.name': 'alice' })).json.FileStatus;
  assert.equal(status.type, 'FILE');
  assert.equal(status.length, data.length);
  assert.equal(status.replication, 2);
  assert.equal(status.permission, '644', 'WebHDFS\'s default file permission');
  assert.equal(status.owner, 'alice');
  assert.ok(status.blockSize > 0);
  assert.deepEqual(await open('/user/alice/a.bin', 'alice'), data);
});

test('OPEN by hand, with offset and length; an offset past the end is refused, a directory is not a file', async () => {
  const data = randomBytes(100_000);
  assert.equal((await create('/user/alice/range.bin', data, 'alice')).status, 201);
  assert.deepEqual(await open('/user/alice/range.bin', 'alice', { offset: '1000', length: '5000' }), data.subarray(1000, 6000));
  assert.deepEqual(await open('/user/alice/range.bin', 'alice', { offset: '99000' }), data.subarray(99000));
  assert.deepEqual(await open('/user/alice/range.bin', 'alice', { offset: String(data.length) }), Buffer.alloc(0));
  illegalArgument(await op('GET', '/user/alice/range.bin', { op: 'OPEN', offset: String(data.length + 1), 'user.name': 'alice' }));
  notFound(await op('GET', '/user/alice/dir', { op: 'OPEN', 'user.name': 'alice' }));
  notFound(await op('GET', '/user/alice/none', { op: 'OPEN', 'user.name': 'alice' }));
});

test('noredirect=true: 200 with {"Location": …} instead of the 307, for CREATE and OPEN', async () => {
  const created = await op('PUT', '/user/alice/nr.txt', { op: 'CREATE', noredirect: 'true', 'user.name': 'alice' });
  assert.equal(created.status, 200);
  assert.deepEqual(Object.keys(created.json), ['Location']);
  const written = await http('PUT', created.json.Location, 'no redirect\n');
  assert.equal(written.status, 201);
  const opened = await op('GET', '/user/alice/nr.txt', { op: 'OPEN', noredirect: 'TRUE', 'user.name': 'alice' });
  assert.equal(opened.status, 200);
  const read = await fetch(opened.json.Location);
  assert.equal(await read.text(), 'no redirect\n');
});

test('an empty file is created with an empty body and reads as nothing', async () => {
  assert.equal((await create('/user/alice/empty', Buffer.alloc(0), 'alice')).status, 201);
  assert.equal((await op('GET', '/user/alice/empty', { op: 'GETFILESTATUS', 'user.name': 'alice' })).json.FileStatus.length, 0);
  assert.deepEqual(await open('/user/alice/empty', 'alice'), Buffer.alloc(0));
});

test('CREATE over an existing file: FileAlreadyExistsException (403) unless overwrite=true', async () => {
  assert.equal((await create('/user/alice/once', Buffer.from('one'), 'alice')).status, 201);
  assertRemote(await op('PUT', '/user/alice/once', { op: 'CREATE', 'user.name': 'alice' }), 403, 'FileAlreadyExistsException', 'org.apache.hadoop.fs.FileAlreadyExistsException');
  assertRemote(await op('PUT', '/user/alice/dir', { op: 'CREATE', overwrite: 'true', 'user.name': 'alice' }), 403, 'FileAlreadyExistsException', 'org.apache.hadoop.fs.FileAlreadyExistsException');
  assert.equal((await create('/user/alice/once', Buffer.from('two!'), 'alice', { overwrite: 'true' })).status, 201);
  assert.equal((await open('/user/alice/once', 'alice')).toString(), 'two!');
  // The datanode's own check, for a client that skips step one.
  const [dn] = gw.datanodes;
  const direct = await http('PUT', `http://${dn!.http}/webhdfs/v1/user/alice/once?op=CREATE&user.name=alice`, 'x');
  assertRemote(direct, 403, 'FileAlreadyExistsException', 'org.apache.hadoop.fs.FileAlreadyExistsException');
});

test('LISTSTATUS: FileStatuses with each child\'s name as pathSuffix; of a file, the file itself with an empty suffix', async () => {
  await op('PUT', '/user/alice/list/sub', { op: 'MKDIRS', 'user.name': 'alice' });
  for (const name of ['b', 'a', 'c']) assert.equal((await create(`/user/alice/list/${name}`, Buffer.from(name), 'alice')).status, 201);
  const listing = await op('GET', '/user/alice/list', { op: 'LISTSTATUS', 'user.name': 'alice' });
  assert.equal(listing.status, 200);
  assert.deepEqual(Object.keys(listing.json), ['FileStatuses']);
  assert.deepEqual(Object.keys(listing.json.FileStatuses), ['FileStatus']);
  const entries = listing.json.FileStatuses.FileStatus as Array<Record<string, unknown>>;
  assert.deepEqual(entries.map((e) => e.pathSuffix), ['a', 'b', 'c', 'sub']);
  assert.deepEqual(entries.map((e) => e.type), ['FILE', 'FILE', 'FILE', 'DIRECTORY']);
  for (const entry of entries) assert.deepEqual(Object.keys(entry).sort(), FILE_STATUS_KEYS);
  assert.equal(entries[0]!.length, 1);

  const ofFile = await op('GET', '/user/alice/list/a', { op: 'LISTSTATUS', 'user.name': 'alice' });
  assert.equal(ofFile.json.FileStatuses.FileStatus.length, 1);
  assert.equal(ofFile.json.FileStatuses.FileStatus[0].pathSuffix, '');
  assert.equal(ofFile.json.FileStatuses.FileStatus[0].type, 'FILE');
  // A trailing slash names the same directory.
  assert.equal((await http('GET', `${gw.base}/webhdfs/v1/user/alice/list/?op=LISTSTATUS&user.name=alice`)).json.FileStatuses.FileStatus.length, 4);
  notFound(await op('GET', '/user/alice/nothing', { op: 'LISTSTATUS', 'user.name': 'alice' }));
});

test('LISTSTATUS_BATCH pages a large directory: DirectoryListing with partialListing and remainingEntries, resumed with startAfter', async () => {
  const total = 1_050;
  const names = Array.from({ length: total }, (_, i) => `f${String(i).padStart(5, '0')}`);
  const alice = gw.cluster.client('alice');
  try {
    await alice.mkdirs('/user/alice/many');
    for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n) => alice.create(`/user/alice/many/${n}`)));
  } finally {
    alice.close();
  }
  const seen: string[] = [];
  let startAfter: string | undefined;
  for (let pages = 0; pages < 20; pages++) {
    const answer = await op('GET', '/user/alice/many', { op: 'LISTSTATUS_BATCH', 'user.name': 'alice', ...(startAfter ? { startAfter } : {}) });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(Object.keys(answer.json), ['DirectoryListing']);
    assert.deepEqual(Object.keys(answer.json.DirectoryListing).sort(), ['partialListing', 'remainingEntries']);
    const page = answer.json.DirectoryListing.partialListing.FileStatuses.FileStatus as Array<{ pathSuffix: string }>;
    seen.push(...page.map((e) => e.pathSuffix));
    assert.equal(answer.json.DirectoryListing.remainingEntries, total - seen.length);
    if (answer.json.DirectoryListing.remainingEntries === 0) break;
    assert.ok(page.length > 0);
    startAfter = page.at(-1)!.pathSuffix;
  }
  assert.deepEqual(seen, names, 'every name once, in order, over more than one page');
  assert.ok(seen.length > 1_000);
  illegalArgument(await op('GET', '/user/alice/many', { op: 'LISTSTATUS_BATCH', startAfter: 'a/b', 'user.name': 'alice' }));
});

test('GETCONTENTSUMMARY: Hadoop\'s ContentSummary, quotas unset (-1)', async () => {
  await op('PUT', '/user/alice/sum/x', { op: 'MKDIRS', 'user.name': 'alice' });
  await create('/user/alice/sum/one', Buffer.alloc(10), 'alice');
  await create('/user/alice/sum/x/two', Buffer.alloc(32), 'alice');
  const answer = await op('GET', '/user/alice/sum', { op: 'GETCONTENTSUMMARY', 'user.name': 'alice' });
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.json, {
    ContentSummary: { directoryCount: 2, fileCount: 2, length: 42, quota: -1, spaceConsumed: 42, spaceQuota: -1, typeQuota: {} },
  });
  notFound(await op('GET', '/user/alice/nosum', { op: 'GETCONTENTSUMMARY', 'user.name': 'alice' }));
});

test('RENAME: {"boolean": true}; a missing source or an existing target is false, as HDFS\'s rename; destination is required', async () => {
  await create('/user/alice/old', Buffer.from('moved'), 'alice');
  const renamed = await op('PUT', '/user/alice/old', { op: 'RENAME', destination: '/user/alice/new', 'user.name': 'alice' });
  assert.equal(renamed.status, 200);
  assert.deepEqual(renamed.json, { boolean: true });
  assert.equal((await open('/user/alice/new', 'alice')).toString(), 'moved');
  notFound(await op('GET', '/user/alice/old', { op: 'GETFILESTATUS', 'user.name': 'alice' }));
  assert.deepEqual((await op('PUT', '/user/alice/old', { op: 'RENAME', destination: '/user/alice/other', 'user.name': 'alice' })).json, { boolean: false });
  await create('/user/alice/taken', Buffer.from('t'), 'alice');
  assert.deepEqual((await op('PUT', '/user/alice/new', { op: 'RENAME', destination: '/user/alice/taken', 'user.name': 'alice' })).json, { boolean: false });
  illegalArgument(await op('PUT', '/user/alice/new', { op: 'RENAME', 'user.name': 'alice' }));
  assertRemote(await op('PUT', '/user/alice/new', { op: 'RENAME', destination: 'relative', 'user.name': 'alice' }), 400, 'InvalidPathException', 'org.apache.hadoop.fs.InvalidPathException');
});

test('DELETE: true, then false once gone; a non-empty directory needs recursive=true; the root is never deleted', async () => {
  await create('/user/alice/del/f', Buffer.from('x'), 'alice');
  assertRemote(await op('DELETE', '/user/alice/del', { op: 'DELETE', 'user.name': 'alice' }), 403, 'PathIsNotEmptyDirectoryException', 'org.apache.hadoop.fs.PathIsNotEmptyDirectoryException');
  assert.deepEqual((await op('DELETE', '/user/alice/del', { op: 'DELETE', recursive: 'true', 'user.name': 'alice' })).json, { boolean: true });
  assert.deepEqual((await op('DELETE', '/user/alice/del', { op: 'DELETE', recursive: 'true', 'user.name': 'alice' })).json, { boolean: false });
  assert.deepEqual((await op('DELETE', '/', { op: 'DELETE', recursive: 'true', 'user.name': 'root' })).json, { boolean: false });
  assert.ok(await gw.client.getFileInfo('/user/alice'), 'nothing was deleted');
});

test('SETPERMISSION, SETOWNER and SETTIMES answer an empty 200 and change the inode', async () => {
  await create('/user/alice/attrs', Buffer.from('a'), 'alice');
  const chmod = await op('PUT', '/user/alice/attrs', { op: 'SETPERMISSION', permission: '0600', 'user.name': 'alice' });
  assert.equal(chmod.status, 200);
  assert.equal(chmod.text, '');
  // Only the superuser may give a group the owner is not a member of (alice is in none).
  accessDenied(await op('PUT', '/user/alice/attrs', { op: 'SETOWNER', group: 'wheel', 'user.name': 'alice' }));
  const chgrp = await op('PUT', '/user/alice/attrs', { op: 'SETOWNER', group: 'wheel', 'user.name': 'root' });
  assert.equal(chgrp.status, 200);
  const times = await op('PUT', '/user/alice/attrs', { op: 'SETTIMES', modificationtime: '1700000000000', accesstime: '1700000001000', 'user.name': 'alice' });
  assert.equal(times.status, 200);
  const status = (await op('GET', '/user/alice/attrs', { op: 'GETFILESTATUS', 'user.name': 'alice' })).json.FileStatus;
  assert.equal(status.permission, '600');
  assert.equal(status.group, 'wheel');
  assert.equal(status.modificationTime, 1_700_000_000_000);
  assert.equal(status.accessTime, 1_700_000_001_000);
  // -1 leaves a time as it is.
  await op('PUT', '/user/alice/attrs', { op: 'SETTIMES', modificationtime: '1600000000000', accesstime: '-1', 'user.name': 'alice' });
  const after = (await op('GET', '/user/alice/attrs', { op: 'GETFILESTATUS', 'user.name': 'alice' })).json.FileStatus;
  assert.equal(after.modificationTime, 1_600_000_000_000);
  assert.equal(after.accessTime, 1_700_000_001_000);
  illegalArgument(await op('PUT', '/user/alice/attrs', { op: 'SETOWNER', 'user.name': 'alice' }));
  notFound(await op('PUT', '/user/alice/no-attrs', { op: 'SETPERMISSION', permission: '600', 'user.name': 'alice' }));
});

test('permissions are the masters\': user.name is the caller, and bob cannot read, write or chown alice\'s files', async () => {
  await op('PUT', '/user/alice/private', { op: 'MKDIRS', permission: '700', 'user.name': 'alice' });
  await create('/user/alice/private/secret', Buffer.from('s'), 'alice');
  accessDenied(await op('GET', '/user/alice/private/secret', { op: 'GETFILESTATUS', 'user.name': 'bob' }));
  accessDenied(await op('GET', '/user/alice/private', { op: 'LISTSTATUS', 'user.name': 'bob' }));
  accessDenied(await op('GET', '/user/alice/private/secret', { op: 'OPEN', 'user.name': 'bob' }));
  accessDenied(await op('PUT', '/user/alice/private/x', { op: 'MKDIRS', 'user.name': 'bob' }));
  accessDenied(await op('DELETE', '/user/alice/private', { op: 'DELETE', recursive: 'true', 'user.name': 'bob' }));
  accessDenied(await op('PUT', '/user/bob', { op: 'MKDIRS', 'user.name': 'bob' }), );
  // Only the superuser gives a file away.
  accessDenied(await op('PUT', '/user/alice/attrs', { op: 'SETOWNER', owner: 'bob', 'user.name': 'alice' }));
  // The datanode side checks too: bob writing into alice's directory there directly.
  const [dn] = gw.datanodes;
  accessDenied(await http('PUT', `http://${dn!.http}/webhdfs/v1/user/alice/private/bob?op=CREATE&user.name=bob`, 'x'));
  accessDenied(await http('GET', `http://${dn!.http}/webhdfs/v1/user/alice/private/secret?op=OPEN&user.name=bob`));
  assert.equal((await open('/user/alice/private/secret', 'alice')).toString(), 's');
});

test('namespace refusals keep Hadoop\'s exception classes: a file as a parent, a file where a directory must be', async () => {
  await create('/user/alice/plain', Buffer.from('p'), 'alice');
  const under = await op('PUT', '/user/alice/plain/sub', { op: 'MKDIRS', 'user.name': 'alice' });
  assertRemote(under, 403, 'ParentNotDirectoryException', 'org.apache.hadoop.fs.ParentNotDirectoryException');
  const createUnder = await op('PUT', '/user/alice/plain/f', { op: 'CREATE', 'user.name': 'alice' });
  assert.equal(createUnder.status, 307, 'step one does not look at the parent');
  assertRemote(await http('PUT', createUnder.headers.get('location')!, 'x'), 403, 'ParentNotDirectoryException', 'org.apache.hadoop.fs.ParentNotDirectoryException');
});

test('a client that goes away in the middle of a CREATE leaves the datanode serving; the next CREATE of the path works', async () => {
  const first = await op('PUT', '/user/alice/cut', { op: 'CREATE', 'user.name': 'alice' });
  const location = new URL(first.headers.get('location')!);
  await new Promise<void>((resolve) => {
    const req = httpRequest({ hostname: location.hostname, port: location.port, path: location.pathname + location.search, method: 'PUT', headers: { 'content-length': '1000000' } });
    req.on('error', () => resolve());
    req.write(Buffer.alloc(100_000), () => setTimeout(() => {
      req.destroy();
      resolve();
    }, 300));
  });
  const health = await http('GET', `http://${location.host}/health`);
  assert.equal(health.status, 200, 'the datanode process is still up');
  const again = await create('/user/alice/cut', Buffer.from('whole'), 'alice', { overwrite: 'true' });
  assert.equal(again.status, 201, again.text);
  assert.equal((await open('/user/alice/cut', 'alice')).toString(), 'whole');
});

test('malformed requests get a RemoteException with the right status: op, path, numbers, booleans, permissions, users, bodies', async () => {
  const u = { 'user.name': 'alice' };
  illegalArgument(await op('GET', '/user/alice', { op: 'NOSUCHOP', ...u }));
  illegalArgument(await op('GET', '/user/alice', { ...u }));
  illegalArgument(await op('GET', '/user/alice', { op: 'MKDIRS', ...u }), );
  illegalArgument(await op('DELETE', '/user/alice', { op: 'GETFILESTATUS', ...u }));
  illegalArgument(await http('GET', `${gw.base}/webhdfs/v1/user/alice?op=GETFILESTATUS&op=LISTSTATUS`));
  illegalArgument(await op('GET', '/user/alice', { op: 'GETFILESTATUS', 'user.name': 'bad user' }));
  illegalArgument(await op('GET', '/user/alice', { op: 'GETFILESTATUS', 'user.name': 'x'.repeat(100) }));
  illegalArgument(await op('GET', '/user/alice/a.bin', { op: 'OPEN', offset: '-1', ...u }));
  illegalArgument(await op('GET', '/user/alice/a.bin', { op: 'OPEN', length: '12abc', ...u }));
  illegalArgument(await op('GET', '/user/alice/a.bin', { op: 'OPEN', offset: '99999999999999999999', ...u }));
  illegalArgument(await op('PUT', '/user/alice/n', { op: 'CREATE', replication: '0', ...u }));
  illegalArgument(await op('PUT', '/user/alice/n', { op: 'CREATE', blocksize: '1.5', ...u }));
  illegalArgument(await op('PUT', '/user/alice/n', { op: 'CREATE', overwrite: 'yes', ...u }));
  illegalArgument(await op('PUT', '/user/alice/n', { op: 'MKDIRS', permission: '888', ...u }));
  illegalArgument(await op('PUT', '/user/alice/n', { op: 'MKDIRS', permission: '77777', ...u }));
  illegalArgument(await op('PUT', '/user/alice/attrs', { op: 'SETTIMES', modificationtime: '-2', ...u }));
  illegalArgument(await op('GET', '/user/alice', { op: 'GETFILESTATUS', noredirect: 'maybe', ...u }));
  const invalidPath = (a: Answer): void => assertRemote(a, 400, 'InvalidPathException', 'org.apache.hadoop.fs.InvalidPathException');
  // (fetch would resolve '..' itself: sent as is with node:http.)
  invalidPath(await rawGet('/webhdfs/v1/user/%2E%2E/alice?op=GETFILESTATUS&user.name=alice'));
  invalidPath(await rawGet('/webhdfs/v1/user/./alice?op=GETFILESTATUS&user.name=alice'));
  invalidPath(await http('GET', `${gw.base}/webhdfs/v1/user//alice?op=GETFILESTATUS&user.name=alice`));
  invalidPath(await http('GET', `${gw.base}/webhdfs/v1/a%00b?op=GETFILESTATUS&user.name=alice`));
  invalidPath(await http('GET', `${gw.base}/webhdfs/v1/bad%E0%A4%A?op=GETFILESTATUS&user.name=alice`));
  invalidPath(await http('GET', `${gw.base}/webhdfs/v1/${'d/'.repeat(5000)}f?op=GETFILESTATUS&user.name=alice`));
  // A body where none belongs: bounded (64 KiB), then 413.
  const big = await op('PUT', '/user/alice/n', { op: 'MKDIRS', ...u }, Buffer.alloc(1024 * 1024));
  assert.equal(big.status, 413);
  assert.equal(big.json.RemoteException.exception, 'IOException');
  // An HTTP method WebHDFS does not use.
  assertRemote(await http('PATCH', url('/user/alice', { op: 'GETFILESTATUS', ...u })), 400, 'UnsupportedOperationException', 'java.lang.UnsupportedOperationException');
  // Operations a datanode does not answer.
  const [dn] = gw.datanodes;
  illegalArgument(await http('GET', `http://${dn!.http}/webhdfs/v1/user/alice?op=LISTSTATUS&user.name=alice`));
  // Nothing of the above left a file or directory behind.
  notFound(await op('GET', '/user/alice/n', { op: 'GETFILESTATUS', ...u }));
});
