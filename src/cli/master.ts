// `tandem master`: runs one master process of a shard until SIGTERM/SIGINT.
import type { Command } from 'commander';
import os from 'node:os';
import { resolve } from 'node:path';
import { DEFAULT_LIMITS, limitsWith } from '../config/limits.js';
import { TandemError } from '../errors.js';
import { Master } from '../master/master.js';
import { parseHostPort } from '../util/address.js';
import { createLogger } from '../util/log.js';
import { coordinatorFactory, withSession, zooKeeperTarget, type ZooKeeperTarget } from './cluster-address.js';
import { parseNonNegativeInt, parsePositiveInt } from './common.js';
import { startOrExit, stopOnSignals } from './lifecycle.js';
import { DEFAULT_FILE_META_CONFIG } from '../filemeta/config.js';
import { FMS_SHARD_PATTERN, readPoolMap } from '../election/pool-map.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import type { ShardService } from '../master/shard-service.js';
import { createNamespaceService } from '../master/namespace-service.js';
import { createFileMetaService } from '../master/filemeta-service.js';
import { ShardCaller } from '../client/shard-caller.js';
import { ZooKeeperResolver } from '../client/zk-resolver.js';
import { loadSecretOption, SECRET_FILE_HELP } from '../security/cluster-secret.js';

interface MasterFlags {
  shard: string;
  dir: string;
  rpc: string;
  member?: string;
  superuser?: string;
  supergroup?: string;
  logLevel?: string;
  zk?: string;
  zkAuth?: string;
  sessionTimeoutMs?: string;
  commit?: string;
  http?: string;
  heartbeatDeadlineMs?: string;
  leaseLimitMs?: string;
  pendingReplicationTimeoutMs?: string;
  secretFile?: string;
  verifyIntervalMs: string;
}

export function registerMaster(program: Command): void {
  program
    .command('master')
    .description('run a metadata master: of the namespace (ns) or of a file-metadata shard (fms-<n>)')
    .requiredOption('--shard <shard>', 'shard to serve: ns or fms-<n>')
    .requiredOption('--dir <dir>', 'storage directory (journal, images)')
    .option('--rpc <host:port>', 'RPC listen address', '127.0.0.1:7070')
    .option('--http <host:port>', 'image server (HTTP) listen address (default: the RPC host, a free port)')
    .option('--member <name>', 'this member\'s name in its shard (default: <hostname>-<port>)')
    .option('--superuser <user>', 'user that skips permission checks (default: the OS user)')
    .option('--supergroup <group>', 'group whose members skip permission checks', 'supergroup')
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--zk <connect/chroot>', 'ZooKeeper of the cluster: join the shard\'s election as a standby (without it: a single master)')
    .option('--zk-auth <user:password>', 'ZooKeeper digest credentials (default: $TANDEM_ZK_AUTH or the local default)')
    .option('--session-timeout-ms <ms>', 'ZooKeeper session timeout', '3000')
    .option('--secret-file <file>', SECRET_FILE_HELP)
    .option('--heartbeat-deadline-ms <ms>', 'FMS: a datanode silent this long is dead and its blocks are copied elsewhere', String(DEFAULT_FILE_META_CONFIG.heartbeatDeadlineMs))
    .option('--pending-replication-timeout-ms <ms>', 'FMS: a copy handed to a datanode that has not landed after this long is given up and scheduled again', String(DEFAULT_FILE_META_CONFIG.pendingReplicationTimeoutMs))
    .option('--lease-limit-ms <ms>', 'a writer that has not renewed its lease this long loses it: FMS closes its file, then NS (which counts from the file\'s creation)', String(DEFAULT_FILE_META_CONFIG.leaseHardLimitMs))
    .option('--verify-interval-ms <ms>', 'as active, compare every standby\'s state digest with its own this often (0: never; `tandem admin verify` runs it now)', String(DEFAULT_LIMITS.verifyIntervalMs))
    .option('--commit <mode>', 'sync: ack once every in-sync standby has the write; async: after the local fsync only (can lose acknowledged writes on failover)', 'sync')
    .action(async (flags: MasterFlags) => {
      if (flags.shard !== 'ns' && !FMS_SHARD_PATTERN.test(flags.shard)) {
        throw new TandemError('INVALID_ARGUMENT', `--shard must be ns or fms-<n>, got "${flags.shard}"`);
      }
      const { host, port } = parseHostPort(flags.rpc);
      const member = flags.member ?? `${os.hostname()}-${port}`;
      const log = createLogger({ name: `master ${flags.shard}/${member}`, level: flags.logLevel });
      if (flags.commit !== 'sync' && flags.commit !== 'async') throw new TandemError('INVALID_ARGUMENT', `--commit must be sync or async, got "${flags.commit}"`);
      const commitMode = flags.commit;
      const zk = zooKeeperTarget({ ...(flags.zk ? { zk: flags.zk } : {}), ...(flags.zkAuth ? { zkAuth: flags.zkAuth } : {}) });
      if (zk && flags.sessionTimeoutMs) zk.sessionTimeoutMs = Number(flags.sessionTimeoutMs);
      const master = await startOrExit(log, async () => {
        const limits = limitsWith({ verifyIntervalMs: parseNonNegativeInt(flags.verifyIntervalMs, '--verify-interval-ms') });
        const secret = await loadSecretOption(flags.secretFile);
        const service = await serviceFor(flags, zk, limits, log);
        return Master.start({
          service,
          shard: flags.shard,
          member,
          dir: resolve(flags.dir),
          host,
          port,
          ...(flags.http ? { http: flags.http } : {}),
          limits,
          log,
          secret,
          ...(zk ? { ha: { connect: coordinatorFactory(zk, log), commitMode } } : {}),
          onFatal: () => {
            log.flush();
            process.exit(70);
          },
        });
      });
      stopOnSignals(log, () => master.stop());
    });
}

