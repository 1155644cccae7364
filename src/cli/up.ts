// `tandem up` (`npm run up`): a whole local cluster in the foreground — a ZooKeeper server
// (Debian's package, its own data dir, loopback), the namespace shard with one active and
// two standbys, two file-metadata shards (an active and a standby each), every master with
// its monitor, three datanodes, two adapters, and a supervisor that restarts a process that dies (a
// master rejoins as a standby). Prints a live table of the shard, writes cluster.json with every address and
// PID, gives every process the cluster secret (DIR/cluster-secret, mode 0600, made once), and stops
// everything on Ctrl-C or SIGTERM. All state lives in --dir, so a second
// `up` on the same dir resumes the same cluster (ZooKeeper's data included).
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sleep } from '../client/backoff.js';
import { CLI_ENTRY, startAdapterProcess, startDatanodeProcess, startMasterProcess, type MasterProcess } from '../cluster/master-process.js';
import { formatPoolMap } from '../election/pool-map.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { startZooKeeper, type ZooKeeperServer } from '../cluster/zookeeper-process.js';
import { TandemError } from '../errors.js';
import { connectZooKeeper } from '../election/zk-coordinator.js';
import { silentLogger } from '../util/log.js';
import { DEFAULT_SESSION_TIMEOUT_MS, type ClusterFile } from './cluster-address.js';
import { parseNonNegativeInt, parsePositiveInt } from './common.js';
import { readRegistry } from '../election/registry.js';
import { callMember } from '../admin/shards.js';
import { writeNewSecretFile } from '../security/cluster-secret.js';

interface UpFlags {
  dir: string;
  port: string;
  zkPort: string;
  standbys: string;
  fmsShards: string;
  fmsStandbys: string;
  datanodes: string;
  pools: string;
  adapters: string;
}

interface AdapterMember {
  id: string;
  rpc: string;
  http: string;
  log: string;
  process: MasterProcess | null;
}

interface Datanode {
  id: string;
  rpc: string;
  data: string;
  dir: string;
  log: string;
  process: MasterProcess | null;
}

const CHROOT = '/tandem/local';
/** tickTime 1000 ms: ZooKeeper then accepts session timeouts of 2–20 s, so the default 3 s fits. */
const ZK_TICK_MS = 1_000;

interface Member {
  shard: string;
  name: string;
  rpc: string;
  dir: string;
  log: string;
  process: MasterProcess | null;
  monitor: ChildProcess | null;
}

