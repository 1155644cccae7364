// `tandem bench fms`: how many block-metadata calls the FMS shards take — fms.addBlock +
// fms.complete per file, spread over every shard by the files' pools (issue 4: "with one
// and with two FMS shards").
//
//   setup (untimed): N (+ warm-up) files created in the namespace, /bench-fms/<run>/d<k>/f<i>;
//     NS.create picks each file's pool, so the files spread over the shards as real ones do;
//   warm-up (untimed): the same calls on the warm-up files;
//   timed: per file, fms.addBlock (a real journaled op: targets chosen, a block id and
//     genStamp handed out) then fms.complete with the block at length 0, `window` files in flight;
//   cleanup (untimed): the run's directory deleted (NS hands the files to the FMS).
//
// Why blocks of length 0: the figure is the FMS's, not the datanodes'. A block with bytes
// costs a pipeline and an fsync on a datanode, and complete then waits until a datanode
// reports the replica (read after write). A block of length 0 has nothing to read, so the
// FMS closes it without waiting for a report (src/master/filemeta-service.ts) and needs no
// replica of it (block-map safe mode); every other step — argument checks, lease, target
// choice, journal write and fsync, replication to the standbys, retry cache — is the same.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { TandemClient } from '../client/tandem-client.js';
import type { CreateResult } from '../namespace/ops.js';
import type { PipelineAnswer } from '../filemeta/ops.js';
import { TandemError } from '../errors.js';
import { noteMachine, startCpuMeter, type CpuReport, type MachineNote } from './cpu.js';
import { runWindow } from './window.js';

const DIRS = 100;

export interface FileMetaBenchOptions {
  n: number;
  window: number;
  /** Untimed files first. */
  warmup: number;
  /** Replication asked for in addBlock (targets are chosen among live datanodes). */
  replication?: number;
  pids?: ReadonlyMap<string, number>;
  keep?: boolean;
  progress?: (line: string) => void;
}

export interface FileMetaBenchResult {
  n: number;
  window: number;
  shards: number;
  filesPerShard: Record<string, number>;
  elapsedMs: number;
  /** (addBlock + complete) calls answered per second: 2 × filesPerSec. */
  callsPerSec: number;
  filesPerSec: number;
  addBlockP50Ms: number;
  addBlockP99Ms: number;
  completeP50Ms: number;
  completeP99Ms: number;
  errors: number;
  firstError: string | null;
  cpu: CpuReport | null;
  /** CPU time the cluster and the benchmark spent per call (µs): what two cores can sustain at most is 2 s / this. */
  cpuUsPerCall: number | null;
  runId: string;
  machine: MachineNote;
}

function percentile(values: Float64Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[index]! * 1000) / 1000;
}

export async function runFileMetaBench(client: TandemClient, opts: FileMetaBenchOptions): Promise<FileMetaBenchResult> {
  const { n, window, warmup } = opts;
  const replication = opts.replication ?? 3;
  const progress = opts.progress ?? (() => undefined);
  const runId = randomBytes(4).toString('hex');
  const root = `/bench-fms/${runId}`;
  const total = n + warmup;
  const created: CreateResult[] = new Array(total);
  try {
    progress(`creating ${total} files under ${root} (untimed)`);
    await runWindow(DIRS, 64, async (d) => {
      await client.mkdirs(`${root}/d${d}`);
    });
    const made = await runWindow(total, window, async (i) => {
      created[i] = await client.create(`${root}/d${i % DIRS}/f${i}`, { replication });
    });
    if (made.errors > 0) throw new TandemError('INTERNAL', `creating the files failed ${made.errors} times: ${made.firstError}`);

    // NaN until a file's two calls succeed: failed ones stay out of the percentiles and the rate.
    const addBlockMs = new Float64Array(n).fill(NaN);
    const completeMs = new Float64Array(n).fill(NaN);
    const succeeded = (ms: Float64Array): Float64Array => ms.filter((x) => !Number.isNaN(x));
    const fileOp = async (i: number, timed: boolean): Promise<void> => {
      const { fileId, pool } = created[i]!;
      const t0 = performance.now();
      const block = await client.callFileMeta<PipelineAnswer>(pool, 'fms.addBlock', { fileId, pool, replication, previous: null });
      const t1 = performance.now();
      await client.callFileMeta(pool, 'fms.complete', { fileId, last: { blockId: block.blockId, length: 0 } });
      if (timed) {
        addBlockMs[i] = t1 - t0;
        completeMs[i] = performance.now() - t1;
      }
    };

    const filesPerShard: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const shard = await client.fileMetaShardOf(created[i]!.pool);
      filesPerShard[shard] = (filesPerShard[shard] ?? 0) + 1;
    }
    if (warmup > 0) {
      progress(`warm-up: ${warmup} files (untimed)`);
      const warm = await runWindow(warmup, window, (i) => fileOp(n + i, false));
      if (warm.errors > 0) throw new TandemError('INTERNAL', `warm-up failed ${warm.errors} times: ${warm.firstError}`);
    }
    progress(`timed: ${n} files, addBlock + complete each, window ${window}, over ${Object.keys(filesPerShard).join(', ')}`);
    const machine = noteMachine();
    const meter = opts.pids ? startCpuMeter(opts.pids) : null;
    const started = performance.now();
    const result = await runWindow(n, window, (i) => fileOp(i, true));
    const elapsedMs = performance.now() - started;
    const cpu = meter?.stop() ?? null;
    const filesPerSec = Math.round(((n - result.errors) / elapsedMs) * 1000);
    return {
      n,
      window,
      shards: Object.keys(filesPerShard).length,
      filesPerShard,
      elapsedMs: Math.round(elapsedMs),
      callsPerSec: Math.round(((2 * (n - result.errors)) / elapsedMs) * 1000),
      filesPerSec,
      addBlockP50Ms: percentile(succeeded(addBlockMs), 50),
      addBlockP99Ms: percentile(succeeded(addBlockMs), 99),
      completeP50Ms: percentile(succeeded(completeMs), 50),
      completeP99Ms: percentile(succeeded(completeMs), 99),
      errors: result.errors,
      firstError: result.firstError,
      cpu,
      cpuUsPerCall: cpu === null ? null : Math.round((cpu.watchedCpuMs * 1000) / (2 * n)),
      runId,
      machine: machine.finish(),
    };
  } finally {
    if (!opts.keep) await client.delete(root, { recursive: true }).catch((err: unknown) => progress(`could not delete ${root}: ${(err as Error).message}`));
  }
}
