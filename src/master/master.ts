// One master process of the namespace shard: storage + engine + RPC server + timers.
// `tandem master` (src/cli/master.ts) parses flags and calls startMaster; tests call it
// directly in-process or spawn the CLI.

import { mkdir } from 'node:fs/promises';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import { ReplicationEngine } from '../replication/engine.js';
import { RpcServer } from '../rpc/server.js';
import { createNamespaceService } from './namespace-service.js';
import type { AnyEngine, ServiceHost, ShardService } from './shard-service.js';
import type { Coordinator } from '../election/coordinator.js';
import { truncateStorageAfter } from '../replication/journal-truncate.js';
import { HaMember, type MemberRole } from './ha-member.js';
import type { FastifyInstance } from 'fastify';
import { startImageServer } from '../replication/image-server.js';
import { EpochHistory, saveEpochHistory, type EpochStart } from '../replication/epoch-history.js';
import { imageName, listImages, listSegments, writeFileDurably } from '../replication/storage-layout.js';
import { readFile, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseHostPort } from '../util/address.js';
import { MasterMetrics, type MasterSnapshot } from '../metrics/master-metrics.js';
import { healthRoutes, metricsRoutes, type HealthVerdict } from '../metrics/registry.js';
import { masterHealth } from '../metrics/health.js';
import { checkpointAlerts, type Alert } from '../metrics/alerts.js';
import { checkpointFiguresOf, storageFigures } from '../metrics/checkpoint-figures.js';
import type { GroupCommitObserver } from '../replication/journal-writer.js';
import { memberOfReplica } from '../election/layout.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { performance } from 'node:perf_hooks';

export interface MasterOptions {
  shard: string;
  member: string;
  dir: string;
  host: string;
  port: number;
  limits: Limits;
  log: Logger;
  superuser?: string;
  supergroup?: string;
  /** How often the timer checks whether the in-progress segment is due to roll. */
  rollCheckIntervalMs?: number;
  /** Called when storage fails under the master; the CLI exits the process. */
  onFatal?: (err: Error) => void;
  /** HOST:PORT of the image server (HTTP); default: the RPC host, any free port. */
  http?: string;
  /** The shard's state machine and methods (default: the namespace). */
  service?: ShardService;
  /**
   * The cluster secret. With it, internal calls (the replication stream, datanode
   * heartbeats and reports) and the image server need proof of it; without it they are
   * open to anyone who can reach the ports (a warning says so).
   */
  secret?: ClusterSecret | null;
  /** High availability through ZooKeeper; without it the master serves alone (issue 2's mode). */
  ha?: {
    connect: () => Promise<Coordinator>;
    /** Advertised RPC address for the election node (default: the bound address). */
    advertiseRpc?: string;
    commitMode?: 'sync' | 'async';
  };
}

export interface MasterStatus {
  shard: string;
  member: string;
  role: 'active' | MemberRole;
  rpc: string;
  http: string;
  pid: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** Memory outside the JS heap: Buffers, native allocations. */
  externalBytes: number;
  connections: number;
  /** Whether internal endpoints need the cluster secret here, and how many requests were refused for want of it. */
  clusterSecret: boolean;
  unauthenticatedTotal: number;
  inFlight: number;
  epoch: number;
  appliedTxid: number;
  durableTxid: number;
  imageTxid: number;
  committedTxid: number;
  journal: unknown;
  ha?: ReturnType<HaMember['status']>;
  /** Shard-specific fields (inodes for the namespace, files and blocks for an FMS shard). */
  [field: string]: unknown;
}

type Engine = AnyEngine;

/** Admin methods served by every master. */
export const ADMIN_METHODS = [
  'admin.status',
  'admin.saveNamespace',
  'admin.failover',
  'admin.checkpoint',
  'admin.safeMode',
  'admin.verify',
  'admin.digest',
  'admin.rollEdits',
] as const;

/** A start that replays at least this many edits saves an image right after (see openEngine). */
const START_IMAGE_REPLAYED_MIN = 20_000;

