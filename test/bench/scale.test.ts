// `tandem bench scale` end to end on a small namespace: it builds, images, restarts and
// reports. (The 1M-file figure comes from running the command itself, not from a test.)
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runScaleBench } from '../../src/bench/scale.js';
import { tempDir } from '../helpers/temp.js';

test('bench scale builds N files, saves an image and restarts from it', { timeout: 60_000 }, async () => {
  const dir = join(await tempDir(), 'scale');
  const result = await runScaleBench({ files: 3_000, dir });
  assert.equal(result.files, 3_000);
  assert.ok(result.rssBytes > 0 && result.rssAfterRestartBytes > 0 && result.heapUsedBytes > 0);
  assert.ok(result.imageBytes > 3_000 * 10, `an image of 3000 files cannot be ${result.imageBytes} bytes`);
  assert.ok(result.imageSaveMs >= 0 && result.restartMs > 0);
  const names = await readdir(dir);
  assert.ok(names.some((n) => n.startsWith('fsimage_')), 'the image is on disk');
  assert.ok(!names.includes('in_use.lock'), 'the master was stopped');
});