/** Starts `tandem monitor` beside a master; its log lines go to `logFile`. */
function spawnMonitor(m: Member, zkAddress: string, zkAuth: string, secretFile: string, logFile: string): ChildProcess {
  const out = openSync(logFile, 'a');
  const args = [CLI_ENTRY, 'monitor', '--shard', m.shard, '--member', m.name, '--dir', m.dir, '--zk', zkAddress, '--zk-auth', zkAuth, '--secret-file', secretFile];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  return child;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start a local cluster (ZooKeeper, the namespace shard, FMS shards, datanodes) in the foreground; Ctrl-C stops it')
    .option('--dir <dir>', 'where all cluster state lives', '.tandem')
    .option('--port <port>', 'RPC port of the first master (the others take the next ones)', '7070')
    .option('--zk-port <port>', 'ZooKeeper client port', '2181')
    .option('--standbys <n>', 'standbys of the namespace shard', '2')
    .option('--fms-shards <n>', 'file-metadata shards (0: a cluster of names only, no data path)', '2')
    .option('--fms-standbys <n>', 'standbys of each file-metadata shard', '1')
    .option('--datanodes <n>', 'datanodes (at most 10)', '3')
    .option('--pools <n>', 'pools, fixed when the cluster is first formatted', '8')
    .option('--adapters <n>', 'adapters (at most 10): the shard map for clients, /status, the dashboard', '2')
    .action(async (flags: UpFlags) => {
      // Every count first: a bad flag stops `up` before it starts anything.
      const nsStandbys = parseNonNegativeInt(flags.standbys, '--standbys');
      const fmsShardCount = parseNonNegativeInt(flags.fmsShards, '--fms-shards');
      const fmsStandbys = parseNonNegativeInt(flags.fmsStandbys, '--fms-standbys');
      const datanodeTotal = countOfTen(flags.datanodes, '--datanodes', '+ 50… and + 60…');
      const adapterTotal = countOfTen(flags.adapters, '--adapters', '+ 70… and + 80…');
      const dir = resolve(flags.dir);
      await mkdir(dir, { recursive: true });
      const say = (line: string): void => void process.stdout.write(line + '\n');
      const secretFile = join(dir, 'zk-secret');
      if (!existsSync(secretFile)) await writeFile(secretFile, randomBytes(18).toString('base64url') + '\n', { mode: 0o600 });
      const zkAuth = `tandem:${readFileSync(secretFile, 'utf8').trim()}`;
      // The cluster secret of internal endpoints (docs/architecture.md, "Security"): made once, kept across restarts.
      const clusterSecretFile = join(dir, 'cluster-secret');
      if (!existsSync(clusterSecretFile)) await writeNewSecretFile(clusterSecretFile);

      say(`starting ZooKeeper on 127.0.0.1:${flags.zkPort} (data in ${join(dir, 'zk')})`);
      const zk: ZooKeeperServer = await startZooKeeper({ dir: join(dir, 'zk'), port: parsePositiveInt(flags.zkPort, '--zk-port'), tickTimeMs: ZK_TICK_MS });
      const zkAddress = `${zk.connect}${CHROOT}`;
      const basePort = parsePositiveInt(flags.port, '--port');
      // Ports: ns from --port, fms-<k> from --port + 10·(k+1), datanodes from --port + 50 (rpc)
      // and + 60 (data), adapters from --port + 70 (rpc) and + 80 (http).
      const shardMembers = (shard: string, count: number, firstPort: number): Member[] =>
        Array.from({ length: count }, (_, i) => ({
          shard,
          name: `m${i + 1}`,
          rpc: `127.0.0.1:${firstPort + i}`,
          dir: join(dir, shard, `m${i + 1}`),
          log: join(dir, `${shard}-m${i + 1}.log`),
          process: null,
          monitor: null,
        }));
      const fmsShards = Array.from({ length: fmsShardCount }, (_, k) => `fms-${k}`);
      const members: Member[] = [
        ...shardMembers('ns', 1 + nsStandbys, basePort),
        ...fmsShards.flatMap((shard, k) => shardMembers(shard, 1 + fmsStandbys, basePort + 10 * (k + 1))),
      ];
      const datanodes: Datanode[] = Array.from({ length: datanodeTotal }, (_, i) => ({
        id: `dn${i + 1}`,
        rpc: `127.0.0.1:${basePort + 50 + i}`,
        data: `127.0.0.1:${basePort + 60 + i}`,
        dir: join(dir, 'datanodes', `dn${i + 1}`),
        log: join(dir, `dn${i + 1}.log`),
        process: null,
      }));
      const adapters: AdapterMember[] = Array.from({ length: adapterTotal }, (_, i) => ({
        id: `a${i + 1}`,
        rpc: `127.0.0.1:${basePort + 70 + i}`,
        http: `127.0.0.1:${basePort + 80 + i}`,
        log: join(dir, `adapter-a${i + 1}.log`),
        process: null,
      }));
      {
        // Format once: the pool map is kept (and a different one refused) on every later start.
        const session = await connectZooKeeper({ address: { connect: zk.connect, chroot: CHROOT }, auth: { user: 'tandem', password: zkAuth.slice('tandem:'.length) }, sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS, log: silentLogger() });
        try {
          if (fmsShards.length > 0) {
            const map = await formatPoolMap(session, { pools: parsePositiveInt(flags.pools, '--pools'), shards: fmsShards });
            say(`pool map: ${map.pools} pools over ${map.shards.join(', ')}`);
          }
        } finally {
          await session.close();
        }
      }
      let stopping = false;
      const startMember = async (m: Member): Promise<void> => {
        await mkdir(m.dir, { recursive: true });
        m.process = await startMasterProcess({
          shard: m.shard,
          dir: m.dir,
          rpc: m.rpc,
          member: m.name,
          logFile: m.log,
          extraArgs: ['--zk', zkAddress, '--zk-auth', zkAuth, '--secret-file', clusterSecretFile, '--session-timeout-ms', String(DEFAULT_SESSION_TIMEOUT_MS)],
        });
      };
      const writeClusterFile = (): Promise<void> => {
        const cluster: ClusterFile = {
          zk: { connect: zk.connect, chroot: CHROOT, pid: zk.pids[0] ?? null, sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS, tickTimeMs: ZK_TICK_MS, dataDir: join(dir, 'zk') },
          zkAuth,
          secretFile: clusterSecretFile,
          shards: Object.fromEntries(
            ['ns', ...fmsShards].map((shard) => [
              shard,
              { members: members.filter((m) => m.shard === shard).map((m) => ({ member: m.name, rpc: m.rpc, pid: m.process?.pid ?? null, dir: m.dir, log: m.log, monitorPid: m.monitor?.pid ?? null })) },
            ]),
          ),
          datanodes: datanodes.map((d) => ({ id: d.id, rpc: d.rpc, data: d.data, pid: d.process?.pid ?? null, dir: d.dir, log: d.log })),
          adapters: adapters.map((a) => ({ id: a.id, rpc: a.rpc, http: a.http, pid: a.process?.pid ?? null, log: a.log })),
          supervisorPid: process.pid,
        };
        return writeFile(join(dir, 'cluster.json'), JSON.stringify(cluster, null, 2) + '\n', { mode: 0o600 });
      };
      // The first member starts alone so it becomes the active; the standbys then join behind it.
      for (const m of members) await startMember(m);
      const monitorLog = (m: Member): string => join(dir, `${m.shard}-${m.name}-monitor.log`);
      const startDatanode = async (d: Datanode): Promise<void> => {
        await mkdir(d.dir, { recursive: true });
        d.process = await startDatanodeProcess({ id: d.id, dir: d.dir, rpc: d.rpc, data: d.data, zk: zkAddress, zkAuth, secretFile: clusterSecretFile, logFile: d.log });
      };
      for (const d of datanodes) await startDatanode(d);
      const startAdapter = async (a: AdapterMember): Promise<void> => {
        a.process = await startAdapterProcess({ id: a.id, rpc: a.rpc, http: a.http, zk: zkAddress, zkAuth, logFile: a.log });
      };
      for (const a of adapters) await startAdapter(a);
      for (const m of members) m.monitor = spawnMonitor(m, zkAddress, zkAuth, clusterSecretFile, monitorLog(m));
      await writeClusterFile();

      const cli = `node ${join(process.cwd(), 'bin', 'tandem.js')}`;
      say(
        [
          '',
          `Tandem is up (state in ${dir}; addresses in ${join(dir, 'cluster.json')}).`,
          `  ZooKeeper        ${zk.connect}   pid ${zk.pids[0]}   chroot ${CHROOT}`,
          ...members.map((m) => `  master ${`${m.shard}/${m.name}`.padEnd(9)} rpc ${m.rpc}   pid ${m.process?.pid}   log ${m.log}   monitor pid ${m.monitor?.pid}`),
          ...datanodes.map((d) => `  datanode ${d.id.padEnd(8)} rpc ${d.rpc}   data ${d.data}   pid ${d.process?.pid}   log ${d.log}`),
          ...adapters.map((a) => `  adapter ${a.id.padEnd(9)} rpc ${a.rpc}   http ${a.http}   pid ${a.process?.pid}   log ${a.log}`),
          '',
          ...(adapters.length > 0 ? [`Dashboard: http://${adapters[0]!.http}/   (status: http://${adapters[0]!.http}/status)`, ''] : []),
          'Talk to it:',
          `  ${cli} fs --cluster ${dir} mkdir /hello`,
          `  ${cli} fs --cluster ${dir} ls /`,
          `  ${cli} fs --cluster ${dir} put ./README.md /hello/README.md`,
          `  ${cli} fs --cluster ${dir} cat /hello/README.md`,
          `  ${cli} bench meta --cluster ${dir} --op create --n 50000 --window 256`,
          `  ${cli} admin status --cluster ${dir}`,
          '',
          'Kill the active master (kill -9 <pid>) to watch a standby take over. Ctrl-C stops the cluster.',
          '',
        ].join('\n'),
      );

      // Restarts in progress: a stop waits for them, so that none starts a process after it.
      const restarts = new Set<Promise<void>>();
      const restarting = (start: Promise<void>): Promise<void> => {
        restarts.add(start);
        return start.finally(() => restarts.delete(start));
      };
      // Supervisor: a process that dies is started again on the same storage (a master
      // rejoins as a standby), with a backoff from 1 s to 30 s while starting fails.
      const keepAlive = async (what: string, child: () => ChildProcess, start: () => Promise<void>, log: string, after: string): Promise<void> => {
        while (!stopping) {
          const running = child();
          if (running.exitCode === null && running.signalCode === null) await new Promise((r) => running.once('exit', r));
          if (stopping) return;
          say(`${what} (pid ${running.pid}) exited (code ${running.exitCode}, signal ${running.signalCode}); restarting it${after} in 1 s`);
          for (let delayMs = 1_000; !stopping; delayMs = Math.min(delayMs * 2, 30_000)) {
            await sleep(delayMs);
            if (stopping) return;
            try {
              await restarting(start());
              await writeClusterFile();
              say(`${what} restarted as pid ${child().pid}`);
              break;
            } catch (err) {
              // A datanode's old ZooKeeper node lives until its old session expires: try again.
              say(`${what} could not restart: ${err instanceof Error ? err.message : String(err)}; see ${log}`);
            }
          }
        }
      };
      const supervise = (m: Member): Promise<void> => keepAlive(`master ${m.shard}/${m.name}`, () => m.process!.child, () => startMember(m), m.log, ' as a standby');
      // Monitors are restarted too: without one, a crash fails over only after the session timeout.
      const superviseMonitor = async (m: Member): Promise<void> => {
        while (!stopping) {
          const child = m.monitor!;
          if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
          if (stopping) return;
          say(`monitor of ${m.name} (pid ${child.pid}) exited (code ${child.exitCode}, signal ${child.signalCode}); restarting it in 1 s`);
          await sleep(1_000);
          if (stopping) return;
          m.monitor = spawnMonitor(m, zkAddress, zkAuth, clusterSecretFile, monitorLog(m));
          await writeClusterFile();
        }
      };
      for (const m of members) {
        void supervise(m);
        void superviseMonitor(m);
      }
      const superviseDatanode = (d: Datanode): Promise<void> => keepAlive(`datanode ${d.id}`, () => d.process!.child, () => startDatanode(d), d.log, '');
      for (const d of datanodes) void superviseDatanode(d);
      for (const a of adapters) void keepAlive(`adapter ${a.id}`, () => a.process!.child, () => startAdapter(a), a.log, '');

      // The live table: printed whenever the shard's picture changes.
      const session = await connectZooKeeper({
        address: { connect: zk.connect, chroot: CHROOT },
        auth: { user: 'tandem', password: zkAuth.slice('tandem:'.length) },
        sessionTimeoutMs: DEFAULT_SESSION_TIMEOUT_MS,
        log: silentLogger(),
      });
      let lastTable = '';
      const table = async (): Promise<void> => {
        const shards = ['ns', ...fmsShards];
        const registry = await readRegistry(session, shards).catch(() => null);
        const lines: string[] = [new Date().toISOString()];
        for (const shard of shards) {
          const shardMembersNow = members.filter((m) => m.shard === shard);
          const statuses = await Promise.all(shardMembersNow.map((m) => memberStatus(m.rpc)));
          const activeTxid = statuses.find((st) => st?.role === 'active')?.appliedTxid;
          lines.push(
            `  shard ${shard}  epoch ${registry?.shards[shard]?.epoch ?? '?'}  in-sync [${registry?.shards[shard]?.isr?.members.join(', ') ?? '?'}]`,
            `    ${'member'.padEnd(8)}${'role'.padEnd(13)}${'epoch'.padEnd(7)}${'txid'.padEnd(12)}${'lag'.padEnd(8)}pid`,
            ...shardMembersNow.map((m, i) => '  ' + memberRow(m, statuses[i] ?? null, activeTxid)),
          );
        }
        if (adapters.length > 0) lines.push(`  adapters ${adapters.map((a) => `${a.id}:${a.process && a.process.child.exitCode === null ? 'up' : 'down'}`).join(' ')}`);
        lines.push(`  datanodes ${datanodes.map((d) => `${d.id}:${d.process && d.process.child.exitCode === null ? 'up' : 'down'}`).join(' ')}`);
        const text = lines.join('\n');
        // Only a change in roles, epochs or membership reprints the table; txids move all the time.
        const key = lines.slice(1).map((l) => l.replace(/\s+\d+\s+\d+\s+(\d+|-)$/, '')).join('|');
        if (key !== lastTable) {
          lastTable = key;
          say(text);
        }
      };
      const tableTimer = setInterval(() => void table(), 1_000);

      const stop = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        clearInterval(tableTimer);
        say(`${signal}: stopping the cluster`);
        await session.close().catch(() => undefined);
        await Promise.allSettled([...restarts]);
        // Standbys first, so the active's last writes are not held up by a hand-over.
        const roles = await Promise.all(members.map((m) => memberStatus(m.rpc)));
        const actives = members.filter((_, i) => roles[i]?.role === 'active');
        for (const m of members) m.monitor?.kill('SIGTERM');
        for (const a of adapters) await a.process?.stop();
        for (const d of datanodes) await d.process?.stop();
        for (const m of members) if (!actives.includes(m)) await m.process?.stop();
        for (const m of actives) await m.process?.stop();
        await zk.stopAll();
        say('stopped');
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}

/** Datanodes take --port + 50… (rpc) and + 60… (data), adapters + 70… and + 80…: at most ten of each fit. */
function countOfTen(text: string, flag: string, ports: string): number {
  const count = parseNonNegativeInt(text, flag);
  if (count > 10) throw new TandemError('INVALID_ARGUMENT', `${flag} must be at most 10 (their ports are --port ${ports}), got ${count}`);
  return count;
}

function memberRow(m: Member, status: { role: string; epoch: number; appliedTxid: number } | null, activeTxid: number | undefined): string {
  const role = status?.role ?? (m.process?.child.exitCode === null ? 'starting' : 'down');
  const txid = status?.appliedTxid;
  const lag = txid !== undefined && activeTxid !== undefined ? Math.max(0, activeTxid - txid) : undefined;
  return `  ${m.name.padEnd(8)}${role.padEnd(13)}${String(status?.epoch ?? '-').padEnd(7)}${String(txid ?? '-').padEnd(12)}${String(lag ?? '-').padEnd(8)}${m.process?.pid ?? '-'}`;
}

/** A member's own view for the live table; null when it does not answer within half a second. */
function memberStatus(rpc: string): Promise<{ role: string; epoch: number; appliedTxid: number } | null> {
  return callMember<{ role: string; epoch: number; appliedTxid: number }>(rpc, 'admin.status', {}, 500, { clientName: 'tandem up', connectTimeoutMs: 500 }).catch(() => null);
}
