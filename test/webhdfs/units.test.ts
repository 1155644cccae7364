// The pieces of WebHDFS that need no cluster: parameter parsing, the error mapping, the
// bridge to TandemClient's newer file operations, the per-user client cache, and the
// routes' handling of requests through fastify's inject() with a fake client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { ERROR_CODES, TandemError, type ErrorCode } from '../../src/errors.js';
import type { FileStatus } from '../../src/namespace/ops.js';
import type { WebHdfsClient } from '../../src/webhdfs/file-system.js';
import { webHdfsFrameworkErrors } from '../../src/webhdfs/http-scope.js';
import { registerWebHdfs } from '../../src/webhdfs/namenode-routes.js';
import { checkPath, Params, pathOfUrl } from '../../src/webhdfs/params.js';
import { HADOOP_EXCEPTIONS, remoteException } from '../../src/webhdfs/remote-exception.js';
import { UserClients } from '../../src/webhdfs/user-clients.js';
import { waitFor } from '../helpers/zookeeper.js';

const invalid = (fn: () => unknown, code: ErrorCode = 'INVALID_ARGUMENT'): void => assert.throws(fn, (err: unknown) => err instanceof TandemError && err.code === code);

test('every Tandem error code has a Hadoop exception, a java class name and a 4xx/5xx status', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const hadoop = HADOOP_EXCEPTIONS[code];
    assert.ok(hadoop, code);
    assert.ok(hadoop.javaClassName.endsWith(`.${hadoop.exception}`), `${code}: ${hadoop.javaClassName}`);
    assert.ok(hadoop.status >= 400 && hadoop.status < 600, code);
  }
  assert.deepEqual(remoteException(new TandemError('NOT_FOUND', 'File does not exist: /x')), {
    status: 404,
    body: { RemoteException: { exception: 'FileNotFoundException', javaClassName: 'java.io.FileNotFoundException', message: 'File does not exist: /x' } },
  });
  assert.equal(remoteException(new Error('boom')).status, 500);
  assert.equal(remoteException(new Error('boom')).body.RemoteException.javaClassName, 'java.lang.RuntimeException');
  assert.equal(remoteException(Object.assign(new Error('too big'), { statusCode: 413 })).status, 413);
});

test('Params: names case-insensitive, one value each, bounded; typed values checked', () => {
  const p = new Params({ OP: 'liststatus', 'User.Name': 'alice', Offset: '12', Overwrite: 'TRUE', permission: '0755' });
  assert.equal(p.op('GET'), 'LISTSTATUS');
  assert.equal(p.user(), 'alice');
  assert.equal(p.integer('offset'), 12);
  assert.equal(p.boolean('overwrite', false), true);
  assert.equal(p.permission(), 0o755);
  assert.equal(new Params({ permission: '1777' }).permission(), 0o1777);
  assert.equal(new Params({}).user(), 'dr.who');
  assert.equal(new Params({ offset: '' }).integer('offset'), undefined, 'empty is absent, as Hadoop\'s null');
  invalid(() => new Params({ op: ['a', 'b'] }));
  invalid(() => new Params({ op: 'a', OP: 'b' }));
  invalid(() => new Params(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, 'x']))));
  invalid(() => new Params({ x: 'y'.repeat(70_000) }));
  invalid(() => new Params({ op: 'MKDIRS' }).op('GET'));
  invalid(() => new Params({}).op('GET'));
  invalid(() => new Params({ op: 'OPEN' }).op('PATCH'), 'UNSUPPORTED');
  for (const bad of ['-1', '1.5', '1e3', '0x10', ' 1', '99999999999999999']) invalid(() => new Params({ offset: bad }).integer('offset'));
  invalid(() => new Params({ replication: '0' }).integer('replication'));
  invalid(() => new Params({ replication: '32768' }).integer('replication'));
  assert.equal(new Params({ modificationtime: '-1' }).integer('modificationtime'), -1);
  for (const bad of ['8', '2777', '7777', 'rwx', '-1']) invalid(() => new Params({ permission: bad }).permission());
  invalid(() => new Params({ recursive: 'yes' }).boolean('recursive', false));
  for (const bad of ['a b', '1abc', 'x'.repeat(65), 'a/b']) invalid(() => new Params({ 'user.name': bad }).user());
  invalid(() => new Params({ noredirect: 'maybe' }).checkAll());
});

test('paths: decoded from the URL, absolute, bounded, one trailing slash dropped', () => {
  assert.equal(pathOfUrl('/webhdfs/v1?op=X'), '/');
  assert.equal(pathOfUrl('/webhdfs/v1/?op=X'), '/');
  assert.equal(pathOfUrl('/webhdfs/v1/a/b%20c/?op=X'), '/a/b c');
  assert.equal(pathOfUrl('/webhdfs/v1/%E2%82%AC'), '/€');
  invalid(() => pathOfUrl('/webhdfs/v1/%E0%A4%A'), 'INVALID_PATH');
  invalid(() => pathOfUrl('/webhdfs/v1/a%00b'), 'INVALID_PATH');
  invalid(() => pathOfUrl(`/webhdfs/v1/${'x'.repeat(9000)}`), 'INVALID_PATH');
  invalid(() => checkPath('relative', 'destination'), 'INVALID_PATH');
});