/** `admin.digest` waits at most this long for the member to apply the marker. */
const DIGEST_WAIT_MS_MAX = 30_000;
const DIGEST_POLL_MS = 20;

/** The standby's end of the replication stream (src/master/ha-member.ts). */
export const REPLICATION_METHODS = ['repl.hello', 'repl.append', 'repl.truncate', 'repl.release', 'repl.install', 'repl.tail'] as const;

/**
 * Methods only the cluster's own processes may call (they need proof of the cluster
 * secret): the replication stream, and the `member` methods every member answers — the
 * datanodes' heartbeats and reports, whose replies carry commands. Client-facing methods
 * (ns.*, fms.*) and admin.* stay open: users are identified as in HDFS's simple auth.
 */
export function isInternalMethod(method: string, service: ShardService): boolean {
  return method.startsWith('repl.') || service.methods.get(method) === 'member';
}

export class Master {
  private stopping: Promise<void> | null = null;
  private readonly rollTimer: NodeJS.Timeout;

  private ha: HaMember | null = null;
  private imageServer: FastifyInstance | null = null;
  /** host:port of the image server. */
  httpAddress = '';

  private constructor(
    readonly options: MasterOptions,
    private engineNow: Engine,
    private readonly service: ShardService,
    readonly server: RpcServer,
    readonly address: { host: string; port: number },
    readonly metrics: MasterMetrics,
  ) {
    this.rollTimer = setInterval(() => {
      this.engine.maybeRoll().catch((err: unknown) => this.options.log.error({ err }, 'segment roll failed'));
    }, options.rollCheckIntervalMs ?? 1_000);
    this.rollTimer.unref();
    this.serviceHost = {
      engine: () => this.engineNow,
      isActive: () => this.engineNow.currentRole === 'active' && !this.ha?.handingOver,
      member: options.member,
      log: options.log,
    };
  }

  /** What the shard service sees of this master. */
  private readonly serviceHost: ServiceHost;

  get engine(): Engine {
    return this.engineNow;
  }

