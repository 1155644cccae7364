// `tandem bench …`: benchmarks. Figures come from here, never from timed assertions in tests.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { TandemError } from '../errors.js';
import { KILL_MODES, KILL_TARGETS, REPLICATION_MAX, runChaosBench, WORKERS_MAX, WORKLOADS, type KillMode, type KillTarget, type Workload } from '../bench/chaos.js';
import { BENCH_OPS, runMetaBench, type BenchOp } from '../bench/meta.js';
import { runScaleBench } from '../bench/scale.js';
import { verifyAckLog } from '../bench/verify.js';
import { runWebHdfsBench } from '../bench/webhdfs.js';
import { registerDataBenches } from './bench-data.js';
import { clusterOptions, parseNonNegativeInt, parsePositiveInt, printJson, runCommand, withClient, type ClientFlags } from './common.js';
import { clusterProcesses } from '../bench/cpu.js';
import { readClusterFile } from './cluster-address.js';

const progress = (line: string): void => {
  process.stderr.write(`bench: ${line}\n`);
};

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks');

  clusterOptions(bench.command('meta').description('metadata operations per second against the active master (the peers\' workload)'))
    .requiredOption('--op <op>', `one of ${BENCH_OPS.join('|')}`)
    .option('--n <n>', 'operations', '50000')
    .option('--window <w>', 'calls in flight on the one connection', '256')
    .option('--files <n>', 'files stat/list/rename/delete need (made untimed if missing)')
    .option('--ack-log <file>', 'append each acknowledged path to this file')
    .option('--warmup <n>', 'untimed calls first (default: n, at most 2000; 0 for none)')
    .option('--json', 'print one JSON line')
    .action((flags: ClientFlags & { op: string; n: string; window: string; files?: string; ackLog?: string; warmup?: string; json?: boolean }) =>
      withClient({ ...flags, deadlineMs: '120000' }, async (client) => {
        if (!(BENCH_OPS as readonly string[]).includes(flags.op)) {
          throw new TandemError('INVALID_ARGUMENT', `--op must be one of ${BENCH_OPS.join('|')}, got "${flags.op}"`);
        }
        const r = await runMetaBench(client, {
          op: flags.op as BenchOp,
          n: parsePositiveInt(flags.n, '--n'),
          window: parsePositiveInt(flags.window, '--window'),
          ...(flags.files ? { files: parsePositiveInt(flags.files, '--files') } : {}),
          ...(flags.ackLog ? { ackLog: flags.ackLog } : {}),
          ...(flags.warmup !== undefined ? { warmup: parseNonNegativeInt(flags.warmup, '--warmup') } : {}),
          ...(flags.cluster ? { cpuOf: clusterProcesses(readClusterFile(flags.cluster)) } : {}),
          progress,
        });
        if (r.firstError) progress(`first error: ${r.firstError}`);
        if (flags.json) {
          printJson({ op: r.op, n: r.n, window: r.window, opsPerSec: r.opsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, errors: r.errors, ...(r.cpu ? { cpu: r.cpu } : {}) });
        } else {
          process.stdout.write(`${r.op}: ${r.n} ops, window ${r.window}: ${r.opsPerSec} ops/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.errors} errors\n`);
          if (r.cpu) {
            const each = Object.entries(r.cpu.usPerOp).map(([label, us]) => `${label} ${us}`).join(', ');
            process.stdout.write(`CPU µs per op: ${each}; machine ${r.cpu.machineBusyPercent ?? '?'}% busy\n`);
          }
        }
      }),
    );

  registerDataBenches(bench, progress);

  bench
    .command('webhdfs')
    .description('WebHDFS GETFILESTATUS calls per second over concurrent keep-alive connections, with p50/p99 latency')
    .requiredOption('--url <url>', 'the WebHDFS server, e.g. http://127.0.0.1:PORT (the adapter\'s http address)')
    .option('--connections <n>', 'concurrent keep-alive connections, one call in flight on each', '64')
    .option('--seconds <s>', 'how long the load runs', '10')
    .option('--path <path>', 'the path stat-ed', '/')
    .option('--user <name>', 'user.name of the calls', 'bench')
    .option('--json', 'print one JSON line')
    .action((flags: { url: string; connections: string; seconds: string; path: string; user: string; json?: boolean }) =>
      runCommand(async () => {
        const r = await runWebHdfsBench({
          url: flags.url,
          connections: parsePositiveInt(flags.connections, '--connections'),
          seconds: parsePositiveInt(flags.seconds, '--seconds'),
          path: flags.path,
          user: flags.user,
          progress,
        });
        if (r.firstError) progress(`first error: ${r.firstError}`);
        if (flags.json) printJson(r);
        else process.stdout.write(`webhdfs GETFILESTATUS: ${r.calls} calls in ${r.seconds} s over ${r.connections} connections: ${r.callsPerSec} calls/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.errors} errors\n`);
        if (r.errors > 0) process.exitCode = 3;
      }),
    );

  clusterOptions(bench.command('verify').description('check that every acknowledged path in an ack log exists'))
    .requiredOption('--ack-log <file>', 'ack log written by bench meta --ack-log')
    .option('--json', 'print one JSON line')
    .action((flags: ClientFlags & { ackLog: string; json?: boolean }) =>
      withClient({ ...flags, deadlineMs: '120000' }, async (client) => {
        const r = await verifyAckLog(client, flags.ackLog);
        if (r.missing > 0) progress(`missing, first ones: ${r.missingSample.join(' ')}`);
        if (flags.json) printJson({ checked: r.checked, missing: r.missing });
        else process.stdout.write(`checked ${r.checked} acknowledged paths: ${r.missing} missing\n`);
        if (r.missing > 0) process.exitCode = 3;
      }),
    );

  bench
    .command('chaos')
    .description(
      'kill the active master (or make it hand over), an FMS active or a datanode, in turn, every K seconds under a create/rename/delete load, ' +
        'or one that writes small files through the data path, then check that nothing acknowledged was lost or ran twice and every file reads back',
    )
    .requiredOption('--cluster <dir>', 'the directory of `tandem up` (its cluster.json names the members and their PIDs)')
    .requiredOption('--seconds <s>', 'how long the load runs')
    .requiredOption('--kill-every <k>', 'seconds between two kills (or hand-overs)')
    .option(
      '--kill <what>',
      'master: SIGKILL the active master only; monitor-too: its monitor as well (the failover then waits for the ZooKeeper session timeout); ' +
        'graceful: no kill, ask the active to hand over (admin.failover); a datanode is always SIGKILLed',
      'master',
    )
    .option('--kill-targets <list>', `what is killed, in turn, comma-separated: ${KILL_TARGETS.join(', ')} (an FMS shard's active, the shards in turn; a datanode, the datanodes in turn)`, 'ns')
    .option('--workload <w>', `${WORKLOADS.join('|')}: names only; files of 4-200 KiB of random bytes written and read back; every other worker writing files`, 'meta')
    .option('--replication <n>', `replicas of each file written (1..${REPLICATION_MAX})`, '3')
    .option('--window <w>', `concurrent workers, each with its own connection (at most ${WORKERS_MAX})`, '16')
    .option('--webhdfs-workers <n>', "WebHDFS clients alongside, making directories through the cluster's adapters: the unavailability HTTP users see", '0')
    .option('--json', 'print one JSON line')
    .option('--trace <file>', 'write one JSON line per namespace kill: when it happened, and when the clients saw the active go, the new address, the first answer (wall-clock ms, to read against the logs)')
    .action(
      (flags: {
        cluster: string;
        seconds: string;
        killEvery: string;
        kill: string;
        killTargets: string;
        workload: string;
        replication: string;
        window: string;
        webhdfsWorkers: string;
        json?: boolean;
        trace?: string;
      }) =>
        runCommand(async () => {
          if (!(KILL_MODES as readonly string[]).includes(flags.kill)) {
            throw new TandemError('INVALID_ARGUMENT', `--kill must be one of ${KILL_MODES.join('|')}, got "${flags.kill}"`);
          }
          if (!(WORKLOADS as readonly string[]).includes(flags.workload)) {
            throw new TandemError('INVALID_ARGUMENT', `--workload must be one of ${WORKLOADS.join('|')}, got "${flags.workload}"`);
          }
          const killTargets = flags.killTargets.split(',').map((t) => t.trim());
          const unknown = killTargets.filter((t) => !(KILL_TARGETS as readonly string[]).includes(t));
          if (unknown.length > 0 || killTargets.length === 0) {
            throw new TandemError('INVALID_ARGUMENT', `--kill-targets takes a comma-separated list of ${KILL_TARGETS.join(', ')}; got "${flags.killTargets}"`);
          }
          const r = await runChaosBench({
            cluster: flags.cluster,
            seconds: parsePositiveInt(flags.seconds, '--seconds'),
            killEverySeconds: parsePositiveInt(flags.killEvery, '--kill-every'),
            kill: flags.kill as KillMode,
            killTargets: killTargets as KillTarget[],
            workload: flags.workload as Workload,
            replication: parsePositiveInt(flags.replication, '--replication'),
            workers: parsePositiveInt(flags.window, '--window'),
            webhdfsWorkers: flags.webhdfsWorkers === '0' ? 0 : parsePositiveInt(flags.webhdfsWorkers, '--webhdfs-workers'),
            progress,
          });
          for (const v of r.violations) progress(`violation: ${v}`);
          if (flags.trace) await writeFile(flags.trace, r.failoverTrace.map((t) => JSON.stringify(t) + '\n').join(''));
          const { runId: _runId, violations: _violations, failoverTrace: _trace, ...figures } = r;
          if (flags.json) printJson(figures);
          else {
            const ms = (x: number | null): string => (x === null ? '-' : `${x} ms`);
            const graceful = flags.kill === 'graceful';
            const byTarget = Object.entries(r.killsByTarget)
              .filter(([, n]) => n > 0)
              .map(([t, n]) => `${t} ${n}`)
              .join(', ');
            process.stdout.write(
              `chaos ${r.runId}: ${r.kills} ${!graceful ? 'kills' : r.killsByTarget.datanode > 0 ? 'hand-overs and datanode kills' : 'hand-overs'}${byTarget ? ` (${byTarget})` : ''}, ${r.failovers} namespace failovers, ${r.fmsFailovers} FMS failovers; ` +
                `${r.acked} calls acknowledged (${r.opsPerSec}/s), ${r.failed} refused, ${r.inDoubt} in doubt\n` +
                `  lost ${r.lost}, duplicated ${r.duplicated}, phantom ${r.phantom}\n` +
                (r.workload === 'meta'
                  ? ''
                  : `  data: ${r.filesWritten} files written (${(r.bytesWritten / 2 ** 20).toFixed(1)} MiB), ${r.writesNotAcked} writes not acknowledged; ` +
                    `${r.filesRead} files read back (${(r.bytesRead / 2 ** 20).toFixed(1)} MiB): mismatches ${r.mismatches}\n`) +
                `  namespace unavailable per failover: p50 ${ms(r.unavailableMsP50)}, max ${ms(r.unavailableMsMax)}` +
                (r.unmeasuredKills > 0 ? ` (${r.unmeasuredKills} ${graceful ? 'hand-overs' : 'kills'} not measured: no call answered by the successor before the end)` : '') +
                '\n' +
                (r.webhdfs
                  ? `  WebHDFS (${r.webhdfs.workers} clients): ${r.webhdfs.acked} MKDIRS acknowledged, errors ${JSON.stringify(r.webhdfs.errors)}, missing ${r.webhdfs.missing}; ` +
                    `unavailable per namespace failover: p50 ${ms(r.webhdfs.unavailableMsP50)}, max ${ms(r.webhdfs.unavailableMsMax)}\n`
                  : ''),
            );
          }
          if (r.lost > 0 || r.duplicated > 0 || r.phantom > 0 || r.mismatches > 0 || (r.webhdfs?.missing ?? 0) > 0) process.exitCode = 3;
        }),
    );

  bench
    .command('scale')
    .description('memory, image size, image save and restart time for a namespace of N files')
    .requiredOption('--files <n>', 'files to create')
    .option('--dir <dir>', 'storage directory (default: a temporary one, removed afterwards)')
    .option('--json', 'print one JSON line')
    .action((flags: { files: string; dir?: string; json?: boolean }) =>
      runCommand(async () => {
        const r = await runScaleBench({ files: parsePositiveInt(flags.files, '--files'), ...(flags.dir ? { dir: flags.dir } : {}), progress });
        if (flags.json) printJson(r);
        else
          process.stdout.write(
            `${r.files} files: RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB settled (${(r.rssUnsettledBytes / 2 ** 20).toFixed(0)} MiB right after the build, ` +
              `${(r.rssAfterRestartBytes / 2 ** 20).toFixed(0)} MiB after restart), image ${(r.imageBytes / 2 ** 20).toFixed(1)} MiB ` +
              `saved in ${r.imageSaveMs} ms, restart ${r.restartMs} ms\n`,
          );
      }),
    );
}
