// `tandem adapter`: runs one adapter until SIGTERM/SIGINT (src/adapter/adapter.ts).
import type { Command } from 'commander';
import { Adapter } from '../adapter/adapter.js';
import { adapterWebRoutes } from '../adapter/web.js';
import { limitsWith } from '../config/limits.js';
import { TandemError } from '../errors.js';
import { createLogger } from '../util/log.js';
import { coordinatorFactory, zooKeeperTarget } from './cluster-address.js';
import { parsePositiveInt } from './common.js';
import { startOrExit, stopOnSignals } from './lifecycle.js';

interface AdapterFlags {
  id?: string;
  zk?: string;
  zkAuth?: string;
  cluster?: string;
  rpc: string;
  http: string;
  syncIntervalMs?: string;
  logLevel?: string;
}

export function registerAdapter(program: Command): void {
  program
    .command('adapter')
    .description('cache the ZooKeeper registry and serve it: the shard map over RPC; over HTTP the dashboard, WebHDFS, /status, /metrics and /shards/<s>/… redirects')
    .option('--id <id>', 'its name under /adapters in ZooKeeper (default: adapter-<rpc port>)')
    .option('--zk <connect/chroot>', 'ZooKeeper of the cluster')
    .option('--zk-auth <user:password>', 'ZooKeeper digest credentials (default: $TANDEM_ZK_AUTH or the local default)')
    .option('--cluster <dir>', 'read ZooKeeper\'s address from <dir>/cluster.json (written by `tandem up`)')
    .option('--rpc <host:port>', 'RPC listen address (the shard map)', '127.0.0.1:0')
    .option('--http <host:port>', 'HTTP listen address (the dashboard at /, /webhdfs/v1, /status, /health, /metrics, /shards/<s>/…)', '127.0.0.1:0')
    .option('--sync-interval-ms <ms>', 'read the whole registry this often (watches trigger reads in between)', '1000')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: AdapterFlags) => {
      if (flags.id !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(flags.id)) {
        throw new TandemError('INVALID_ARGUMENT', `--id must be 1-64 letters, digits, '.', '_' or '-', got "${flags.id}"`);
      }
      const zk = zooKeeperTarget({ ...(flags.zk ? { zk: flags.zk } : {}), ...(flags.zkAuth ? { zkAuth: flags.zkAuth } : {}), ...(flags.cluster ? { cluster: flags.cluster } : {}) });
      if (!zk) throw new TandemError('INVALID_ARGUMENT', 'say where ZooKeeper is: --zk CONNECT/chroot or --cluster DIR');
      const log = createLogger({ name: `adapter ${flags.id ?? ''}`.trim(), level: flags.logLevel });
      const syncIntervalMs = parsePositiveInt(flags.syncIntervalMs ?? '1000', '--sync-interval-ms');
      const adapter = await startOrExit(log, () =>
        Adapter.start({
          ...(flags.id ? { id: flags.id } : {}),
          connect: coordinatorFactory(zk, log),
          rpc: flags.rpc,
          http: flags.http,
          limits: limitsWith(),
          log,
          syncIntervalMs,
          httpRoutes: adapterWebRoutes(log),
        }),
      );
      stopOnSignals(log, () => adapter.stop());
    });
}
