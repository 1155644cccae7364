// `tandem dashboard`: the web dashboard on its own, reading ZooKeeper directly — for a
// cluster without an adapter, or to look at one from a laptop. The adapter serves the same
// page at its own `/` from its registry cache (src/dashboard/).
import type { Command } from 'commander';
import Fastify from 'fastify';
import { TandemError } from '../errors.js';
import { ClusterWatch } from '../dashboard/cluster-watch.js';
import { registerDashboard } from '../dashboard/routes.js';
import { ZooKeeperRegistrySource } from '../dashboard/zookeeper-source.js';
import { parseHostPort } from '../util/address.js';
import { createLogger } from '../util/log.js';
import { coordinatorFactory, zooKeeperTarget, type ClusterFlags } from './cluster-address.js';
import { stopOnSignals } from './lifecycle.js';

interface DashboardFlags extends ClusterFlags {
  http: string;
  logLevel?: string;
}

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve the web dashboard (shards, datanodes, failovers, live charts) from ZooKeeper, without an adapter')
    .option('--zk <connect/chroot>', 'ZooKeeper of the cluster')
    .option('--zk-auth <user:password>', 'ZooKeeper digest credentials (default: $TANDEM_ZK_AUTH or the local default)')
    .option('--cluster <dir>', 'read the cluster from DIR/cluster.json (written by `tandem up`)')
    .option('--http <host:port>', 'where to serve the page', '127.0.0.1:8080')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: DashboardFlags) => {
      const log = createLogger({ name: 'dashboard', level: flags.logLevel });
      const zk = zooKeeperTarget(flags);
      if (!zk) throw new TandemError('INVALID_ARGUMENT', 'give --zk CONNECT/chroot or --cluster DIR');
      const watch = new ClusterWatch({ source: new ZooKeeperRegistrySource(coordinatorFactory(zk, log), { log }), log });
      watch.start();
      const app = Fastify({ logger: false });
      registerDashboard(app, watch);
      const { host, port } = parseHostPort(flags.http);
      const address = await app.listen({ host, port });
      log.info({ http: address }, `serving: dashboard at ${address}/`);
      stopOnSignals(log, async () => {
        await app.close();
        await watch.stop();
      });
    });
}
