// `tandem monitor`: runs beside one master until SIGTERM/SIGINT (src/monitor/monitor.ts).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { TandemError } from '../errors.js';
import { Monitor } from '../monitor/monitor.js';
import { createLogger } from '../util/log.js';
import { coordinatorFactory, zooKeeperTarget } from './cluster-address.js';
import { startOrExit, stopOnSignals } from './lifecycle.js';
import { loadSecretOption, SECRET_FILE_HELP } from '../security/cluster-secret.js';

interface MonitorFlags {
  shard: string;
  member: string;
  dir: string;
  zk: string;
  zkAuth?: string;
  logLevel?: string;
  http?: string;
  secretFile?: string;
}

export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description("watch one master's process and, when it dies, remove its ZooKeeper nodes at once so a standby takes over")
    .requiredOption('--shard <shard>', 'the shard of the master: ns')
    .requiredOption('--member <name>', "the master's member name")
    .requiredOption('--dir <dir>', "the master's storage directory (its lock file names its PID)")
    .requiredOption('--zk <connect/chroot>', 'ZooKeeper of the cluster')
    .option('--zk-auth <user:password>', 'ZooKeeper digest credentials (default: $TANDEM_ZK_AUTH or the local default)')
    .option('--http <host:port>', "where to serve the dead master's edits (default: 127.0.0.1, a free port)")
    .option('--secret-file <file>', SECRET_FILE_HELP)
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: MonitorFlags) => {
      const log = createLogger({ name: `monitor ${flags.shard}/${flags.member}`, level: flags.logLevel });
      const zk = zooKeeperTarget({ zk: flags.zk, ...(flags.zkAuth ? { zkAuth: flags.zkAuth } : {}) });
      if (!zk) throw new TandemError('INVALID_ARGUMENT', '--zk is required');
      const secret = await startOrExit(log, () => loadSecretOption(flags.secretFile));
      if (!secret) log.warn("no cluster secret (--secret-file): the dead master's edits are served to anyone who asks");
      const monitor = new Monitor({ secret, shard: flags.shard, member: flags.member, dir: resolve(flags.dir), connect: coordinatorFactory(zk, log), log, ...(flags.http ? { http: flags.http } : {}) });
      await monitor.start();
      log.info('serving: monitor running');
      stopOnSignals(log, () => monitor.stop());
    });
}