  static async start(options: MasterOptions): Promise<Master> {
    const { log, limits } = options;
    await mkdir(options.dir, { recursive: true });
    const service =
      options.service ??
      createNamespaceService({
        limits,
        ...(options.superuser ? { superuser: options.superuser } : {}),
        ...(options.supergroup ? { supergroup: options.supergroup } : {}),
      });
    // The metrics are made before the engine and the server they observe; scrapes reach the master once it exists.
    const bound: { master?: Master } = {};
    const metrics = new MasterMetrics({ shard: options.shard, member: options.member }, () => bound.master!.metricsSnapshot());
    const engine = await Master.openEngine(options, service, metrics.onGroupCommit);
    // The server is built before the Master that handles its calls; no call can arrive before listen().
    const server = new RpcServer({
      handler: (method, args) => bound.master!.handle(method, args),
      methods: new Set<string>([...service.methods.keys(), ...ADMIN_METHODS, ...REPLICATION_METHODS]),
      limits,
      log,
      serverName: `tandem-master ${options.shard}/${options.member}`,
      onCallDone: metrics.onCallDone,
      secret: options.secret ?? null,
      internal: (method) => isInternalMethod(method, service),
      // Reads are answered from memory: more of them per event-loop turn (no fsync to overlap).
      light: (method) => service.methods.get(method) === 'read',
    });
    if (!options.secret) log.warn('no cluster secret (--secret-file): the replication stream, datanode reports and the image server are open to anyone who can reach them');
    let address: { host: string; port: number };
    try {
      address = await server.listen(options.host, options.port);
    } catch (err) {
      await engine.close();
      throw err;
    }
    const master = new Master(options, engine, service, server, address, metrics);
    bound.master = master;
    try {
      const http = options.http ? parseHostPort(options.http) : { host: address.host, port: 0 };
      const started = await startImageServer({
        host: http.host,
        port: http.port,
        imageBytesMax: limits.imageBytesMax,
        log,
        secret: options.secret ?? null,
        member: {
          dir: () => options.dir,
          activeEpoch: () => (master.engineNow.currentRole === 'active' ? master.engineNow.currentEpoch : null),
          durableTxid: () => master.engineNow.durableTxid,
          imageStored: (txid) => master.engineNow.imageStored(txid),
        },
        routes: [metricsRoutes(metrics.metrics), healthRoutes(() => master.health())],
      });
      master.imageServer = started.server;
      master.httpAddress = started.address;
    } catch (err) {
      await master.stop();
      throw err;
    }
    if (options.ha) {
      const ha = new HaMember(
        {
          engine: () => master.engineNow,
          truncateAndReopen: (txid) => master.truncateAndReopen(txid),
          installImage: (bytes, txid, epoch) => master.installImage(bytes, txid, epoch),
        },
        {
          shard: options.shard,
          self: {
            member: options.member,
            rpc: options.ha.advertiseRpc ?? `${address.host}:${address.port}`,
            http: master.httpAddress,
            storageId: await storageIdOf(options.dir),
          },
          limits,
          log,
          connect: options.ha.connect,
          secret: options.secret ?? null,
          ...(options.ha.commitMode ? { commitMode: options.ha.commitMode } : {}),
        },
      );
      master.ha = ha;
      if (options.ha.commitMode === 'async') {
        log.warn('commit mode async: writes are acknowledged after the local fsync only; a failover can LOSE acknowledged writes');
      }
      log.info(
        { shard: options.shard, member: options.member, rpc: `${address.host}:${address.port}`, dir: options.dir },
        `serving shard ${options.shard} as ${options.member} on ${address.host}:${address.port}, joining the election`,
      );
      try {
        await ha.start();
      } catch (err) {
        await master.stop();
        throw err;
      }
    } else {
      log.info(
        { shard: options.shard, member: options.member, rpc: `${address.host}:${address.port}`, dir: options.dir },
        `serving shard ${options.shard} as ${options.member} on ${address.host}:${address.port} (single master, no standby)`,
      );
    }
    service.start?.(master.serviceHost);
    return master;
  }

  private static async openEngine(options: MasterOptions, service: ShardService, onGroupCommit: GroupCommitObserver): Promise<Engine> {
    const { log, limits } = options;
    const engine = (await ReplicationEngine.open({
      dir: options.dir,
      machine: service.machine,
      limits,
      log,
      role: options.ha ? 'follower' : 'standalone',
      onGroupCommit,
      ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    })) as Engine;
    // A start that replayed many edits saves an image of what it replayed (in the background:
    // the snapshot is taken now, the write follows), so the next start does not replay them
    // again. Checkpoints come from standbys every checkpointTxids; a member restarted often
    // (a crash loop, the chaos benchmark) lives too short to take one, and each start
    // replayed ever more: 200k+ edits, 8-16 s on this machine, during which it could not
    // rejoin the in-sync set, so the next kill had no one to take over.
    const replayed = engine.appliedTxidNow - engine.status().imageTxid;
    if (replayed >= START_IMAGE_REPLAYED_MIN) {
      engine.saveImage().then(
        (saved) => log.info({ txid: saved.txid, bytes: saved.bytes, ms: Math.round(saved.ms) }, `saved image ${saved.txid} after replaying ${replayed} edits at start, so the next start begins there`),
        (err: unknown) => log.warn({ err: (err as Error).message }, `could not save an image after the start's replay: ${(err as Error).message}`),
      );
    }
    return engine;
  }

