#!/usr/bin/env node
// `npm test`: type-check (done by the build in setup.mjs, which `pretest` runs), lint, then
// every test file under dist/test with Node's own test runner.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
try {
  execFileSync(join(root, 'node_modules', '.bin', 'eslint'), ['.'], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('npm test: lint failed (see above)');
  process.exit(1);
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}
// Optional filter: `npm test -- journal rpc` runs only files whose path contains a word.
const filters = process.argv.slice(2);
const files = findTests(join(root, 'dist', 'test')).filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
