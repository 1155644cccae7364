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

// Debian packages, installed with apt as root, or through `sudo -n` (never prompting)
// otherwise:
// - ZooKeeper: the coordinator of every Tandem cluster, started by `tandem up` and by the
//   tests from /usr/share/java/zookeeper.jar.
// - Chromium: the headless browser the dashboard test drives through playwright-core
//   (test/dashboard/); Debian's build rather than Playwright's download, so no test
//   fetches a browser from the network.
const DEBIAN_PACKAGES = [
  { name: 'ZooKeeper', pkg: 'zookeeper', probe: '/usr/share/java/zookeeper.jar', note: 'it needs a Java runtime, e.g. openjdk-17-jre-headless' },
  { name: 'Chromium', pkg: 'chromium', probe: '/usr/bin/chromium', note: 'the dashboard test runs it headless' },
];
const missing = DEBIAN_PACKAGES.filter((p) => !existsSync(p.probe));
if (missing.length > 0) installDebianPackages(missing);

function installDebianPackages(packages) {
  const names = packages.map((p) => p.pkg);
  const steps = [
    ['apt-get', ['update', '-qq']],
    ['apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names]],
  ];
  const asRoot = process.getuid?.() === 0;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  console.error(`setup: installing ${packages.map((p) => p.name).join(' and ')} (apt-get install ${names.join(' ')}${asRoot ? '' : ', through sudo -n'})`);
  try {
    for (const [cmd, args] of steps) {
      // sudo resets the environment, so DEBIAN_FRONTEND goes on its command line.
      if (asRoot) execFileSync(cmd, args, { stdio: 'inherit', env });
      else execFileSync('sudo', ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', cmd, ...args], { stdio: 'inherit' });
    }
  } catch (err) {
    const how = asRoot ? 'apt-get failed' : 'not root, and `sudo -n` failed';
    console.error(`setup: could not install ${names.join(' ')} (${how}): ${err.message}`);
  }
  const still = packages.filter((p) => !existsSync(p.probe));
  if (still.length > 0) {
    for (const p of still) console.error(`setup: ${p.name} is missing (${p.probe}) and could not be installed (Debian/Ubuntu package "${p.pkg}"; ${p.note}).`);
    console.error(
      '  Install as root, then run this again:\n' +
        `    apt-get update && apt-get install -y --no-install-recommends ${still.map((p) => p.pkg).join(' ')}`,
    );
    process.exit(1);
  }
}

// `--system-only`: the Debian packages above and nothing else (no npm install, no build).
if (process.argv.includes('--system-only')) process.exit(0);

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