  /**
   * A standby too far behind the active's kept edits starts over from the active's image:
   * close, delete every segment and image here (they are older than what the active keeps),
   * store the image, note its epoch, reopen at its txid. The epoch promise is kept.
   */
  private async installImage(bytes: Buffer, txid: number, epochs: readonly EpochStart[]): Promise<void> {
    const { dir, log } = this.options;
    const promised = this.engineNow.epochHistory().promisedEpoch;
    await this.engineNow.close();
    for (const segment of await listSegments(dir)) await unlink(segment.path);
    for (const image of await listImages(dir)) await unlink(image.path);
    await writeFileDurably(dir, imageName(txid), bytes);
    // The active's epoch starts up to the image: the history the records below it had.
    await saveEpochHistory(dir, new EpochHistory(epochs, promised));
    log.warn({ txid, bytes: bytes.length }, `bootstrapped from the active's image at txid ${txid} (${bytes.length} bytes); older local storage deleted`);
    this.engineNow = await Master.openEngine(this.options, this.service, this.metrics.onGroupCommit);
  }

  /** A standby told by the active to drop its uncommitted tail: close, cut, reopen. */
  private async truncateAndReopen(txid: number): Promise<void> {
    await this.engineNow.close();
    await truncateStorageAfter(this.options.dir, txid, this.options.log);
    this.engineNow = await Master.openEngine(this.options, this.service, this.metrics.onGroupCommit);
  }

  private handle(method: string, args: unknown): Promise<unknown> | unknown {
    if (method.startsWith('repl.')) {
      if (!this.ha) throw new TandemError('NOT_ACTIVE', 'this master runs alone (no --zk): it has no replication stream');
      return this.ha.handleReplication(method, args);
    }
    const kind = this.service.methods.get(method);
    if (kind === 'member') return this.service.handle(method, args, this.serviceHost);
    if (kind !== undefined && this.ha?.handingOver) {
      throw new TandemError('NOT_ACTIVE', `${this.options.member} is handing over to another member`);
    }
    if (kind === 'write') return this.service.handle(method, args, this.serviceHost);
    if (kind === 'read') {
      if (this.ha) {
        if (this.engineNow.currentRole !== 'active') throw new TandemError('NOT_ACTIVE', `${this.options.member} is a standby`);
        // Linearizable reads: only while the in-sync standbys confirm this active's epoch (the lease).
        const confirming = this.ha.confirmEpoch();
        if (confirming) {
          return confirming.then(() => {
            // Still active after the wait? (A hand-over or a deposition may have come in between.)
            if (this.engineNow.currentRole !== 'active' || this.ha?.handingOver) throw new TandemError('NOT_ACTIVE', `${this.options.member} stopped being active`);
            return this.service.handle(method, args, this.serviceHost);
          });
        }
      }
      return this.service.handle(method, args, this.serviceHost);
    }
    switch (method) {
      case 'admin.status':
        // `gc: true` collects garbage first (when node runs with --expose-gc) so RSS means live data.
        if ((args as { gc?: unknown } | null)?.gc === true) (globalThis as { gc?: () => void }).gc?.();
        return this.alerts().then((alerts) => ({ ...this.status(), alerts }));
      case 'admin.saveNamespace':
        return this.engine.saveImage();
      case 'admin.checkpoint':
        // On a standby: save an image now and upload it to the active.
        if (!this.ha) throw new TandemError('NOT_ACTIVE', 'this master runs alone (no --zk): use admin save-namespace');
        return this.ha.checkpointNow();
      case 'admin.safeMode':
        return this.safeMode(args);
      case 'admin.verify':
        if (!this.ha) return { shard: this.options.shard, ...this.engineNow.digestNow(), standbys: [], ok: true };
        return this.ha.verifyNow(typeof (args as { by?: unknown } | null)?.by === 'string' ? (args as { by: string }).by : 'admin');
      case 'admin.digest':
        return this.digestAt(args);
      case 'admin.rollEdits':
        this.requireActive();
        return this.engineNow.rollEdits();
      case 'admin.failover': {
        if (!this.ha) throw new TandemError('NOT_ACTIVE', 'this master runs alone (no --zk): there is nobody to hand over to');
        const to = (args as { to?: unknown } | null)?.to;
        if (to !== undefined && typeof to !== 'string') throw new TandemError('INVALID_ARGUMENT', 'admin.failover: to must be a member name');
        return this.ha.handOver(to);
      }
      default:
        throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
    }
  }

