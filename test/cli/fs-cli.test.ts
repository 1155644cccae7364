// The `tandem fs` and `tandem admin` commands, run as a person or a script would run them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI_ENTRY, startMasterProcess, type MasterProcess } from '../../src/cluster/master-process.js';
import { tempDir } from '../helpers/temp.js';

const run = promisify(execFile);
let master: MasterProcess;

before(async () => {
  master = await startMasterProcess({ dir: join(await tempDir(), 'ns'), rpc: '127.0.0.1:0' });
});
after(async () => {
  await master?.stop();
});

async function tandem(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_ENTRY, ...args], { timeout: 30_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}
const fs = (...args: string[]) => tandem('fs', '--master', master.rpc, ...args);

test('mkdir, touch, ls, stat, mv, chmod, chown, du and rm work end to end', async () => {
  assert.equal((await fs('mkdir', '/data/logs')).code, 0);
  assert.equal((await fs('touch', '/data/logs/a', '/data/logs/b')).code, 0);

  const listing = await fs('ls', '/data/logs');
  assert.equal(listing.code, 0);
  assert.match(listing.stdout, /^Found 2 items$/m);
  assert.match(listing.stdout, /^-rw-r--r-- .* \/data\/logs\/a$/m);

  const json = JSON.parse((await fs('--json', 'ls', '/data/logs')).stdout) as Array<{ path: string; type: string }>;
  assert.deepEqual(json.map((e) => e.path), ['/data/logs/a', '/data/logs/b']);

  assert.equal((await fs('mv', '/data/logs/a', '/data/logs/c')).code, 0);
  assert.equal((await fs('chmod', '600', '/data/logs/c')).code, 0);
  assert.equal((await fs('chown', 'alice:staff', '/data/logs/c')).code, 0);
  const stat = JSON.parse((await fs('--json', 'stat', '/data/logs/c')).stdout) as { permission: number; owner: string; group: string; type: string };
  assert.equal(stat.permission, 0o600);
  assert.equal(stat.owner, 'alice');
  assert.equal(stat.group, 'staff');
  assert.equal(stat.type, 'file');
  assert.match((await fs('stat', '/data/logs/c')).stdout, /permission\s+-rw------- \(0600\)/);

  const du = JSON.parse((await fs('--json', 'du', '/data')).stdout) as { fileCount: number; directoryCount: number };
  assert.equal(du.fileCount, 2);
  assert.equal(du.directoryCount, 2);

  const notEmpty = await fs('rm', '/data');
  assert.equal(notEmpty.code, 1);
  assert.match(notEmpty.stderr, /DIRECTORY_NOT_EMPTY/);
  assert.equal((await fs('rm', '-r', '/data')).code, 0);
  assert.equal((await fs('ls', '/data')).code, 1);
});

test('errors are one readable line with their code, and exit 1', async () => {
  const missing = await fs('stat', '/nope');
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'tandem: NOT_FOUND: /nope: no such file or directory\n');
  const bad = await fs('mkdir', '/a//b');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^tandem: INVALID_PATH: /);
  const badMode = await fs('chmod', '999', '/');
  assert.match(badMode.stderr, /INVALID_ARGUMENT/);
});

test('permissions are enforced for other users', async () => {
  assert.equal((await fs('mkdir', '/private')).code, 0);
  assert.equal((await fs('chmod', '700', '/private')).code, 0);
  const denied = await fs('--user', 'mallory', 'touch', '/private/x');
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /PERMISSION_DENIED/);
});

test('admin save-namespace writes an image and admin status reports it', async () => {
  const saved = JSON.parse((await tandem('admin', 'save-namespace', '--master', master.rpc, '--json')).stdout) as { txid: number; bytes: number };
  assert.ok(saved.txid > 0);
  assert.ok(saved.bytes > 0);
  const status = JSON.parse((await tandem('admin', 'status', '--master', master.rpc, '--json')).stdout) as { imageTxid: number; role: string };
  assert.equal(status.imageTxid, saved.txid);
  assert.equal(status.role, 'active');
});

test('bench meta --json prints the one line the issue specifies', async () => {
  const out = await tandem('bench', 'meta', '--master', master.rpc, '--op', 'create', '--n', '2000', '--window', '64', '--json');
  assert.equal(out.code, 0, out.stderr);
  const line = JSON.parse(out.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(line), ['op', 'n', 'window', 'opsPerSec', 'p50Ms', 'p99Ms', 'errors']);
  assert.equal(line.errors, 0);
  const stat = JSON.parse((await tandem('bench', 'meta', '--master', master.rpc, '--op', 'stat', '--n', '2000', '--window', '64', '--json')).stdout) as { errors: number };
  assert.equal(stat.errors, 0);
});
