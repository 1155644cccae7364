// Cluster secrets for tests (src/security/cluster-secret.ts): a file as `tandem up` writes
// one, for processes given --secret-file, or the secret itself, for in-process masters.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ClusterSecret, writeNewSecretFile } from '../../src/security/cluster-secret.js';

/** Writes a new secret file (mode 0600) in `dir` and returns its path. */
export async function testSecretFile(dir: string, name = 'cluster-secret'): Promise<string> {
  const path = join(dir, name);
  await writeNewSecretFile(path);
  return path;
}

/** A new random secret, in memory. */
export function testSecret(): ClusterSecret {
  return ClusterSecret.fromBytes(Buffer.from(randomBytes(32).toString('hex')));
}