  private requireActive(): void {
    if (this.engineNow.currentRole === 'standalone') return;
    if (this.engineNow.currentRole !== 'active' || this.ha?.handingOver) throw new TandemError('NOT_ACTIVE', `${this.options.member} is not the active of ${this.options.shard}`);
  }

  /**
   * `admin safemode get|enter|leave` (on the active). Manual safe mode is an engine op,
   * journaled and replicated, so it survives a failover; `leave` also ends the shard's
   * automatic safe mode (an FMS active waiting for block reports).
   */
  private async safeMode(args: unknown): Promise<{ shard: string; manual: unknown; automatic: unknown; txid?: number }> {
    const a = (args ?? {}) as { action?: unknown; by?: unknown };
    if (a.action !== 'get' && a.action !== 'enter' && a.action !== 'leave') throw new TandemError('INVALID_ARGUMENT', 'admin.safeMode: action must be get, enter or leave');
    const by = typeof a.by === 'string' && a.by.length > 0 ? a.by : 'admin';
    this.requireActive();
    let txid: number | undefined;
    const manual = this.engineNow.manualSafeMode;
    if (a.action === 'enter' && !manual) txid = (await this.engineNow.submitEngineOp({ type: '@safe-mode', on: true, by, time: Date.now() })).txid;
    if (a.action === 'leave') {
      if (manual) txid = (await this.engineNow.submitEngineOp({ type: '@safe-mode', on: false, by, time: Date.now() })).txid;
      if (this.service.leaveAutomaticSafeMode?.(this.serviceHost)) this.options.log.warn({ by }, `left the automatic safe mode on ${by}'s request`);
    }
    return {
      shard: this.options.shard,
      manual: this.engineNow.manualSafeMode,
      automatic: this.service.automaticSafeMode?.(this.serviceHost) ?? null,
      ...(txid !== undefined ? { txid } : {}),
    };
  }

  /** A member's digest at a @verify marker, once it has applied it (at most waitMs). */
  private async digestAt(args: unknown): Promise<{ member: string; txid: number; digest: string | null; appliedTxid: number }> {
    const a = (args ?? {}) as { txid?: unknown; waitMs?: unknown };
    if (!Number.isSafeInteger(a.txid) || (a.txid as number) < 1) throw new TandemError('INVALID_ARGUMENT', 'admin.digest needs a txid');
    const txid = a.txid as number;
    const waitMs = Math.min(DIGEST_WAIT_MS_MAX, Number.isSafeInteger(a.waitMs) ? Math.max(0, a.waitMs as number) : 0);
    const until = performance.now() + waitMs;
    while (this.engineNow.appliedTxidNow < txid && performance.now() < until) await new Promise((r) => setTimeout(r, DIGEST_POLL_MS));
    return { member: this.options.member, txid, digest: this.engineNow.verifyDigestAt(txid), appliedTxid: this.engineNow.appliedTxidNow };
  }

  status(): MasterStatus {
    const engine = this.engine.status();
    const stats = this.server.stats();
    const memory = process.memoryUsage();
    return {
      shard: this.options.shard,
      member: this.options.member,
      role: this.ha ? this.ha.currentRole : 'active',
      rpc: `${this.address.host}:${this.address.port}`,
      http: this.httpAddress,
      pid: process.pid,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      externalBytes: memory.external,
      connections: stats.connections,
      clusterSecret: Boolean(this.options.secret),
      unauthenticatedTotal: stats.unauthenticatedTotal,
      inFlight: stats.inFlight,
      epoch: engine.epoch,
      appliedTxid: engine.appliedTxid,
      durableTxid: engine.durableTxid,
      imageTxid: engine.imageTxid,
      committedTxid: engine.committedTxid,
      journal: engine.journal,
      manualSafeMode: engine.safeMode,
      automaticSafeMode: this.service.automaticSafeMode?.(this.serviceHost) ?? null,
      ...(this.ha ? { ha: this.ha.status() } : {}),
      ...this.service.status(this.serviceHost),
    };
  }

