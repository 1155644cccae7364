// A whole Tandem cluster of real processes for data-path tests: a real ZooKeeper, the pool
// map formatted, the namespace shard, FMS shards (each an active and standbys), datanodes,
// adapters — each a `tandem` child process, so a test can SIGKILL any of them.
// Everything started is stopped by PID when the test file ends, whatever happened. Every
// master, monitor and datanode is given the cluster's secret file (--secret-file), as `tandem up` does.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { TandemClient } from '../../src/client/tandem-client.js';
import { ZooKeeperResolver } from '../../src/client/zk-resolver.js';
import { throughAdapters, type AdapterShardMaps, type AdapterShardMapsOptions } from '../../src/client/adapter-resolver.js';
import { startAdapterProcess, startDatanodeProcess, startMasterProcess, type MasterProcess } from '../../src/cluster/master-process.js';
import type { ZooKeeperServer } from '../../src/cluster/zookeeper-process.js';
import type { Coordinator } from '../../src/election/coordinator.js';
import { shardPaths, type ActiveInfo } from '../../src/election/layout.js';
import { formatPoolMap, readPoolMap, type PoolMap } from '../../src/election/pool-map.js';
import { connectZooKeeper } from '../../src/election/zk-coordinator.js';
import { LazySession } from '../../src/election/lazy-session.js';
import { TandemError } from '../../src/errors.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from './temp.js';
import { testSecretFile } from './secret.js';
import { testZooKeeper, waitFor } from './zookeeper.js';

const CHROOT = '/tandem/test';
const AUTH = { user: 'tandem', password: 'data-test' };
const ZK_AUTH = `${AUTH.user}:${AUTH.password}`;

/**
 * FMS: how long a copy handed out may take to land in these clusters (the product's default
 * is 5 min). A copy that fails is reported by its datanode and scheduled again at once; this
 * only covers one that goes missing without a word (a datanode killed while copying).
 */
const PENDING_REPLICATION_TIMEOUT_MS = 15_000;

export interface DataClusterOptions {
  /** Members of the namespace shard (default 1). */
  nsMembers?: number;
  /** FMS shards (default 1) and members of each (default 2: an active and a standby). */
  fmsShards?: number;
  fmsMembers?: number;
  datanodes?: number;
  pools?: number;
  sessionTimeoutMs?: number;
  /** FMS: a silent datanode is dead after this long (default 3 s here). */
  heartbeatDeadlineMs?: number;
  /** NS and FMS: a writer's lease runs out after this long (default: the product's, 1 h). */
  leaseLimitMs?: number | null;
  /** Adapters (`tandem adapter`, default 0), started after the datanodes. */
  adapters?: number;
  /** FMS: a copy not reported within this long is scheduled again (default 15 s here). */
  pendingReplicationTimeoutMs?: number;
}

export interface ClusterMember {
  shard: string;
  name: string;
  dir: string;
  log: string;
  process: MasterProcess;
}

export interface ClusterDatanode {
  id: string;
  dir: string;
  log: string;
  process: MasterProcess;
}

export interface ClusterAdapter {
  id: string;
  log: string;
  process: MasterProcess;
  /** HOST:PORT of its RPC server (the shard map). */
  rpc: string;
  /** HOST:PORT of its HTTP server (/status, /shards, WebHDFS, dashboard). */
  http: string;
}

const running = new Set<MasterProcess>();
after(async () => {
  await Promise.all([...running].map((p) => p.kill9().catch(() => undefined)));
});

export class DataCluster {
  readonly members: ClusterMember[] = [];
  readonly datanodes: ClusterDatanode[] = [];
  /**
   * The test's own session, made again after it expires: its timeout is the cluster's short
   * one, and on a loaded machine it can expire between two reads of a wait.
   */
  private session = new LazySession(() => this.connect(), () => undefined);
  readonly adapters: ClusterAdapter[] = [];
  private readonly shardMaps = new WeakMap<TandemClient, AdapterShardMaps>();

  private constructor(
    readonly zk: ZooKeeperServer,
    readonly base: string,
    readonly poolMap: PoolMap,
    private readonly opts: Required<DataClusterOptions>,
    /** The cluster secret's file, given to every master and datanode. */
    readonly secretFile: string,
  ) {}

