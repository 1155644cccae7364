// One process per storage directory: two masters appending to the same journal would
// interleave records and destroy it. `in_use.lock` is created with O_EXCL and holds the
// owner's PID; a lock whose PID is dead was left by a crash and is taken over.
//
// Limits of a PID file, accepted here: a recycled PID makes a stale lock look live (the
// error names the PID so an operator can check and remove the file), and two processes
// taking over the same stale lock at the same instant are not fully excluded.

import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { TandemError } from '../errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { fsyncDirectory, LOCK_FILE } from './storage-layout.js';

/**
 * Lock files this process holds, by path. A lock file naming our own PID is ours only if
 * it is in here; otherwise an earlier process with the same PID left it (a container's
 * master is PID 1 every time), and it is stale.
 */
const heldByThisProcess = new Set<string>();

/** True if `pid` runs and is not a zombie (used by the storage lock and by `tandem monitor`). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed master whose parent has not reaped it yet is a zombie: kill(pid, 0) still
  // succeeds, but it holds nothing. Without this, a restart right after kill -9 is refused.
  return !isZombie(pid);
}

/**
 * Linux: when `pid` started (clock ticks since boot, field 22 of /proc/<pid>/stat). With the
 * PID it names one process: a PID reused later has another start time. null where /proc
 * cannot tell (another system, or no such process).
 */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may hold spaces) start with the state, field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[22 - 3] ?? null;
  } catch {
    return null;
  }
}

/** Linux: state Z (zombie) or X (dead) in /proc/<pid>/stat. Elsewhere: not known, so no. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}

async function tryCreate(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/** Takes the directory's lock; the returned function releases it (idempotent). */
export async function acquireStorageLock(dir: string, log: Logger = silentLogger()): Promise<() => Promise<void>> {
  const path = resolve(dir, LOCK_FILE);
  // Two rounds: create, or find a stale lock, remove it, and create again.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await tryCreate(path)) {
      await fsyncDirectory(dir);
      log.info({ dir, pid: process.pid }, `locked storage directory ${dir}`);
      heldByThisProcess.add(path);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        heldByThisProcess.delete(path);
        // Only remove the file if it is still ours.
        const holder = await readFile(path, 'utf8').catch(() => '');
        if (Number.parseInt(holder, 10) === process.pid) await unlink(path);
      };
    }
    let content: string;
    try {
      content = await readFile(path, 'utf8');
    } catch (err) {
      // Released between our create and our read: just try again.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const pid = Number.parseInt(content, 10);
    const ownPidLeftByAnEarlierProcess = pid === process.pid && !heldByThisProcess.has(path);
    if (Number.isSafeInteger(pid) && pid > 0 && isAlive(pid) && !ownPidLeftByAnEarlierProcess) {
      throw new TandemError('STORAGE_LOCKED', `${dir} is locked by process ${pid} (${path})`);
    }
    // Dead PID, or an empty/torn lock file from a crash during its creation.
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    log.warn({ dir, stalePid: content.trim() }, `replaced stale lock of dead process ${content.trim() || '(none)'} on ${dir}`);
  }
  throw new TandemError('STORAGE_LOCKED', `${dir}: could not take ${path}, another process keeps recreating it`);
}
