// `tandem bench data` and `tandem bench fms`: the data path's benchmarks (issue 4), against
// a `tandem up` cluster named by --cluster (its cluster.json says where the datanodes keep
// their blocks and which PIDs to watch for CPU).
import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { runDataBench } from '../bench/data.js';
import { clusterProcesses, formatCpu, formatMachine } from '../bench/cpu.js';
import { runFileMetaBench } from '../bench/fms.js';
import { readClusterFile } from './cluster-address.js';
import { parsePositiveInt, printJson, withClient } from './common.js';

const MiB = 1 << 20;

export function registerDataBenches(bench: Command, progress: (line: string) => void): void {
  bench
    .command('data')
    .description(
      'write F files of M MiB with replication 1 and 3, read them back (compared byte for byte), next to the raw disk\'s sequential write and read ' +
        'measured in the same run on the same disk (MB = MiB)',
    )
    .requiredOption('--cluster <dir>', 'the directory of `tandem up`: cluster.json, and the disk the datanodes write to')
    .option('--size-mb <m>', 'MiB per file', '256')
    .option('--files <f>', 'files per replication factor', '2')
    .option('--block-mb <b>', 'MiB per block', '128')
    .option('--keep', 'leave the files in the cluster')
    .option('--keep-cache', 'do not drop the page cache before the reads (both reads then come from memory)')
    .option('--json', 'print one JSON line')
    .action((flags: { cluster: string; sizeMb: string; files: string; blockMb: string; keep?: boolean; keepCache?: boolean; json?: boolean }) =>
      withClient({ cluster: flags.cluster, deadlineMs: '120000' }, async (client) => {
        const cluster = readClusterFile(flags.cluster);
        const datanodeDirs = (cluster.datanodes ?? []).map((d) => d.dir);
        // cluster.json sits in the cluster's directory, which holds the datanodes' directories.
        const diskDir = resolve(flags.cluster);
        const r = await runDataBench({
          client,
          diskDir,
          datanodeDirs: datanodeDirs.length > 0 ? datanodeDirs : [diskDir],
          sizeBytes: parsePositiveInt(flags.sizeMb, '--size-mb') * MiB,
          files: parsePositiveInt(flags.files, '--files'),
          blockBytes: parsePositiveInt(flags.blockMb, '--block-mb') * MiB,
          pids: clusterProcesses(cluster),
          ...(flags.keep ? { keep: true } : {}),
          ...(flags.keepCache ? { dropCache: false } : {}),
          progress,
        });
        const { phases, ...figures } = r;
        if (flags.json) {
          printJson({
            ...figures,
            phaseMs: Object.fromEntries(Object.entries(phases).map(([k, p]) => [k, p.ms])),
            cpuMsPerMiB: Object.fromEntries(Object.entries(phases).map(([k, p]) => [k, p.cpuMsPerMiB])),
          });
          return;
        }
        const lines = [
          `data path, ${r.files} files × ${r.sizeMB} MiB per replication factor, blocks of ${r.blockMB} MiB (run ${r.runId}; datanodes in ${dirname(datanodeDirs[0] ?? diskDir)})`,
          `  command: tandem bench data --cluster ${flags.cluster} --size-mb ${flags.sizeMb} --files ${flags.files} --block-mb ${flags.blockMb}${flags.keepCache ? ' --keep-cache' : ''}`,
          `  machine: ${formatMachine(r.machine)}`,
          `  write, replication 1   ${r.writeMBps1} MiB/s`,
          `  write, replication 3   ${r.writeMBps3} MiB/s  (the disk wrote ${Math.round(r.writeMBps3 * 3 * 10) / 10} MiB/s: ${Math.round(r.diskRatioWrite3 * 100)}% of its sequential write)`,
          `  read (replication 3)   ${r.readMBps} MiB/s  (${Math.round(r.diskRatioRead * 100)}% of the disk's sequential read); replication 1: ${r.readMBps1} MiB/s; ` +
            `through a Readable: ${r.readMBpsStream} MiB/s`,
          `  disk, sequential       write ${r.diskWriteMBps} MiB/s (4 MiB writes, fsync at the end), read ${r.diskReadMBps} MiB/s (4 MiB reads)`,
          `  page cache ${r.cacheDropped ? 'dropped before each read: reads come from the disk' : 'NOT dropped: both reads come from memory'}; ` +
            `${r.verifiedBytes} bytes read back and compared${r.sameDevice ? '' : '; WARNING: the datanodes are not on the disk file\'s device'}`,
          ...Object.entries(phases).flatMap(([name, p]) => (p.cpu ? [`  ${name.padEnd(9)} ${p.ms} ms, ${p.cpuMsPerMiB} ms of CPU per MiB; ${formatCpu(p.cpu)}`] : [])),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );

  bench
    .command('fms')
    .description(
      'fms.addBlock + fms.complete calls per second over the FMS shards: N files created in the namespace first (untimed), then for each a block ' +
        'of length 0 added and the file completed (timed)',
    )
    .requiredOption('--cluster <dir>', 'the directory of `tandem up`')
    .option('--n <n>', 'files (each one addBlock and one complete)', '20000')
    .option('--window <w>', 'files in flight', '256')
    .option('--warmup <n>', 'untimed files first (default: n, at most 2000)')
    .option('--keep', 'leave the files in the cluster')
    .option('--json', 'print one JSON line')
    .action((flags: { cluster: string; n: string; window: string; warmup?: string; keep?: boolean; json?: boolean }) =>
      withClient({ cluster: flags.cluster, deadlineMs: '120000' }, async (client) => {
        const cluster = readClusterFile(flags.cluster);
        const n = parsePositiveInt(flags.n, '--n');
        const r = await runFileMetaBench(client, {
          n,
          window: parsePositiveInt(flags.window, '--window'),
          warmup: flags.warmup === undefined ? Math.min(2_000, n) : flags.warmup === '0' ? 0 : parsePositiveInt(flags.warmup, '--warmup'),
          pids: clusterProcesses(cluster),
          ...(flags.keep ? { keep: true } : {}),
          progress,
        });
        if (r.firstError) progress(`first error: ${r.firstError}`);
        if (flags.json) {
          printJson(r);
          return;
        }
        process.stdout.write(
          [
            `fms: ${r.n} files over ${r.shards} FMS shard(s) (${Object.entries(r.filesPerShard).map(([s, c]) => `${s}: ${c}`).join(', ')}), window ${r.window}`,
            `  command: tandem bench fms --cluster ${flags.cluster} --n ${flags.n} --window ${flags.window}${flags.warmup === undefined ? '' : ` --warmup ${flags.warmup}`}`,
            `  machine: ${formatMachine(r.machine)}`,
            `  ${r.callsPerSec} calls/s (addBlock + complete, ${r.filesPerSec} files/s), ${r.errors} errors`,
            `  addBlock p50 ${r.addBlockP50Ms} ms, p99 ${r.addBlockP99Ms} ms; complete p50 ${r.completeP50Ms} ms, p99 ${r.completeP99Ms} ms`,
            ...(r.cpu ? [`  ${r.cpuUsPerCall} µs of CPU per call (cluster + bench); ${formatCpu(r.cpu, 10)}`] : []),
          ].join('\n') + '\n',
        );
      }),
    );
}
