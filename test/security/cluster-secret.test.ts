// The secret file: written 0600 by `tandem up`, refused when others can read it or when it
// is too short; the option falls back to $TANDEM_SECRET_FILE.
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClusterSecret, loadSecretOption, SECRET_FILE_ENV, writeNewSecretFile } from '../../src/security/cluster-secret.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { tempDir } from '../helpers/temp.js';

test('a new secret file has mode 0600 and 32 random bytes, is never overwritten, and loads', async () => {
  const dir = await tempDir();
  const path = join(dir, 'cluster-secret');
  await writeNewSecretFile(path);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.match(await readFile(path, 'utf8'), /^[0-9a-f]{64}\n$/);
  await assert.rejects(writeNewSecretFile(path), /EEXIST/);
  const other = join(dir, 'other-secret');
  await writeNewSecretFile(other);
  const [a, b, a2] = await Promise.all([ClusterSecret.load(path), ClusterSecret.load(other), ClusterSecret.load(path)]);
  const nonce = '00'.repeat(16);
  assert.equal(a.rpcProof('client', nonce, 'x'), a2.rpcProof('client', nonce, 'x'));
  assert.notEqual(a.rpcProof('client', nonce, 'x'), b.rpcProof('client', nonce, 'x'));
  // The two channels use different keys: an RPC proof is not an HTTP MAC.
  assert.notEqual(a.httpMac('GET', '/edits?from=1', 0), a.rpcProof('client', nonce, 'x'));
});

test('a secret file others can read, or one too short, is refused', async () => {
  const dir = await tempDir();
  const open = join(dir, 'readable');
  await writeNewSecretFile(open);
  await chmod(open, 0o644);
  await rejectsWithCode(ClusterSecret.load(open), 'INVALID_ARGUMENT', /mode 644: others can read it; chmod 600 it/);
  const short = join(dir, 'short');
  await writeFile(short, 'password\n', { mode: 0o600 });
  await rejectsWithCode(ClusterSecret.load(short), 'INVALID_ARGUMENT', /has 8 characters, at least 32/);
  await rejectsWithCode(ClusterSecret.load(join(dir, 'missing')), 'INVALID_ARGUMENT', /cannot read the cluster secret file/);
});

test('--secret-file wins over $TANDEM_SECRET_FILE; neither means no secret', async () => {
  const dir = await tempDir();
  const path = join(dir, 'cluster-secret');
  await writeNewSecretFile(path);
  assert.equal(await loadSecretOption(undefined, {}), null);
  assert.ok(await loadSecretOption(undefined, { [SECRET_FILE_ENV]: path }));
  assert.ok(await loadSecretOption(path, { [SECRET_FILE_ENV]: join(dir, 'missing') }));
  await rejectsWithCode(loadSecretOption(join(dir, 'missing'), {}), 'INVALID_ARGUMENT');
});
