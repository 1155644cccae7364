// `tandem admin …`: operator commands against a running master.
import type { Command } from 'commander';
import { TandemError } from '../errors.js';
import { clientFrom, clusterOptions, printJson, runCommand, withClient, type ClientFlags } from './common.js';
import { runFsck } from '../admin/fsck-driver.js';
import { formatFsckReport } from '../admin/fsck-report.js';
import { clusterTarget, coordinatorFactory, withSession, zooKeeperTarget } from './cluster-address.js';
import type { Registry } from '../election/registry.js';
import { callMember, readShardRegistry } from '../admin/shards.js';
import { AdapterShardMaps } from '../client/adapter-resolver.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import type { AdapterSnapshot } from '../adapter/snapshot.js';
import { poolsOfShard, readPoolMap } from '../election/pool-map.js';
import type { Alert } from '../metrics/alerts.js';
import { registerAdminOps } from './admin-ops.js';
import { formatClusterStatus, gatherClusterStatus } from '../admin/cluster-status.js';

interface AdminFlags extends ClientFlags {
  json?: boolean;
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('operator commands');

  clusterOptions(admin.command('save-namespace').description('write an fsimage now on the active (retention then applies)'))
    .option('--json', 'print JSON')
    .action((flags: AdminFlags) =>
      withClient(flags, async (client) => {
        const saved = await client.saveNamespace();
        if (flags.json) printJson(saved);
        else process.stdout.write(`saved ${saved.file} at txid ${saved.txid}: ${saved.bytes} bytes in ${saved.ms} ms\n`);
      }),
    );

  clusterOptions(admin.command('failover').description('hand the active role of a shard over gracefully').argument('[shard]', 'the shard: ns (default) or an FMS shard (fms-0, …)'))
    .option('--shard <shard>', 'the shard (same as the argument)')
    .option('--user <name>', 'who asks (default: you)')
    .option('--to <member>', 'the standby to hand over to (default: the in-sync standby least behind)')
    .option('--json', 'print JSON')
    .action((shardArgument: string | undefined, flags: AdminFlags & { to?: string; shard?: string }) =>
      withClient(flags, async (client) => {
        const shard = shardArgument ?? flags.shard ?? 'ns';
        // Not retried: a hand-over whose answer was lost must not run again on the new active.
        const r =
          shard === 'ns'
            ? await client.failover(flags.to)
            : await client.activeOf(shard).call<{ from: string; to: string; txid: number; ms: number }>('admin.failover', flags.to === undefined ? {} : { to: flags.to }, { retry: false });
        if (flags.json) printJson(r);
        else process.stdout.write(`handed ${shard} over from ${r.from} to ${r.to} at txid ${r.txid} (${r.ms} ms)\n`);
      }),
    );

