// Shared pieces of the `tandem` subcommands: client construction, printing, exit codes.
import { TandemError } from '../errors.js';
import type { Command } from 'commander';
import { TandemClient, type TandemClientOptions } from '../client/tandem-client.js';
import type { Coordinator } from '../election/coordinator.js';
import { ZooKeeperResolver } from '../client/zk-resolver.js';
import { readPoolMap } from '../election/pool-map.js';
import { throughAdapters } from '../client/adapter-resolver.js';
import { clusterTarget, coordinatorFactory, withSession, type ClusterFlags } from './cluster-address.js';

export interface ClientFlags extends ClusterFlags {
  user?: string;
  deadlineMs?: string;
}

/** Adds --adapter / --config / --master / --zk / --zk-auth / --cluster to a command. */
export function clusterOptions(command: Command): Command {
  return command
    .option('--adapter <host:port,...>', 'adapter RPC address(es): actives are found through their shard map (also $TANDEM_ADAPTERS)')
    .option('--config <file>', 'config file naming the adapters, {"adapters": ["host:port", ...]} (default: $TANDEM_CONFIG or ~/.config/tandem/config.json)')
    .option('--master <host:port,...>', 'master address(es), for a master running without ZooKeeper')
    .option('--zk <connect/chroot>', 'ZooKeeper, e.g. 127.0.0.1:2181/tandem/local: the active is found there')
    .option('--zk-auth <user:password>', 'ZooKeeper digest credentials (default: $TANDEM_ZK_AUTH or the local default)')
    .option('--cluster <dir>', 'read every address from <dir>/cluster.json (written by `tandem up`)');
}

export function clientFrom(flags: ClientFlags): TandemClient {
  const common = {
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags.deadlineMs ? { deadlineMs: Number(flags.deadlineMs) } : {}),
  };
  const target = clusterTarget(flags);
  if (!target) throw new TandemError('INVALID_ARGUMENT', 'say where the cluster is: --cluster DIR, --adapter HOST:PORT[,…], --zk CONNECT/chroot or --master HOST:PORT');
  if (target.kind === 'adapters') {
    const { shardMaps: _maps, ...found } = throughAdapters(target.adapters);
    return new TandemClient({ ...found, ...common });
  }
  if (target.kind === 'zk') {
    return zooKeeperClient(coordinatorFactory(target.zk), common);
  }
  return new TandemClient({ masters: target.masters, ...common });
}

/** A client that finds every shard's active (and the pool map) through ZooKeeper sessions made by `connect`. */
export function zooKeeperClient(connect: () => Promise<Coordinator>, opts: Omit<TandemClientOptions, 'resolver' | 'fms' | 'masters'> = {}): TandemClient {
  return new TandemClient({
    resolver: new ZooKeeperResolver(connect),
    fms: {
      poolMap: () => withSession(connect, readPoolMap),
      target: (shard) => ({ resolver: new ZooKeeperResolver(connect, shard) }),
    },
    ...opts,
  });
}

/** Runs a command body; a TandemError becomes one readable line on stderr and exit code 1. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof TandemError) {
      process.stderr.write(`tandem: ${err.code}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

/** Runs a command body with a client that is closed afterwards, errors as runCommand prints them. */
export function withClient(flags: ClientFlags, body: (client: TandemClient) => Promise<void>): Promise<void> {
  return runCommand(async () => {
    const client = clientFrom(flags);
    try {
      await body(client);
    } finally {
      client.close();
    }
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

export function parsePositiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new TandemError('INVALID_ARGUMENT', `${what} must be a positive integer, got "${text}"`);
  return n;
}

export function parseNonNegativeInt(text: string, what: string): number {
  return text === '0' ? 0 : parsePositiveInt(text, what);
}
