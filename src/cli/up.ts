// `tandem up` (`npm run up`): a whole local cluster in the foreground. For now that is one
// namespace master; the HA issue adds ZooKeeper, standbys and monitors. It restarts a
// master that dies, writes cluster.json with every address and PID, and stops everything
// on Ctrl-C or SIGTERM.
import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startMasterProcess, type MasterProcess } from '../cluster/master-process.js';
import { sleep } from '../client/backoff.js';

interface UpFlags {
  dir: string;
  port: string;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start a local cluster in the foreground (Ctrl-C stops it)')
    .option('--dir <dir>', 'where all cluster state lives', '.tandem')
    .option('--port <port>', 'namespace master RPC port', '7070')
    .action(async (flags: UpFlags) => {
      const dir = resolve(flags.dir);
      const rpc = `127.0.0.1:${flags.port}`;
      const memberDir = join(dir, 'ns', 'm1');
      await mkdir(memberDir, { recursive: true });
      const logFile = join(dir, 'ns-m1.log');
      let stopping = false;
      let master: MasterProcess = await startMasterProcess({ dir: memberDir, rpc, member: 'm1', logFile });

      const writeClusterFile = (): Promise<void> =>
        writeFile(
          join(dir, 'cluster.json'),
          JSON.stringify(
            { shards: { ns: { members: [{ member: 'm1', rpc: master.rpc, pid: master.pid, dir: memberDir, log: logFile }] } }, supervisorPid: process.pid },
            null,
            2,
          ) + '\n',
        );
      await writeClusterFile();
      const cli = `node ${join(process.cwd(), 'bin', 'tandem.js')}`;
      process.stdout.write(
        [
          `Tandem is up (state in ${dir}).`,
          `  namespace master m1   rpc ${master.rpc}   pid ${master.pid}   log ${logFile}`,
          '',
          'Talk to it:',
          `  ${cli} fs --master ${master.rpc} mkdir /hello`,
          `  ${cli} fs --master ${master.rpc} ls /`,
          `  ${cli} bench meta --master ${master.rpc} --op create --n 50000 --window 256`,
          `  ${cli} admin status --master ${master.rpc}`,
          '',
          'Ctrl-C stops the cluster.',
          '',
        ].join('\n'),
      );

      // Supervisor: a master that dies is restarted on the same storage (it recovers from its journal).
      const exited = (child: MasterProcess['child']): Promise<[number | null, string | null]> =>
        child.exitCode !== null || child.signalCode !== null
          ? Promise.resolve([child.exitCode, child.signalCode])
          : new Promise((r) => child.once('exit', (c, s) => r([c, s])));
      const supervise = async (): Promise<void> => {
        while (!stopping) {
          const [code, signal] = await exited(master.child);
          if (stopping) return;
          process.stdout.write(`master m1 (pid ${master.pid}) exited (code ${code}, signal ${signal}); restarting in 1 s\n`);
          // Retry the start until it works: a failed start leaves no child to wait on.
          for (let delayMs = 1_000; !stopping; delayMs = Math.min(delayMs * 2, 30_000)) {
            await sleep(delayMs);
            if (stopping) return;
            try {
              master = await startMasterProcess({ dir: memberDir, rpc, member: 'm1', logFile });
              await writeClusterFile();
              process.stdout.write(`master m1 restarted as pid ${master.pid}\n`);
              break;
            } catch (err) {
              process.stdout.write(`master m1 could not restart: ${err instanceof Error ? err.message : String(err)}; see ${logFile}\n`);
            }
          }
        }
      };
      void supervise();

      const stop = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        process.stdout.write(`${signal}: stopping the cluster\n`);
        await master.stop();
        process.stdout.write('stopped\n');
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}
