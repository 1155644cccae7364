import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TandemError } from '../../src/errors.js';
import { acquireStorageLock, processStartTicks } from '../../src/replication/storage-lock.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir as sharedTempDir } from '../helpers/temp.js';

const log = silentLogger();
const tempDir = (): Promise<string> => sharedTempDir('tandem-lock-');

describe('storage lock', () => {
  it('takes over the lock of a killed process its parent has not reaped yet (a zombie)', async () => {
    const dir = await tempDir();
    // A parent that never reaps: sh starts a child, prints its PID, then becomes `sleep`.
    const parent = spawn('sh', ['-c', 'sleep 1000 & echo $!; exec sleep 1000'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number.parseInt(await new Promise<string>((resolve) => parent.stdout.once('data', (b: Buffer) => resolve(b.toString()))), 10);
      await writeFile(join(dir, 'in_use.lock'), `${pid}\n`);
      await assert.rejects(acquireStorageLock(dir, log), (err: unknown) => err instanceof TandemError && err.code === 'STORAGE_LOCKED');
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 200 && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); i++) await new Promise((r) => setTimeout(r, 5));
      assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /\) Z /, 'the killed child is a zombie');
      const release = await acquireStorageLock(dir, log);
      await release();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('takes over a lock naming our own PID that this process does not hold (a restarted container is PID 1 again)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'in_use.lock'), `${process.pid}\n`);
    const release = await acquireStorageLock(dir, log);
    await assert.rejects(acquireStorageLock(dir, log), (err: unknown) => err instanceof TandemError && err.code === 'STORAGE_LOCKED');
    await release();
  });

  it('writes our PID, refuses a second holder while we live, and releases', async () => {
    const dir = await tempDir();
    const release = await acquireStorageLock(dir, log);
    assert.equal(Number.parseInt(await readFile(join(dir, 'in_use.lock'), 'utf8'), 10), process.pid);
    await assert.rejects(acquireStorageLock(dir, log), (err: unknown) => {
      assert.ok(err instanceof TandemError);
      assert.equal(err.code, 'STORAGE_LOCKED');
      assert.ok(err.message.includes(String(process.pid)), err.message);
      return true;
    });
    await release();
    await release();
    await assert.rejects(access(join(dir, 'in_use.lock')));
    const again = await acquireStorageLock(dir, log);
    await again();
  });

  it('takes over a lock left by a dead process', async () => {
    const dir = await tempDir();
    // A process that has already exited: its PID is (almost certainly) not reused yet.
    const child = spawnSync(process.execPath, ['-e', '0']);
    assert.ok(child.pid);
    await writeFile(join(dir, 'in_use.lock'), `${child.pid}\n`);
    const release = await acquireStorageLock(dir, log);
    assert.equal(Number.parseInt(await readFile(join(dir, 'in_use.lock'), 'utf8'), 10), process.pid);
    await release();
  });

  it('takes over an empty lock file (a crash while creating it)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'in_use.lock'), '');
    const release = await acquireStorageLock(dir, log);
    await release();
  });
});

describe('process identity (the monitor tells a process from a later one given the same PID)', () => {
  it('a process keeps its start time; another process has its own; a process gone has none', async () => {
    const first = spawn('sleep', ['1000'], { stdio: 'ignore' });
    // Started in different clock ticks (10 ms each), so their start times differ.
    await new Promise((r) => setTimeout(r, 50));
    const second = spawn('sleep', ['1000'], { stdio: 'ignore' });
    try {
      const ticks = processStartTicks(first.pid!);
      assert.match(ticks ?? '', /^\d+$/, 'a start time in clock ticks');
      assert.equal(processStartTicks(first.pid!), ticks, 'the same process, the same start time');
      assert.notEqual(processStartTicks(second.pid!), ticks, 'another process, another start time');
      assert.equal(processStartTicks(process.pid), readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19]);
    } finally {
      first.kill('SIGKILL');
      second.kill('SIGKILL');
    }
    await new Promise<void>((resolve) => (first.exitCode !== null || first.signalCode !== null ? resolve() : first.once('exit', () => resolve())));
    assert.equal(processStartTicks(first.pid!), null, 'gone (reaped): no start time');
  });
});
