// `tandem master`: runs one master process of a shard until SIGTERM/SIGINT.
import type { Command } from 'commander';
import os from 'node:os';
import { resolve } from 'node:path';
import { limitsWith } from '../config/limits.js';
import { TandemError } from '../errors.js';
import { Master } from '../master/master.js';
import { parseHostPort } from '../util/address.js';
import { createLogger } from '../util/log.js';

interface MasterFlags {
  shard: string;
  dir: string;
  rpc: string;
  member?: string;
  superuser?: string;
  supergroup?: string;
  logLevel?: string;
}

export function registerMaster(program: Command): void {
  program
    .command('master')
    .description('run a metadata master (namespace shard)')
    .requiredOption('--shard <shard>', 'shard to serve: ns')
    .requiredOption('--dir <dir>', 'storage directory (journal, images)')
    .option('--rpc <host:port>', 'RPC listen address', '127.0.0.1:7070')
    .option('--member <name>', 'this member\'s name in its shard (default: <hostname>-<port>)')
    .option('--superuser <user>', 'user that skips permission checks (default: the OS user)')
    .option('--supergroup <group>', 'group whose members skip permission checks', 'supergroup')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: MasterFlags) => {
      if (flags.shard !== 'ns') throw new TandemError('INVALID_ARGUMENT', `only --shard ns exists so far, got "${flags.shard}"`);
      const { host, port } = parseHostPort(flags.rpc);
      const member = flags.member ?? `${os.hostname()}-${port}`;
      const log = createLogger({ name: `master ${flags.shard}/${member}`, level: flags.logLevel });
      let master: Master;
      try {
        master = await Master.start({
          shard: flags.shard,
          member,
          dir: resolve(flags.dir),
          host,
          port,
          limits: limitsWith(),
          log,
          ...(flags.superuser ? { superuser: flags.superuser } : {}),
          ...(flags.supergroup ? { supergroup: flags.supergroup } : {}),
          onFatal: () => {
            log.flush();
            process.exit(70);
          },
        });
      } catch (err) {
        if (err instanceof TandemError) {
          log.fatal({ code: err.code }, `cannot start: ${err.message}`);
          log.flush();
          process.exit(1);
        }
        throw err;
      }
      const stop = (signal: string): void => {
        log.info({ signal }, `received ${signal}`);
        master.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'unclean stop');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
