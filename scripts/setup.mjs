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

// npm dependencies: reinstall when package.json or package-lock.json changed since the
// last install. `npm install` rather than `npm ci`: npm 11 writes lock files that omit
// other platforms' optional packages (msgpackr-extract's), and `npm ci` then refuses them
// as out of sync; `npm install` installs the locked versions all the same.
const manifestHash = () =>
  createHash('sha256')
    .update(readFileSync(join(root, 'package.json')))
    .update(existsSync(join(root, 'package-lock.json')) ? readFileSync(join(root, 'package-lock.json')) : '')
    .digest('hex');
const stamp = join(root, 'node_modules', '.tandem-manifest-hash');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== manifestHash()) {
  console.error('setup: installing npm dependencies (npm install)');
  run('npm', ['install', '--no-audit', '--no-fund']);
  writeFileSync(stamp, manifestHash());
}

// Compile TypeScript to dist/ (incremental: fast when nothing changed).
run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json']);