/**
 * The shard's service. With ZooKeeper, the pool map decides: the namespace spreads files
 * over its pools and hands deleted files to their FMS shard; an FMS shard owns its pools.
 */
async function serviceFor(flags: MasterFlags, zk: ZooKeeperTarget | null, limits: Limits, log: Logger): Promise<ShardService> {
  const poolMap = zk ? await withSession(coordinatorFactory(zk, log), readPoolMap) : null;
  const owner = { ...(flags.superuser ? { superuser: flags.superuser } : {}), ...(flags.supergroup ? { supergroup: flags.supergroup } : {}) };
  if (flags.shard === 'ns') {
    if (!zk || !poolMap) return createNamespaceService({ limits, ...owner });
    log.info({ pools: poolMap.pools, shards: poolMap.shards }, `files go to ${poolMap.pools} pools on ${poolMap.shards.join(', ')}`);
    const connect = coordinatorFactory(zk, log);
    const caller = (shard: string): ShardCaller =>
      new ShardCaller({
        label: `shard ${shard}`,
        resolver: new ZooKeeperResolver(connect, shard),
        deadlineMs: 10_000,
        backoff: { baseMs: 50, capMs: 1_000 },
        limits,
        clientName: `tandem-master ns`,
      });
    const leaseLimitMs = flags.leaseLimitMs ? parsePositiveInt(flags.leaseLimitMs, '--lease-limit-ms') : undefined;
    return createNamespaceService({ limits, ...owner, fms: { poolMap, caller }, ...(leaseLimitMs ? { leaseLimitMs } : {}) });
  }
  if (!zk) throw new TandemError('INVALID_ARGUMENT', `a file-metadata shard needs --zk: its pools come from ZooKeeper's /config/pools`);
  if (!poolMap || !poolMap.shards.includes(flags.shard)) {
    throw new TandemError('INVALID_ARGUMENT', `the cluster's pool map (${poolMap ? poolMap.shards.join(', ') : 'none'}) does not name ${flags.shard}`);
  }
  const config = {
    ...(flags.heartbeatDeadlineMs ? { heartbeatDeadlineMs: parsePositiveInt(flags.heartbeatDeadlineMs, '--heartbeat-deadline-ms') } : {}),
    ...(flags.leaseLimitMs ? { leaseHardLimitMs: parsePositiveInt(flags.leaseLimitMs, '--lease-limit-ms') } : {}),
    ...(flags.pendingReplicationTimeoutMs
      ? { pendingReplicationTimeoutMs: parsePositiveInt(flags.pendingReplicationTimeoutMs, '--pending-replication-timeout-ms') }
      : {}),
  };
  return createFileMetaService({ shard: flags.shard, poolMap, limits, config, connect: coordinatorFactory(zk, log), ...owner });
}