  /** What `GET /health` answers (src/metrics/health.ts). */
  health(): HealthVerdict {
    const ha = this.ha;
    return masterHealth({
      stopping: this.stopping !== null,
      fatal: this.engineNow.failure,
      role: ha ? ha.currentRole : 'active',
      handingOver: ha?.handingOver ?? false,
      replacingStorage: ha?.replacingStorage ?? false,
      sinceActiveMs: ha?.sinceActiveMs() ?? null,
      // A live stream carries a message at least every heartbeat; the active drops a standby silent this long from the ISR.
      activeSilenceMaxMs: this.options.limits.isrLagMaxMs,
      shardProblem: this.service.healthProblem?.(this.serviceHost) ?? null,
    });
  }

  /** The checkpoint alerts firing now: judged on the shard's active (src/metrics/alerts.ts), none elsewhere. */
  // Only the checkpoint figures: not the whole metricsSnapshot, whose shard gauges cost an
  // FMS active a pass over every block, for each admin.status (the dashboard polls it).
  async alerts(): Promise<Alert[]> {
    if ((this.ha ? this.ha.currentRole : 'active') !== 'active') return [];
    return checkpointAlerts(await this.checkpointFigures(this.engineNow.status()));
  }

  private async checkpointFigures(engine: { durableTxid: number; checkpointPendingMs: number | null }): Promise<MasterSnapshot['checkpoint']> {
    const storage = await storageFigures(this.engineNow.dir, engine.durableTxid, Date.now());
    return checkpointFiguresOf(storage, engine, this.options.limits);
  }

  /** Everything the metrics show, read at once (one scrape). */
  async metricsSnapshot(): Promise<MasterSnapshot> {
    const engine = this.engineNow.status();
    const role = this.ha ? this.ha.currentRole : 'active';
    const ha = this.ha?.status();
    const checkpoint = await this.checkpointFigures(engine);
    return {
      role,
      epoch: engine.epoch,
      appliedTxid: engine.appliedTxid,
      durableTxid: engine.durableTxid,
      committedTxid: engine.committedTxid,
      isrSize: role !== 'active' ? null : ha ? ha.isr.length : 1,
      standbys: (ha?.followers ?? []).map((f) => ({ member: memberOfReplica(f.member), inSync: f.inSync, lagTxids: f.lagTxids, lagMsP50: f.lagMsP50, lagMsP99: f.lagMsP99 })),
      checkpoint,
      alerts: role === 'active' ? checkpointAlerts(checkpoint) : [],
      shard: this.service.gauges?.(this.serviceHost) ?? {},
    };
  }

  /** Drains in-flight calls (their records become durable and are answered), then closes storage. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const { log } = this.options;
        log.info('stopping: draining in-flight calls');
        clearInterval(this.rollTimer);
        // In-flight writes drain first (an active still needs its standbys' acks for them);
        // then the member leaves ZooKeeper, so a standby takes over at once.
        await this.server.close();
        await this.service.stop?.();
        await this.ha?.stop();
        await this.imageServer?.close();
        await this.engine.close();
        log.info({ txid: this.engine.status().appliedTxid }, 'stopped cleanly');
      })();
    }
    return this.stopping;
  }
}

/**
 * The storage directory's identity (file `storage-id`, made once with the directory): part
 * of the member's identity in the ISR, so a member restarted on an empty disk is not taken
 * for the in-sync replica it was (see replicaId in src/election/layout.ts).
 */
async function storageIdOf(dir: string): Promise<string> {
  try {
    const text = (await readFile(join(dir, STORAGE_ID_FILE), 'utf8')).trim();
    if (/^[0-9a-f]{8,32}$/.test(text)) return text;
    throw new TandemError('JOURNAL_CORRUPT', `${join(dir, STORAGE_ID_FILE)} does not hold a storage id`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = randomBytes(6).toString('hex');
  await writeFileDurably(dir, STORAGE_ID_FILE, Buffer.from(`${id}\n`));
  return id;
}

const STORAGE_ID_FILE = 'storage-id';
