// `tandem admin checkpoint | safemode | verify | backup | restore | decommission`: the
// day-2 operations on every shard (ns and each FMS shard; `--shard S` for one). The
// logic lives in src/admin/; this file parses flags and prints.

import type { Command } from 'commander';
import os from 'node:os';
import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { TandemError } from '../errors.js';
import { clusterOptions, printJson, runCommand, withClient, type ClientFlags } from './common.js';
import { coordinatorFactory, operatorSecret, readClusterFile, withSession, zooKeeperTarget } from './cluster-address.js';
import type { Coordinator } from '../election/coordinator.js';
import { callMember, clusterShards, membersOf, readShardRegistry, selectShards } from '../admin/shards.js';
import { backup, readManifest, restore } from '../admin/backup.js';
import { readPoolMap } from '../election/pool-map.js';
import type { ActiveInfo } from '../election/layout.js';
import type { VerifyReport } from '../master/verify.js';
import { decommissionStatus, setDecommission, waitForDecommission } from '../admin/decommission.js';
import { table } from '../admin/cluster-status.js';

interface OpsFlags extends ClientFlags {
  json?: boolean;
  shard?: string;
}

/** Runs `body` with a ZooKeeper session (admin operations find members there). */
export async function withZooKeeper<T>(flags: ClientFlags, body: (coordinator: Coordinator) => Promise<T>): Promise<T> {
  const zk = zooKeeperTarget(flags);
  if (!zk) throw new TandemError('INVALID_ARGUMENT', 'admin operations find every shard in ZooKeeper: give --zk CONNECT/chroot or --cluster DIR');
  return withSession(coordinatorFactory(zk), body);
}

const SHARD_OPTION = ['--shard <shard>', 'one shard (ns, fms-0, …); default: every shard'] as const;

/** The cluster flags plus --user (who asks: logged with safe mode and verify runs). */
function opsOptions(command: Command): Command {
  return clusterOptions(command).option('--user <name>', 'who asks (default: you)');
}