  clusterOptions(admin.command('status').description('every shard (members, roles, epoch, txid, lag, in-sync set, safe mode, last image) and datanode; with --master, that master alone'))
    .option('--shard <shard>', 'one shard (default: every shard)')
    .option('--registry', "ZooKeeper's registry as stored (current / lastNotNull per entry)")
    .option('--user <name>', 'who asks (default: you)')
    .option('--json', 'print JSON')
    .action((flags: AdminFlags & { shard?: string; registry?: boolean }) =>
      withClient(flags, async (client) => {
        const zk = zooKeeperTarget(flags);
        if (zk && !flags.registry) {
          // Every member asked for its own view (src/admin/cluster-status.ts), and each active for its alerts.
          const status = await withSession(coordinatorFactory(zk), (session) => gatherClusterStatus(session, flags.shard));
          if (flags.json) return printJson(status);
          return void process.stdout.write(formatClusterStatus(status));
        }
        const target = clusterTarget(flags);
        if (target?.kind === 'adapters') {
          // Only adapters named: an adapter's cache, the registry with how old it is.
          const maps = new AdapterShardMaps({ adapters: target.adapters, limits: DEFAULT_LIMITS, clientName: 'tandem admin status' });
          try {
            const { adapter, answer } = await maps.callAny<AdapterSnapshot>('adapter.status');
            const alerts = await shardAlerts(answer.shards);
            if (flags.json) return printJson({ ...answer, alerts });
            process.stdout.write(`adapter ${answer.adapter} (${adapter}): read ZooKeeper at ${answer.readAt || 'never'}, ${answer.stale ? `STALE, ${answer.ageMs} ms old` : 'fresh'}\n`);
            printRegistry(answer, alerts);
            process.stdout.write(`datanodes ${answer.datanodes.map((d) => d.id).join(' ') || '-'}\n`);
            return;
          } finally {
            maps.close();
          }
        }
        if (zk) {
          // With ZooKeeper: the registry (current / lastNotNull per entry, epoch, ISR, election line).
          const { registry } = await withSession(coordinatorFactory(zk), (session) => readShardRegistry(session));
          const alerts = await shardAlerts(registry.shards);
          if (flags.json) return printJson({ ...registry, alerts });
          printRegistry(registry, alerts);
          return;
        }
        const status = await client.status();
        if (flags.json) return printJson(status);
        for (const line of alertLines(status.alerts as Alert[] | undefined)) process.stdout.write(`${line}\n`);
        for (const [k, v] of Object.entries(status)) {
          if (k === 'alerts') continue;
          process.stdout.write(`${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
        }
      }),
    );

  clusterOptions(
    admin
      .command('fsck')
      .description('check that the namespace and the file-metadata shards agree and that every block has live replicas; exit 0 HEALTHY, 1 CORRUPT, 2 could not check'),
  )
    .option('--repair', 'delete orphans (files only an FMS shard knows) and move files whose data is gone to /lost+found')
    .option('--user <name>', 'who asks: the superuser (default: you)')
    .option('--json', 'print one JSON object')
    .action((flags: AdminFlags & { repair?: boolean }) => fsck(flags));

  clusterOptions(admin.command('pools').description('show which file-metadata shard owns each pool (ZooKeeper /config/pools)'))
    .option('--json', 'print JSON')
    .action((flags: AdminFlags) =>
      runCommand(async () => {
        const target = clusterTarget(flags);
        if (target?.kind !== 'zk' && target?.kind !== 'adapters') {
          throw new TandemError('INVALID_ARGUMENT', 'the pool map lives in ZooKeeper: give --adapter HOST:PORT, --zk CONNECT/chroot or --cluster DIR');
        }
        const maps = target.kind === 'adapters' ? new AdapterShardMaps({ adapters: target.adapters, limits: DEFAULT_LIMITS, clientName: 'tandem admin pools' }) : null;
        const session = target.kind === 'zk' ? await coordinatorFactory(target.zk)() : null;
        try {
          const map = maps ? await maps.poolMap() : await readPoolMap(session!);
          if (flags.json) return printJson(map);
          if (!map) return void process.stdout.write('no pool map: this cluster has no file-metadata shards\n');
          process.stdout.write(`${map.pools} pools over ${map.shards.length} file-metadata shards\n`);
          for (const shard of map.shards) {
            process.stdout.write(`  ${shard.padEnd(8)} pools ${poolsOfShard(map, shard).join(', ')}\n`);
          }
        } finally {
          maps?.close();
          await session?.close();
        }
      }),
    );

  registerAdminOps(admin);
}

/** Each shard's registry entries, with the alerts its active raised (shardAlerts). */
function printRegistry(registry: Pick<Registry, 'shards'>, alerts: Record<string, Alert[] | string>): void {
  for (const [shard, r] of Object.entries(registry.shards)) {
    process.stdout.write(`shard ${shard}: epoch ${r.epoch ?? '-'}, in-sync [${r.isr?.members.join(', ') ?? ''}]\n`);
    for (const line of alertLines(alerts[shard])) process.stdout.write(`  ${line}\n`);
    for (const entry of ['active', 'standby', 'monitor'] as const) {
      const v = r[entry];
      process.stdout.write(`  ${entry.padEnd(8)} current ${JSON.stringify(v.current)}  lastNotNull ${JSON.stringify(v.lastNotNull)}\n`);
    }
    process.stdout.write(`  election ${r.election.map((e) => `${e.node}=${e.member ?? '?'}`).join(' ')}\n`);
  }
}

/** `tandem admin fsck`: the report, and an exit code a script can test (HDFS fsck's: 0 healthy, 1 corrupt). */
async function fsck(flags: AdminFlags & { repair?: boolean }): Promise<void> {
  try {
    const client = clientFrom(flags);
    try {
      const report = await runFsck(client, { repair: flags.repair === true });
      if (flags.json) printJson(report);
      else process.stdout.write(formatFsckReport(report));
      process.exitCode = report.status === 'HEALTHY' ? 0 : 1;
    } finally {
      client.close();
    }
  } catch (err) {
    if (!(err instanceof TandemError)) throw err;
    process.stderr.write(`tandem: ${err.code}: ${err.message}\n`);
    process.exitCode = 2;
  }
}

/**
 * The checkpoint alerts of every shard, as its active judges them (src/metrics/alerts.ts):
 * shard → alerts, or a string saying why the active could not be asked.
 */
async function shardAlerts(shards: Record<string, { active: { current: unknown } }>): Promise<Record<string, Alert[] | string>> {
  const out: Record<string, Alert[] | string> = {};
  await Promise.all(
    Object.entries(shards).map(async ([shard, r]) => {
      const rpc = (r.active.current as { rpc?: unknown } | null)?.rpc;
      if (typeof rpc !== 'string') {
        out[shard] = 'no active';
        return;
      }
      try {
        out[shard] = (await callMember<{ alerts?: Alert[] }>(rpc, 'admin.status', {}, 3_000)).alerts ?? [];
      } catch (err) {
        out[shard] = `could not ask the active at ${rpc}: ${(err as Error).message}`;
      }
    }),
  );
  return out;
}

function alertLines(alerts: Alert[] | string | undefined): string[] {
  if (alerts === undefined) return [];
  if (typeof alerts === 'string') return [`alerts unknown: ${alerts}`];
  return alerts.map((a) => `WARNING ${a.alert}: ${a.message}`);
}
