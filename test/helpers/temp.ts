// Temporary directories for tests, removed when the test file ends (kept with
// TANDEM_KEEP_TEST_DIRS=1, to read the logs of a failed run).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const made: string[] = [];
after(async () => {
  if (process.env.TANDEM_KEEP_TEST_DIRS) return;
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function tempDir(prefix = 'tandem-test-'): Promise<string> {
  const dir = await mkdtemp(join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
