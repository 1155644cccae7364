// `tandem datanode`: runs one datanode until SIGTERM/SIGINT (src/datanode/datanode.ts).
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { resolve } from 'node:path';
import { limitsWith } from '../config/limits.js';
import { TandemError } from '../errors.js';
import { Datanode } from '../datanode/datanode.js';
import { createLogger } from '../util/log.js';
import { coordinatorFactory, zooKeeperTarget } from './cluster-address.js';
import { startOrExit, stopOnSignals } from './lifecycle.js';
import { zooKeeperClient } from './common.js';
import { registerDatanodeWebHdfs } from '../webhdfs/datanode-routes.js';
import { UserClients } from '../webhdfs/user-clients.js';
import { loadSecretOption, SECRET_FILE_HELP } from '../security/cluster-secret.js';

interface DatanodeFlags {
  id: string;
  dir: string;
  rpc: string;
  data: string;
  http?: string;
  zk: string;
  zkAuth?: string;
  logLevel?: string;
  secretFile?: string;
}

export function registerDatanode(program: Command): void {
  program
    .command('datanode')
    .description('store blocks: register in ZooKeeper, report to every FMS member, serve pipeline writes and reads')
    .requiredOption('--id <id>', 'this datanode\'s id in the cluster (e.g. dn1)')
    .requiredOption('--dir <dir>', 'where its blocks live')
    .option('--rpc <host:port>', 'RPC (status) listen address', '127.0.0.1:0')
    .option('--data <host:port>', 'data-transfer listen address (pipeline writes, reads)', '127.0.0.1:0')
    .option('--http <host:port>', 'HTTP address: /health, /metrics and the WebHDFS data endpoint (default: the rpc host, a free port)')
    .requiredOption('--zk <connect/chroot>', 'ZooKeeper of the cluster')
    .option('--zk-auth <user:password>', 'ZooKeeper digest credentials (default: $TANDEM_ZK_AUTH or the local default)')
    .option('--secret-file <file>', SECRET_FILE_HELP)
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: DatanodeFlags) => {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(flags.id)) throw new TandemError('INVALID_ARGUMENT', `--id must be 1-64 letters, digits, '.', '_' or '-', got "${flags.id}"`);
      const log = createLogger({ name: `datanode ${flags.id}`, level: flags.logLevel });
      const zk = zooKeeperTarget({ zk: flags.zk, ...(flags.zkAuth ? { zkAuth: flags.zkAuth } : {}) });
      if (!zk) throw new TandemError('INVALID_ARGUMENT', '--zk is required');
      const connect = coordinatorFactory(zk, log);
      // The WebHDFS data endpoint: CREATE/APPEND/OPEN bytes go through a client of the caller.
      // Every user's client shares one root's ZooKeeper sessions and connections to the
      // actives (forUser): a client of its own per `user.name`, which any caller picks,
      // would open ZooKeeper sessions and connections per name.
      const root = zooKeeperClient(connect);
      const users = new UserClients({ make: (user) => root.forUser(user) });
      const webHdfs = (app: FastifyInstance): void => registerDatanodeWebHdfs(app, { clientFor: users.clientFor, log });
      const node = await startOrExit(log, async () =>
        Datanode.start({
          secret: await loadSecretOption(flags.secretFile),
          id: flags.id,
          dir: resolve(flags.dir),
          rpc: flags.rpc,
          data: flags.data,
          ...(flags.http ? { http: flags.http } : {}),
          connect,
          httpRoutes: [webHdfs],
          limits: limitsWith(),
          log,
        }),
      );
      stopOnSignals(log, async () => {
        await node.stop();
        users.close();
        root.close();
      });
    });
}