  static async start(options: DataClusterOptions = {}): Promise<DataCluster> {
    const opts: Required<DataClusterOptions> = {
      nsMembers: 1,
      fmsShards: 1,
      fmsMembers: 2,
      datanodes: 3,
      pools: 4,
      sessionTimeoutMs: 2_000,
      heartbeatDeadlineMs: 3_000,
      leaseLimitMs: null,
      adapters: 0,
      pendingReplicationTimeoutMs: PENDING_REPLICATION_TIMEOUT_MS,
      ...options,
    };
    const zk = await testZooKeeper();
    const base = await tempDir();
    const shards = Array.from({ length: opts.fmsShards }, (_, k) => `fms-${k}`);
    const cluster = new DataCluster(zk, base, { pools: opts.pools, shards }, opts, await testSecretFile(base));
    const session = await cluster.coordinator();
    await formatPoolMap(session, cluster.poolMap);
    // Actives first (each shard's first member wins its election), then the standbys.
    for (let i = 0; i < opts.nsMembers; i++) await cluster.startMember('ns', `m${i + 1}`);
    for (const shard of shards) for (let i = 0; i < opts.fmsMembers; i++) await cluster.startMember(shard, `m${i + 1}`);
    for (let i = 0; i < opts.datanodes; i++) await cluster.startDatanode(`dn${i + 1}`);
    for (let i = 0; i < opts.adapters; i++) await cluster.startAdapter(`a${i + 1}`);
    return cluster;
  }

  get zkAddress(): string {
    return `${this.zk.connect}${CHROOT}`;
  }

  get zkAuth(): string {
    return ZK_AUTH;
  }

  connect = (): Promise<Coordinator> =>
    connectZooKeeper({ address: { connect: this.zk.connect, chroot: CHROOT }, auth: AUTH, sessionTimeoutMs: this.opts.sessionTimeoutMs, log: silentLogger() });

  /** One session for the test's own reads (closed by stop()). */
  coordinator(): Promise<Coordinator> {
    return this.session.get();
  }

  /** Starts a master; `secretFile` replaces the cluster's (null: none), for tests of wrong secrets. */
  async startMember(shard: string, name: string, secretFile: string | null = this.secretFile): Promise<ClusterMember> {
    const dir = join(this.base, shard, name);
    await mkdir(dir, { recursive: true });
    const log = join(this.base, `${shard}-${name}.log`);
    const extraArgs = ['--zk', this.zkAddress, '--zk-auth', ZK_AUTH, '--session-timeout-ms', String(this.opts.sessionTimeoutMs), '--superuser', 'root'];
    if (secretFile !== null) extraArgs.push('--secret-file', secretFile);
    if (shard !== 'ns') extraArgs.push('--heartbeat-deadline-ms', String(this.opts.heartbeatDeadlineMs));
    // A copy that went missing is scheduled again after this (the product's 5 min would
    // outlast every test's wait).
    if (shard !== 'ns') extraArgs.push('--pending-replication-timeout-ms', String(this.opts.pendingReplicationTimeoutMs));
    if (this.opts.leaseLimitMs !== null) extraArgs.push('--lease-limit-ms', String(this.opts.leaseLimitMs));
    const process = await startMasterProcess({ shard, dir, rpc: '127.0.0.1:0', member: name, logFile: log, extraArgs });
    running.add(process);
    const existing = this.members.findIndex((m) => m.shard === shard && m.name === name);
    const member = { shard, name, dir, log, process };
    if (existing >= 0) this.members[existing] = member;
    else this.members.push(member);
    return member;
  }

  /** Starts a datanode; `secretFile` replaces the cluster's (a test of a wrong secret). */
  async startDatanode(id: string, secretFile = this.secretFile): Promise<ClusterDatanode> {
    const dir = join(this.base, 'datanodes', id);
    await mkdir(dir, { recursive: true });
    const log = join(this.base, `${id}.log`);
    const process = await startDatanodeProcess({ id, dir, rpc: '127.0.0.1:0', data: '127.0.0.1:0', zk: this.zkAddress, zkAuth: ZK_AUTH, secretFile, logFile: log });
    running.add(process);
    const existing = this.datanodes.findIndex((d) => d.id === id);
    const datanode = { id, dir, log, process };
    if (existing >= 0) this.datanodes[existing] = datanode;
    else this.datanodes.push(datanode);
    return datanode;
  }

  /**
   * Starts (or restarts, on the same ports when it ran before) adapter `id`. `extraArgs`
   * go to `tandem adapter` (e.g. --sync-interval-ms).
   */
  async startAdapter(id: string, extraArgs: string[] = []): Promise<ClusterAdapter> {
    const log = join(this.base, `adapter-${id}.log`);
    const existing = this.adapters.findIndex((a) => a.id === id);
    const before = existing >= 0 ? this.adapters[existing]! : null;
    const process = await startAdapterProcess({
      id,
      rpc: before?.rpc ?? '127.0.0.1:0',
      http: before?.http ?? '127.0.0.1:0',
      zk: this.zkAddress,
      zkAuth: ZK_AUTH,
      logFile: log,
      extraArgs,
    });
    running.add(process);
    const adapter = { id, log, process, rpc: process.rpc, http: process.http! };
    if (existing >= 0) this.adapters[existing] = adapter;
    else this.adapters.push(adapter);
    return adapter;
  }

