// `tandem bench meta`: the metadata workload of issue 2, the same one ../shared/peers runs
// against ZooKeeper, etcd and Redis. Creates go to /bench/d<i mod 100>/f<i>.
import { createWriteStream, type WriteStream } from 'node:fs';
import { TandemError } from '../errors.js';
import type { TandemClient } from '../client/tandem-client.js';
import { permutation, runWindow, type WindowResult } from './window.js';

export const BENCH_OPS = ['create', 'mkdir', 'stat', 'list', 'list-status', 'rename', 'delete'] as const;
export type BenchOp = (typeof BENCH_OPS)[number];

export interface MetaBenchOptions {
  op: BenchOp;
  n: number;
  window: number;
  /** Directories the files spread over (the peers use 100). */
  dirs?: number;
  /** Files that stat/list/rename/delete need to exist first (made untimed when missing). */
  files?: number;
  ackLog?: string;
  /** Progress lines go here (stderr in the CLI). */
  progress?: (line: string) => void;
}

export interface MetaBenchResult extends WindowResult {
  op: BenchOp;
}

const dirOf = (i: number, dirs: number): string => `/bench/d${i % dirs}`;
const fileOf = (i: number, dirs: number, prefix = 'f'): string => `${dirOf(i, dirs)}/${prefix}${i}`;

async function makeParents(client: TandemClient, dirs: number, root = '/bench'): Promise<void> {
  await runWindow(dirs, 64, async (d) => {
    await client.mkdirs(`${root}/d${d}`);
  });
}

/** Makes sure files f0..f<count-1> exist (untimed), creating only the missing ones. */
async function populate(client: TandemClient, count: number, dirs: number, progress?: (line: string) => void): Promise<void> {
  const last = await client.getFileInfo(fileOf(count - 1, dirs));
  const first = await client.getFileInfo(fileOf(0, dirs));
  if (first && last) return;
  progress?.(`populating ${count} files under /bench (untimed)`);
  await makeParents(client, dirs);
  const result = await runWindow(count, 256, async (i) => {
    try {
      await client.create(fileOf(i, dirs));
    } catch (err) {
      if (!(err instanceof TandemError && err.code === 'FILE_EXISTS')) throw err;
    }
  });
  if (result.errors > 0) throw new TandemError('INTERNAL', `populating /bench failed ${result.errors} times: ${result.firstError}`);
}

export async function runMetaBench(client: TandemClient, opts: MetaBenchOptions): Promise<MetaBenchResult> {
  const { n, window, op } = opts;
  const dirs = opts.dirs ?? 100;
  let ackLog: WriteStream | null = null;
  const acked = (path: string): void => {
    ackLog?.write(path + '\n');
  };
  let result: WindowResult;
  try {
    if (opts.ackLog) ackLog = createWriteStream(opts.ackLog, { flags: 'a' });
    switch (op) {
      case 'create': {
        await makeParents(client, dirs);
        result = await runWindow(n, window, async (i) => {
          const path = fileOf(i, dirs);
          await client.create(path);
          acked(path);
        });
        break;
      }
      case 'mkdir': {
        await makeParents(client, dirs, '/bench-mkdir');
        result = await runWindow(n, window, async (i) => {
          const path = `/bench-mkdir/d${i % dirs}/m${i}`;
          await client.mkdirs(path);
          acked(path);
        });
        break;
      }
      case 'stat': {
        await populate(client, opts.files ?? n, dirs, opts.progress);
        const files = opts.files ?? n;
        const order = permutation(files);
        result = await runWindow(n, window, async (i) => {
          const path = fileOf(order[i % files]!, dirs);
          if (!(await client.getFileInfo(path))) throw new TandemError('NOT_FOUND', `${path} is missing`);
        });
        break;
      }
      case 'list':
      case 'list-status': {
        // `list` is the peers' workload: names only (ZooKeeper getChildren). `list-status`
        // returns every entry's full status, as HDFS listStatus does.
        const files = opts.files ?? 50_000;
        await populate(client, files, dirs, opts.progress);
        result = await runWindow(n, window, async (i) => {
          const dir = dirOf(i, dirs);
          const count = op === 'list' ? (await client.listNames(dir)).names.length : (await client.listStatus(dir)).entries.length;
          if (count === 0) throw new TandemError('NOT_FOUND', `${dir} is empty`);
        });
        break;
      }
      case 'rename': {
        await populate(client, n, dirs, opts.progress);
        result = await runWindow(n, window, async (i) => {
          const dst = fileOf(i, dirs, 'r');
          if (!(await client.rename(fileOf(i, dirs), dst))) throw new TandemError('NOT_FOUND', `rename to ${dst} returned false`);
          acked(dst);
        });
        break;
      }
      case 'delete': {
        // Deletes what the rename benchmark left (r<i>) if it ran, else the created f<i>.
        const prefix = (await client.getFileInfo(fileOf(0, dirs, 'r'))) ? 'r' : 'f';
        if (prefix === 'f') await populate(client, n, dirs, opts.progress);
        result = await runWindow(n, window, async (i) => {
          const path = fileOf(i, dirs, prefix);
          if (!(await client.delete(path))) throw new TandemError('NOT_FOUND', `delete ${path} returned false`);
        });
        break;
      }
    }
  } finally {
    if (ackLog) await new Promise<void>((resolve) => ackLog!.end(resolve));
  }
  return { op, ...result };
}