export function registerAdminOps(admin: Command): void {
  opsOptions(admin.command('checkpoint').description("a standby writes an image now and uploads it to its active; prints the image's txid"))
    .option(...SHARD_OPTION)
    .option('--json', 'print JSON')
    .action((flags: OpsFlags) =>
      runCommand(() =>
        withZooKeeper(flags, async (zk) => {
          const { shards, registry } = await readShardRegistry(zk, flags.shard);
          const results = [];
          for (const shard of shards) {
            const active = (registry.shards[shard]!.active.current as ActiveInfo | null)?.member;
            const standby = membersOf(registry, shard).find((m) => m.member !== active);
            if (!standby) throw new TandemError('NOT_IN_SYNC', `shard ${shard} has no standby to checkpoint (use admin save-namespace on a lone active)`);
            const r = await callMember<{ txid: number; bytes: number; uploaded: boolean }>(standby.rpc, 'admin.checkpoint', {}, 600_000);
            results.push({ shard, member: standby.member, ...r });
            if (!flags.json) process.stdout.write(`${shard}: ${standby.member} wrote image ${r.txid} (${r.bytes} bytes), ${r.uploaded ? 'uploaded to' : 'already at'} the active\n`);
          }
          if (flags.json) printJson(results);
        }),
      ),
    );

  opsOptions(admin.command('safemode').description('manual safe mode: mutations refused (SAFE_MODE), reads served; replicated, so it survives a failover').argument('<action>', 'get | enter | leave'))
    .option(...SHARD_OPTION)
    .option('--json', 'print JSON')
    .action((action: string, flags: OpsFlags) =>
      withClient(flags, async (client) => {
        if (action !== 'get' && action !== 'enter' && action !== 'leave') throw new TandemError('INVALID_ARGUMENT', `safemode: get, enter or leave, not "${action}"`);
        const shards = await withZooKeeper(flags, async (zk) => selectShards(await clusterShards(zk), flags.shard));
        const results = [];
        for (const shard of shards) {
          const r = await client.activeOf(shard).call<{ manual: { by: string; txid: number } | null; automatic: { on: boolean; progress: string } | null; txid?: number }>(
            'admin.safeMode',
            // Safe to retry: enter and leave are idempotent.
            { action, by: flags.user ?? os.userInfo().username },
          );
          results.push({ shard, ...r });
          if (!flags.json) {
            const manual = r.manual ? `ON (manual, entered by ${r.manual.by} at txid ${r.manual.txid})` : 'off';
            const automatic = r.automatic?.on ? `; automatic ON (${r.automatic.progress})` : '';
            process.stdout.write(`${shard}: safe mode ${manual}${automatic}\n`);
          }
        }
        if (flags.json) printJson(results);
      }),
    );

  opsOptions(admin.command('verify').description("compare the digests of every shard's active and standbys at one txid; a standby that disagrees re-bootstraps from the active; exit 1 on a disagreement"))
    .option(...SHARD_OPTION)
    .option('--json', 'print JSON')
    .action((flags: OpsFlags) =>
      withClient(flags, async (client) => {
        const shards = await withZooKeeper(flags, async (zk) => selectShards(await clusterShards(zk), flags.shard));
        const reports: VerifyReport[] = [];
        for (const shard of shards) {
          const r = await client.activeOf(shard).call<VerifyReport>('admin.verify', { by: flags.user ?? os.userInfo().username }, { deadlineMs: 120_000 });
          reports.push(r);
          if (flags.json) continue;
          process.stdout.write(`${shard}: txid ${r.txid}, active ${r.active.member} digest ${r.active.digest.slice(0, 16)}\n`);
          for (const s of r.standbys) {
            const extra = s.rebootstrappedAtTxid !== undefined ? `, re-bootstrapped from image ${s.rebootstrappedAtTxid}` : s.error ? ` (${s.error})` : '';
            process.stdout.write(`  ${s.member.padEnd(8)} ${s.verdict}${s.digest ? ` ${s.digest.slice(0, 16)}` : ''}${extra}\n`);
          }
        }
        if (flags.json) printJson(reports);
        if (reports.some((r) => !r.ok)) process.exitCode = 1;
      }),
    );

  opsOptions(admin.command('backup').description('copy the newest image and every new edit of every shard into DIR (incremental; checksums in DIR/manifest.json)'))
    .requiredOption('--to <dir>', 'the backup directory (made if missing; a second run adds only what is new)')
    .option(...SHARD_OPTION)
    .option('--secret-file <file>', "the cluster secret the image servers ask for (default: $TANDEM_SECRET_FILE, else the one cluster.json names)")
    .option('--json', 'print JSON')
    .action((flags: OpsFlags & { to: string; secretFile?: string }) =>
      withClient(flags, async (client) => {
        const manifest = await withZooKeeper(flags, async (zk) => {
          const { shards, registry } = await readShardRegistry(zk, flags.shard);
          const sources = shards.map((shard) => {
            const active = registry.shards[shard]!.active.current as ActiveInfo | null;
            if (!active?.http) throw new TandemError('NOT_ACTIVE', `shard ${shard} has no active now`);
            return { shard, http: active.http, rollEdits: () => client.activeOf(shard).call<{ committedTxid: number }>('admin.rollEdits', {}) };
          });
          return backup(flags.to, sources, await readPoolMap(zk), await operatorSecret(flags));
        });
        const run = manifest.runs.at(-1)!;
        if (flags.json) return printJson(run);
        process.stdout.write(`backup in ${flags.to} (run ${manifest.runs.length}):\n`);
        process.stdout.write(
          table(
            ['shard', 'images copied', 'edits copied', 'bytes copied', 'backed up to txid'],
            Object.entries(run.shards).map(([s, c]) => [s, c.imagesCopied, c.recordsCopied, c.bytesCopied, c.lastTxid]),
          ) + '\n',
        );
      }),
    );

  admin
    .command('restore')
    .description("write a backup into a new cluster's empty storage directories (before its masters start)")
    .requiredOption('--from <dir>', 'the backup directory')
    .requiredOption('--to <clusterDir>', 'the cluster directory: member dirs from its cluster.json, else <clusterDir>/<shard>/<member>')
    .option('--members <names>', 'member directories per shard when there is no cluster.json', 'm1,m2,m3')
    .option('--json', 'print JSON')
    .action((flags: { from: string; to: string; members: string; json?: boolean }) =>
      runCommand(async () => {
        const manifest = await readManifest(flags.from);
        if (!manifest) throw new TandemError('INVALID_ARGUMENT', `${flags.from} is not a backup (no manifest.json)`);
        const targets = restoreTargets(flags.to, Object.keys(manifest.shards), flags.members.split(',').filter(Boolean));
        const result = await restore(flags.from, targets);
        if (flags.json) return printJson(result);
        for (const [shard, r] of Object.entries(result)) {
          process.stdout.write(`${shard}: image ${r.imageTxid ?? '-'} and edits to txid ${r.lastTxid} written into ${r.members} member directories\n`);
        }
        if (manifest.poolMap) process.stdout.write(`the cluster must be formatted with the same pool map: ${manifest.poolMap.pools} pools over ${manifest.poolMap.shards.join(', ')}\n`);
      }),
    );

  opsOptions(admin.command('decommission').description('move every replica off a datanode (it keeps serving reads meanwhile), then mark it decommissioned').argument('[datanode]', 'the datanode id (dn1, …)'))
    .option('--status', 'only show the progress of every decommission')
    .option('--cancel', 'put the datanode back in service')
    .option('--no-wait', 'return once the request is recorded')
    .option('--timeout-ms <ms>', 'how long to wait for the moves', '3600000')
    .option('--json', 'print JSON')
    .action((datanode: string | undefined, flags: OpsFlags & { status?: boolean; cancel?: boolean; wait: boolean; timeoutMs: string }) =>
      withClient(flags, async (client) => {
        await withZooKeeper(flags, async (zk) => {
          if (!flags.status) {
            if (!datanode) throw new TandemError('INVALID_ARGUMENT', 'decommission: name the datanode (or --status)');
            await setDecommission(zk, datanode, !flags.cancel);
            if (!flags.json) process.stdout.write(flags.cancel ? `${datanode} is back in service\n` : `${datanode}: decommission requested\n`);
          }
          if (!flags.status && !flags.cancel && flags.wait && datanode) {
            await waitForDecommission(zk, client, datanode, Number(flags.timeoutMs), (line) => {
              if (!flags.json) process.stdout.write(line + '\n');
            });
          }
          const status = await decommissionStatus(zk, client);
          if (flags.json) return printJson(status);
          if (flags.status) {
            if (status.length === 0) return void process.stdout.write('no datanode is being decommissioned\n');
            process.stdout.write(table(['datanode', 'state', 'replicas there', 'blocks waiting', 'stuck'], status.map((s) => [s.datanode, s.state, s.replicas, s.waiting, s.stuck])) + '\n');
          }
        });
      }),
    );
}

/** shard → member storage dirs: from cluster.json when the directory has one, else <dir>/<shard>/<member>. */
function restoreTargets(clusterDir: string, shards: string[], members: string[]): Record<string, string[]> {
  if (existsSync(join(clusterDir, 'cluster.json'))) {
    const file = readClusterFile(clusterDir);
    return Object.fromEntries(shards.map((s) => [s, (file.shards[s]?.members ?? []).map((m) => m.dir)]));
  }
  return Object.fromEntries(
    shards.map((s) => {
      const existing = existsSync(join(clusterDir, s)) ? readdirSync(join(clusterDir, s)) : [];
      return [s, (existing.length > 0 ? existing : members).map((m) => join(clusterDir, s, m))];
    }),
  );
}