  /** A client that finds every shard through adapters (default: every adapter of the cluster), as the CLI's --adapter does. */
  adapterClient(opts: { user?: string; deadlineMs?: number; adapters?: string[]; resolver?: Partial<Omit<AdapterShardMapsOptions, 'adapters'>> } = {}): TandemClient {
    const adapters = opts.adapters ?? this.adapters.map((a) => a.rpc);
    const { shardMaps, ...found } = throughAdapters(adapters, opts.resolver ?? {});
    const client = new TandemClient({ ...found, user: opts.user ?? 'root', deadlineMs: opts.deadlineMs ?? 30_000, backoff: { baseMs: 20, capMs: 500 } });
    this.shardMaps.set(client, shardMaps);
    return client;
  }

  /** The adapter list and shard map behind a client of adapterClient (its order, cache and stats). */
  shardMapsOf(client: TandemClient): AdapterShardMaps {
    const maps = this.shardMaps.get(client);
    if (!maps) throw new Error('not a client made by adapterClient()');
    return maps;
  }

  /** A client that finds every shard through ZooKeeper, as the CLI's --zk does. */
  client(user = 'root', deadlineMs = 30_000): TandemClient {
    return new TandemClient({
      resolver: new ZooKeeperResolver(this.connect),
      fms: {
        poolMap: async () => readPoolMap(await this.coordinator()),
        target: (shard) => ({ resolver: new ZooKeeperResolver(this.connect, shard) }),
      },
      user,
      deadlineMs,
      backoff: { baseMs: 20, capMs: 500 },
    });
  }

  /** The member ZooKeeper names active of `shard` now, or null. */
  async active(shard: string): Promise<ClusterMember | null> {
    const read = async () => (await this.coordinator()).get<ActiveInfo>(shardPaths(shard).active);
    // A read that met the session's expiry is made again on the next session.
    const node = await read().catch((err: unknown) => {
      if (err instanceof TandemError && err.code === 'COORDINATOR_SESSION_EXPIRED') return read();
      throw err;
    });
    if (!node) return null;
    return this.members.find((m) => m.shard === shard && m.name === node.data.member) ?? null;
  }

  async waitForActive(shard: string, not: ClusterMember | null = null, timeoutMs = 20_000): Promise<ClusterMember> {
    let found: ClusterMember | null = null;
    await waitFor(
      `an active of ${shard}${not ? ` other than ${not.name}` : ''}`,
      async () => {
        found = await this.active(shard);
        return found !== null && found !== not && found.process.child.exitCode === null;
      },
      timeoutMs,
      50,
    );
    return found!;
  }

  /** Waits until every FMS shard's active hears `count` live datanodes. */
  async waitForLiveDatanodes(count = this.datanodes.length, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${count} datanodes heard by every FMS active`, async () => {
      for (const shard of this.poolMap.shards) {
        const active = await this.active(shard);
        if (!active || (await this.status(active)).liveDatanodes !== count) return false;
      }
      return true;
    }, timeoutMs, 100);
  }

  /** Waits until every member of `shard`, standbys included, hears `count` live datanodes (a standby must, to take over). */
  async waitForDatanodesHeardByMembers(shard: string, count = this.datanodes.length, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${count} datanodes heard by every member of ${shard}`, async () => {
      for (const member of this.members.filter((m) => m.shard === shard)) {
        if ((await this.status(member)).liveDatanodes !== count) return false;
      }
      return true;
    }, timeoutMs, 100);
  }

  /** The master's `admin.status` through a client of its shard. */
  async status(member: ClusterMember): Promise<Record<string, unknown>> {
    const client = new TandemClient({ masters: [member.process.rpc], user: 'root', deadlineMs: 5_000 });
    try {
      return await client.status();
    } finally {
      client.close();
    }
  }

  /** Lines of a process's log that contain `text`. */
  async logLines(file: string, text: string): Promise<string[]> {
    const content = await readFile(file, 'utf8').catch(() => '');
    return content.split('\n').filter((line) => line.includes(text));
  }

  async stop(): Promise<void> {
    await this.session.close().catch(() => undefined);
    this.session = new LazySession(() => this.connect(), () => undefined);
    for (const a of this.adapters) await a.process.stop(5_000).catch(() => undefined);
    for (const d of this.datanodes) await d.process.stop(5_000).catch(() => undefined);
    for (const m of this.members) await m.process.stop(5_000).catch(() => undefined);
  }
}

/**
 * A cluster for a whole test file: started before its tests (ready once every FMS active
 * hears every datanode), handed over with a client through `ready`, stopped after them.
 */
export function useDataCluster(options: DataClusterOptions, ready: (cluster: DataCluster, client: TandemClient) => void): void {
  let cluster: DataCluster | null = null;
  let client: TandemClient | null = null;
  before(async () => {
    cluster = await DataCluster.start(options);
    client = cluster.client();
    await cluster.waitForLiveDatanodes();
    ready(cluster, client);
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });
}

/** Ids of the finalized blocks in a datanode's directory (the data files, not their .meta). */
export async function finalizedBlockIds(datanodeDir: string): Promise<string[]> {
  const names = await readdir(join(datanodeDir, 'finalized')).catch(() => [] as string[]);
  return names.filter((n) => !n.endsWith('.meta'));
}
