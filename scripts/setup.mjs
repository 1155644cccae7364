#!/usr/bin/env node
// Installs what the project needs on a fresh machine, then builds it. Idempotent and
// quiet when there is nothing to do. Uses nothing but Node itself, since it runs before
// any dependency exists.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

// npm dependencies: reinstall when package-lock.json changed since the last install.
const lockHash = createHash('sha256').update(readFileSync(join(root, 'package-lock.json'))).digest('hex');
const stamp = join(root, 'node_modules', '.tandem-lock-hash');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lockHash) {
  console.error('setup: installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(stamp, lockHash);
}

// Compile TypeScript to dist/ (incremental: fast when nothing changed).
run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json']);
