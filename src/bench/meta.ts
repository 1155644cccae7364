// `tandem bench meta`: the metadata workload of issue 2, the same one ../shared/peers runs
// against ZooKeeper, etcd and Redis. Creates go to /bench/d<i mod 100>/f<i>.
import { createWriteStream, type WriteStream } from 'node:fs';
import { TandemError } from '../errors.js';
import type { TandemClient } from '../client/tandem-client.js';
import { permutation, runWindow, type WindowResult } from './window.js';
import { startCpuMeter } from './cpu.js';

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
  /** Untimed calls before the timed ones (default: n, at most 2000). */
  warmup?: number;
  /** Progress lines go here (stderr in the CLI). */
  progress?: (line: string) => void;
  /** Processes whose CPU the timed phase measures (a `tandem up` cluster's, by label). */
  cpuOf?: ReadonlyMap<string, number>;
}

export interface MetaBenchResult extends WindowResult {
  op: BenchOp;
  /**
   * With cpuOf: CPU time per timed op, in µs, of each process ("bench" is this one),
   * and how busy the whole machine was meanwhile. Per op it stays put when other work slows
   * the run: on a shared 2-core machine, the figure that says where a create's cost goes.
   */
  cpu?: { usPerOp: Record<string, number>; machineBusyPercent: number | null };
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

/** What one benchmark op does: untimed setup, an untimed warm-up call, and the timed call. */
interface Plan {
  setup: () => Promise<void>;
  /** Warms the JIT on the same code path without touching what the timed calls use. */
  warmUp: (i: number) => Promise<void>;
  call: (i: number) => Promise<void>;
  /** Untimed cleanup of what the warm-up left. */
  cleanUp?: () => Promise<void>;
}

const WARMUP_ROOT = '/bench-warmup';

function planFor(client: TandemClient, opts: MetaBenchOptions, acked: (path: string) => void): Plan {
  const dirs = opts.dirs ?? 100;
  const stat = async (path: string): Promise<void> => {
    if (!(await client.getFileInfo(path))) throw new TandemError('NOT_FOUND', `${path} is missing`);
  };
  const removeWarmUp = async (): Promise<void> => {
    await client.delete(WARMUP_ROOT, { recursive: true });
  };
  switch (opts.op) {
    case 'create':
      return {
        setup: async () => {
          await makeParents(client, dirs);
          await makeParents(client, dirs, WARMUP_ROOT);
        },
        warmUp: async (i) => {
          await client.create(`${WARMUP_ROOT}/d${i % dirs}/f${i}`);
        },
        call: async (i) => {
          const path = fileOf(i, dirs);
          await client.create(path);
          acked(path);
        },
        cleanUp: removeWarmUp,
      };
    case 'mkdir':
      return {
        setup: async () => {
          await makeParents(client, dirs, '/bench-mkdir');
          await makeParents(client, dirs, WARMUP_ROOT);
        },
        warmUp: async (i) => {
          await client.mkdirs(`${WARMUP_ROOT}/d${i % dirs}/m${i}`);
        },
        call: async (i) => {
          const path = `/bench-mkdir/d${i % dirs}/m${i}`;
          await client.mkdirs(path);
          acked(path);
        },
        cleanUp: removeWarmUp,
      };
    case 'stat': {
      const files = opts.files ?? opts.n;
      const order = permutation(files);
      const call = (i: number): Promise<void> => stat(fileOf(order[i % files]!, dirs));
      return { setup: () => populate(client, files, dirs, opts.progress), warmUp: call, call };
    }
    case 'list':
    case 'list-status': {
      // `list` is the peers' workload: names only (ZooKeeper getChildren). `list-status`
      // returns every entry's full status, as HDFS listStatus does.
      const call = async (i: number): Promise<void> => {
        const dir = dirOf(i, dirs);
        const count = opts.op === 'list' ? (await client.listNames(dir)).names.length : (await client.listStatus(dir)).entries.length;
        if (count === 0) throw new TandemError('NOT_FOUND', `${dir} is empty`);
      };
      return { setup: () => populate(client, opts.files ?? 50_000, dirs, opts.progress), warmUp: call, call };
    }
    case 'rename':
      return {
        setup: () => populate(client, opts.n, dirs, opts.progress),
        warmUp: (i) => stat(fileOf(i % opts.n, dirs)),
        call: async (i) => {
          const dst = fileOf(i, dirs, 'r');
          if (!(await client.rename(fileOf(i, dirs), dst))) throw new TandemError('NOT_FOUND', `rename to ${dst} returned false`);
          acked(dst);
        },
      };
    case 'delete': {
      // Deletes what the rename benchmark left (r<i>) if it ran, else the created f<i>.
      let prefix = 'f';
      return {
        setup: async () => {
          prefix = (await client.getFileInfo(fileOf(0, dirs, 'r'))) ? 'r' : 'f';
          if (prefix === 'f') await populate(client, opts.n, dirs, opts.progress);
        },
        warmUp: (i) => stat(fileOf(i % opts.n, dirs, prefix)),
        call: async (i) => {
          const path = fileOf(i, dirs, prefix);
          if (!(await client.delete(path))) throw new TandemError('NOT_FOUND', `delete ${path} returned false`);
        },
      };
    }
  }
}

/**
 * Runs one benchmark op: setup (untimed), a warm-up of `warmup` calls (untimed, so the
 * figure is not a measure of V8's JIT starting up; the peers' benchmark reaches its later
 * phases warm, in the same process), then N timed calls with `window` in flight.
 */
export async function runMetaBench(client: TandemClient, opts: MetaBenchOptions): Promise<MetaBenchResult> {
  const { n, window, op } = opts;
  let ackLog: WriteStream | null = null;
  try {
    if (opts.ackLog) ackLog = createWriteStream(opts.ackLog, { flags: 'a' });
    const log = ackLog;
    const plan = planFor(client, opts, (path) => log?.write(path + '\n'));
    await plan.setup();
    const warmup = opts.warmup ?? Math.min(2_000, n);
    if (warmup > 0) {
      const warm = await runWindow(warmup, window, plan.warmUp);
      if (warm.errors > 0) throw new TandemError('INTERNAL', `warm-up failed ${warm.errors} times: ${warm.firstError}`);
      await plan.cleanUp?.();
    }
    const meter = opts.cpuOf ? startCpuMeter(opts.cpuOf) : null;
    const result = await runWindow(n, window, plan.call);
    const cpu = meter?.stop();
    if (!cpu) return { op, ...result };
    const usPerOp = Object.fromEntries(Object.entries(cpu.processes).map(([label, percent]) => [label, Math.round(((percent / 100) * cpu.elapsedMs * 1000 * 10) / n) / 10]));
    return { op, ...result, cpu: { usPerOp, machineBusyPercent: cpu.machineBusyPercent } };
  } finally {
    if (ackLog) await new Promise<void>((resolve) => ackLog!.end(resolve));
  }
}