function fakeClient(extra: Record<string, unknown> = {}): WebHdfsClient {
  const status: FileStatus = { name: 'f', type: 'file', fileId: 7, permission: 0o644, owner: 'u', group: 'g', mtime: 2, atime: 1, replication: 3, blockSize: 1 << 20, length: 5, pool: 0, underConstruction: false, childrenCount: 0 };
  const client = {
    user: 'u',
    getFileInfo: async (path: string) => (path === '/f' ? status : null),
    ...extra,
  };
  return client as unknown as WebHdfsClient;
}

test('UserClients: one client per user, the least recently used evicted past the bound and closed after its grace period', async () => {
  const closed: string[] = [];
  const made: string[] = [];
  const users = new UserClients({
    make: (user) => {
      made.push(user);
      return { user, close: () => closed.push(user) } as unknown as TandemClient;
    },
    usersMax: 2,
    closeGraceMs: 20,
  });
  const a = users.clientFor('a');
  users.clientFor('b');
  assert.equal(users.clientFor('a'), a, 'cached');
  users.clientFor('c'); // evicts b, the least recently used
  assert.deepEqual(made, ['a', 'b', 'c']);
  assert.equal(users.size, 2);
  assert.deepEqual(closed, [], 'not closed at once: requests may still use it');
  await waitFor('the evicted client closed after its grace period', () => closed.length > 0);
  assert.deepEqual(closed, ['b']);
  users.clientFor('b');
  assert.deepEqual(made, ['a', 'b', 'c', 'b']);
  users.close();
  assert.deepEqual(closed.sort(), ['a', 'b', 'b', 'c']);
});

test('UserClients: evicted clients waiting out their grace period are bounded (a caller cycling user.name values)', () => {
  const closed: string[] = [];
  let made = 0;
  const users = new UserClients({
    make: (user) => {
      made++;
      return { user, close: () => closed.push(user) } as unknown as TandemClient;
    },
    usersMax: 3,
    closeGraceMs: 3_600_000,
  });
  for (let i = 0; i < 100; i++) users.clientFor(`u${i}`);
  assert.equal(made, 100);
  assert.equal(users.size, 3);
  assert.equal(users.closingCount, 3, 'at most usersMax evicted clients wait for their grace period');
  assert.equal(closed.length, 94, 'the others are closed at once, oldest first');
  assert.deepEqual(closed.slice(0, 2), ['u0', 'u1']);
  users.close();
  assert.equal(closed.length, 100);
});

test('CREATE with a block size the data path cannot write is refused before the redirect (at the datanode the file would be created first)', async () => {
  const app = Fastify({ frameworkErrors: webHdfsFrameworkErrors });
  registerWebHdfs(app, { clientFor: () => fakeClient(), datanodes: () => [{ id: 'dn1', http: '127.0.0.1:9' }] });
  try {
    const odd = await app.inject({ method: 'PUT', url: '/webhdfs/v1/new?op=CREATE&blocksize=1000' });
    assert.equal(odd.statusCode, 400);
    assert.equal(odd.json().RemoteException.exception, 'IllegalArgumentException');
    assert.match(odd.json().RemoteException.message, /multiple of the 65536-byte checksum chunk/);
    assert.equal((await app.inject({ method: 'PUT', url: `/webhdfs/v1/new?op=CREATE&blocksize=${1 << 20}` })).statusCode, 307);
  } finally {
    await app.close();
  }
});

test('routes through inject(): no live datanode is a 503; a body where none belongs is bounded; a bad URL is still a RemoteException', async () => {
  const app = Fastify({ frameworkErrors: webHdfsFrameworkErrors });
  registerWebHdfs(app, { clientFor: () => fakeClient(), datanodes: () => [], limits: { bodyBytesMax: 10 } });
  try {
    const noDatanode = await app.inject({ method: 'GET', url: '/webhdfs/v1/f?op=OPEN' });
    assert.equal(noDatanode.statusCode, 503);
    assert.equal(noDatanode.json().RemoteException.exception, 'IOException');
    const status = await app.inject({ method: 'GET', url: '/webhdfs/v1/f?op=GETFILESTATUS' });
    assert.equal(status.json().FileStatus.permission, '644');
    assert.equal((await app.inject({ method: 'PUT', url: '/webhdfs/v1/f?op=MKDIRS', payload: 'x'.repeat(11) })).statusCode, 413);
    const badUrl = await app.inject({ method: 'GET', url: '/webhdfs/v1/%E0%A4%A?op=GETFILESTATUS' });
    assert.equal(badUrl.statusCode, 400);
    assert.equal(badUrl.json().RemoteException.exception, 'InvalidPathException');
    // Outside /webhdfs the host's own routes and errors are untouched.
    assert.equal((await app.inject({ method: 'GET', url: '/elsewhere' })).statusCode, 404);
  } finally {
    await app.close();
  }
});
