// `tandem bench scale`: how big and how fast a namespace of N files is in one master —
// resident memory, image size, image save time and restart time.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TandemClient } from '../client/tandem-client.js';
import { startMasterProcess, type MasterProcess } from '../cluster/master-process.js';
import { TandemError } from '../errors.js';
import { runWindow } from './window.js';
import { sleep } from '../client/backoff.js';

export interface ScaleResult {
  files: number;
  /**
   * Master RSS once settled after building the namespace through N creates: V8 keeps the
   * heap pages that the build's garbage needed and hands them back over the next tens of
   * seconds of quiet (its memory reducer), so this polls (full GC each time) until RSS stops
   * falling. `rssUnsettledBytes` is the same right after the build.
   */
  rssBytes: number;
  rssUnsettledBytes: number;
  /** The same, settled, for a master restarted from the image. */
  rssAfterRestartBytes: number;
  heapUsedBytes: number;
  imageBytes: number;
  imageSaveMs: number;
  restartMs: number;
}

export async function runScaleBench(opts: { files: number; dir?: string; progress?: (line: string) => void }): Promise<ScaleResult> {
  const dir = opts.dir ?? (await mkdtemp(join(os.tmpdir(), 'tandem-scale-')));
  const progress = opts.progress ?? (() => undefined);
  const dirs = Math.max(1, Math.ceil(opts.files / 1000));
  // The master's log goes to a file in its directory (startMasterProcess reads the "serving" line at info level).
  await mkdir(dir, { recursive: true });
  const logFile = join(dir, 'master.log');
  let master: MasterProcess | undefined;
  let client: TandemClient | undefined;
  try {
    master = await startMasterProcess({ dir, rpc: '127.0.0.1:0', logFile, nodeArgs: ['--expose-gc'] });
    client = new TandemClient({ masters: [master.rpc] });
    progress(`building ${opts.files} files in ${dirs} directories`);
    const builder = client;
    await runWindow(dirs, 64, async (d) => {
      await builder.mkdirs(`/scale/d${d}`);
    });
    let done = 0;
    const built = await runWindow(opts.files, 256, async (i) => {
      await builder.create(`/scale/d${i % dirs}/f${i}`);
      if (++done % 100_000 === 0) progress(`${done} files`);
    });
    if (built.errors > 0) throw new TandemError('INTERNAL', `building the namespace failed ${built.errors} times: ${built.firstError}`);
    const unsettled = await memoryOf(client);
    progress(`RSS ${mib(unsettled.rssBytes)} MiB right after the build; waiting for it to settle`);
    const status = await settledMemoryOf(client);
    progress('saving the namespace');
    const saved = await client.saveNamespace();
    client.close();
    await master.stop();
    progress('restarting from the image');
    const t0 = performance.now();
    master = await startMasterProcess({ dir, rpc: '127.0.0.1:0', logFile, nodeArgs: ['--expose-gc'] });
    const restartMs = Math.round(performance.now() - t0);
    client = new TandemClient({ masters: [master.rpc] });
    const after = await settledMemoryOf(client);
    if (after.inodes < opts.files) throw new TandemError('INTERNAL', `restarted master has ${after.inodes} inodes, expected ≥ ${opts.files}`);
    return {
      files: opts.files,
      rssBytes: status.rssBytes,
      rssUnsettledBytes: unsettled.rssBytes,
      rssAfterRestartBytes: after.rssBytes,
      heapUsedBytes: status.heapUsedBytes,
      imageBytes: saved.bytes,
      imageSaveMs: saved.ms,
      restartMs,
    };
  } finally {
    client?.close();
    await master?.stop();
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
  }
}

interface MemoryStatus {
  rssBytes: number;
  heapUsedBytes: number;
  inodes: number;
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

function memoryOf(client: TandemClient): Promise<MemoryStatus> {
  return client.call<MemoryStatus>('admin.status', { gc: true });
}

/** Polls every 5 s (at most 90 s) until RSS falls by less than 2% between two polls. */
async function settledMemoryOf(client: TandemClient): Promise<MemoryStatus> {
  let last = await memoryOf(client);
  for (let waitedMs = 0; waitedMs < 90_000; waitedMs += 5_000) {
    await sleep(5_000);
    const now = await memoryOf(client);
    const settled = now.rssBytes > last.rssBytes * 0.98;
    last = now.rssBytes < last.rssBytes ? now : last;
    if (settled) break;
  }
  return last;
}
