// One datanode process (docs/data-path.md): the block store, the data-transfer server
// (pipeline writes, reads, copies), its registration in ZooKeeper (`/datanodes/<id>`,
// ephemeral, made again after a session expiry), its links to every FMS member
// (heartbeats, reports, commands) and a small RPC server for status.

import type { DatanodeInfo as HeartbeatInfo } from '../filemeta/datanodes.js';
import { statfs } from 'node:fs/promises';
import type { Coordinator } from '../election/coordinator.js';
import { DATANODES_PATH } from '../election/layout.js';
import type { Limits } from '../config/limits.js';
import { sleep } from '../client/backoff.js';
import { TandemError } from '../errors.js';
import { RpcServer } from '../rpc/server.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { parseHostPort } from '../util/address.js';
import type { Logger } from '../util/log.js';
import { BlockStore, type ReplicaInfo } from './block-store.js';
import { DEFAULT_DATANODE_CONFIG, type DatanodeConfig } from './config.js';
import { FmsLinks } from './fms-links.js';
import { DataTransferServer } from './transfer-server.js';
import { copyBlock } from './transfer-client.js';
import { CommandRunner } from './command-runner.js';
import { startDatanodeHttp, type HttpRoutes } from './http-server.js';
import type { FastifyInstance } from 'fastify';
import { DatanodeMetrics, type DatanodeUsage } from '../metrics/datanode-metrics.js';
import { metricsRoutes } from '../metrics/registry.js';

export { DATANODES_PATH } from '../election/layout.js';

/** Re-registration after a session expiry backs off from this to that. */
const REGISTER_RETRY_MS_MIN = 500;
const REGISTER_RETRY_MS_MAX = 10_000;

export interface DatanodeOptions {
  id: string;
  dir: string;
  rpc: string;
  data: string;
  http?: string;
  connect: () => Promise<Coordinator>;
  limits: Limits;
  log: Logger;
  config?: DatanodeConfig;
  heartbeatIntervalMs?: number;
  /** The cluster secret, proved to the FMS members (heartbeats, reports, the commands they carry). */
  secret?: ClusterSecret | null;
  /** Routes added to the datanode's HTTP server (WebHDFS data endpoint, metrics). */
  httpRoutes?: ReadonlyArray<HttpRoutes<Datanode>>;
}

/** What a datanode registers in ZooKeeper: what it says in heartbeats, less the usage that changes. */
export type DatanodeInfo = Omit<HeartbeatInfo, 'usedBytes'>;

export class Datanode {
  private coordinator: Coordinator | null = null;
  private registering: Promise<void> | null = null;
  private capacityBytes = 0;
  private stopped = false;

  private constructor(
    private readonly opts: DatanodeOptions,
    readonly store: BlockStore,
    private readonly transfer: DataTransferServer,
    private readonly rpcServer: RpcServer,
    readonly info: DatanodeInfo,
    private readonly links: FmsLinks,
    private readonly commands: CommandRunner,
  ) {}

  private http: FastifyInstance | null = null;

  static async start(opts: DatanodeOptions): Promise<Datanode> {
    const { log } = opts;
    const config = opts.config ?? DEFAULT_DATANODE_CONFIG;
    if (!opts.secret) log.warn('no cluster secret (--secret-file): this datanode obeys any FMS that answers its heartbeats');
    const store = await BlockStore.open(opts.dir, log, config);
    const bound: { node?: Datanode } = {};
    const metrics = new DatanodeMetrics(opts.id, () => bound.node!.usage());
    const data = parseHostPort(opts.data);
    const transfer = await DataTransferServer.start({
      store,
      host: data.host,
      port: data.port,
      log,
      config,
      onBlockFinalized: (replica: ReplicaInfo) => bound.node?.onReceived(replica),
    });
    const rpcServer = new RpcServer({
      handler: (method) => {
        if (method === 'admin.status') return bound.node!.status();
        throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
      },
      methods: new Set(['admin.status']),
      limits: opts.limits,
      log,
      serverName: `tandem-datanode ${opts.id}`,
      onCallDone: metrics.onCallDone,
    });
    const rpc = parseHostPort(opts.rpc);
    const rpcAddress = await rpcServer.listen(rpc.host, rpc.port);
    const info: DatanodeInfo = {
      id: opts.id,
      rpc: `${rpcAddress.host}:${rpcAddress.port}`,
      data: transfer.address,
      http: '', // set once the HTTP server listens, before registering
      capacityBytes: 0,
    };
    const commands = new CommandRunner({
      deleteReplica: (blockId, genStampMax) => store.delete(blockId, genStampMax),
      onDeleted: (blockId) => bound.node?.links.noteDeleted(blockId),
      recoverReplica: async (blockId, genStamp, lengthMax) => {
        const replica = await recoverReplica(store, blockId, genStamp, lengthMax);
        if (replica === null) return;
        log.info(
          { blockId, genStamp, length: replica.length, lengthMax },
          lengthMax === undefined
            ? `recovered ${blockId}: finalized at genStamp ${genStamp} with the ${replica.length} bytes held here`
            : `truncated ${blockId}: cut to ${replica.length} bytes and finalized at genStamp ${genStamp}`,
        );
        bound.node?.onReceived(replica);
      },
      copy: async (command) => {
        await copyBlock(info.data, { blockId: command.blockId, genStamp: command.genStamp, length: command.length, targets: command.targets }, config);
      },
      onCopyFailed: (shard, member, failures) => bound.node?.links.noteCopyFailed(shard, member, failures),
      log,
      copiesInFlightMax: config.copiesInFlightMax,
      copiesQueuedMax: config.copiesQueuedMax,
    });
    const links = new FmsLinks({
      self: info, // its http is filled in once the HTTP server listens
      connect: opts.connect,
      limits: opts.limits,
      log,
      replicas: () => store.list(),
      capacity: () => ({ capacityBytes: bound.node?.capacityBytes ?? 0, usedBytes: store.usedBytes() }),
      execute: (shard, command, member) => commands.submit(shard, command, member),
      copiesInProgress: () => commands.copiesInProgress,
      deletesInProgress: () => commands.deletesInProgress,
      secret: opts.secret ?? null,
      ...(opts.heartbeatIntervalMs ? { heartbeatIntervalMs: opts.heartbeatIntervalMs } : {}),
    });
    const node = new Datanode(opts, store, transfer, rpcServer, info, links, commands);
    bound.node = node;
    try {
      const http = await startDatanodeHttp({
        http: opts.http,
        defaultHost: rpcAddress.host,
        log,
        routes: [metricsRoutes(metrics.metrics), ...(opts.httpRoutes ?? [])],
        host: node,
        health: () => (node.stopped ? { ok: false, reason: 'stopping' } : node.coordinator === null ? { ok: false, reason: 'not registered in ZooKeeper' } : { ok: true }),
      });
      node.http = http.server;
      info.http = http.address;
      await node.measureCapacity();
      await node.register();
      await links.start();
    } catch (err) {
      await node.stop();
      throw err;
    }
    log.info({ ...info, replicas: store.list().length }, `serving as datanode ${opts.id}: ${store.list().length} replicas; data on ${info.data}, rpc on ${info.rpc}, http on ${info.http}`);
    return node;
  }

  private async measureCapacity(): Promise<void> {
    const fs = await statfs(this.opts.dir);
    this.capacityBytes = fs.blocks * fs.bsize;
    this.info.capacityBytes = this.capacityBytes;
  }

  /** `/datanodes/<id>`, ephemeral; made again when the session expires. */
  private register(): Promise<void> {
    this.registering ??= (async () => {
      const coordinator = await this.opts.connect();
      coordinator.onSessionEvent((event) => {
        if (event !== 'expired' || this.stopped || this.coordinator !== coordinator) return;
        this.coordinator = null;
        this.opts.log.warn('ZooKeeper session expired: registering again');
        void this.registerAgain();
      });
      this.coordinator = coordinator;
      const path = `${DATANODES_PATH}/${this.opts.id}`;
      try {
        await coordinator.ensurePath(DATANODES_PATH);
        await coordinator.create(path, this.info, 'ephemeral');
      } catch (err) {
        // This session is of no use: close it, so a retry does not leave one behind.
        this.coordinator = null;
        await coordinator.close().catch(() => undefined);
        if ((err as TandemError).code !== 'COORDINATOR_NODE_EXISTS') throw err;
        // Our own node from a session that is ending, or another process with this id.
        throw new TandemError('STORAGE_LOCKED', `${path} exists in ZooKeeper: another datanode runs as ${this.opts.id} (or its old session has not expired yet)`);
      }
      this.opts.log.info({ path }, `registered in ZooKeeper as ${path}`);
    })().finally(() => {
      this.registering = null;
    });
    return this.registering;
  }

  /**
   * After a session expiry: registers until it succeeds (or the datanode stops). Out of
   * /datanodes, the FMS shards would count this datanode dead after a short silence.
   */
  private async registerAgain(): Promise<void> {
    for (let delayMs = REGISTER_RETRY_MS_MIN; !this.stopped; delayMs = Math.min(delayMs * 2, REGISTER_RETRY_MS_MAX)) {
      try {
        await this.register();
        return;
      } catch (err) {
        this.opts.log.error({ err, retryInMs: delayMs }, `could not register again in ZooKeeper (retrying in ${delayMs} ms): ${(err as Error).message}`);
        await sleep(delayMs);
      }
    }
  }

  private onReceived(replica: ReplicaInfo): void {
    this.links.noteReceived(replica);
  }

  /** What the datanode metrics show (src/metrics/datanode-metrics.ts). */
  usage(): DatanodeUsage {
    return {
      capacityBytes: this.capacityBytes,
      usedBytes: this.store.usedBytes(),
      replicas: this.store.list().length,
      copiesInProgress: this.commands.copiesInProgress,
      deletesInProgress: this.commands.deletesInProgress,
    };
  }

  status(): Record<string, unknown> {
    return {
      ...this.info,
      pid: process.pid,
      replicas: this.store.list().length,
      usedBytes: this.store.usedBytes(),
      copiesInProgress: this.commands.copiesInProgress,
      deletesInProgress: this.commands.deletesInProgress,
      /** Copies that did not land, not yet told to the member that asked (and those forgotten past the bound). */
      copyFailuresOwed: this.links.copyFailures.size,
      copyFailuresForgotten: this.links.copyFailures.dropped,
      fms: this.links.status(),
      fmsEpochs: this.links.epochs(),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.links.stop();
    await this.commands.stop();
    await this.http?.close();
    await this.rpcServer.close();
    await this.transfer.close();
    await this.coordinator?.close();
    await this.store.close();
    this.opts.log.info(`datanode ${this.opts.id} stopped`);
  }
}

/**
 * Block recovery on this datanode: a replica of `blockId` at an older genStamp (a dead
 * writer's, in rbw/) is moved to `genStamp` at the length it holds and finalized. Null when
 * there is none to recover (absent, or already at that genStamp or newer). With `lengthMax`
 * (a truncate inside the block, which may be finalized here) it is cut to that many bytes.
 */
export async function recoverReplica(store: BlockStore, blockId: string, genStamp: number, lengthMax?: number): Promise<ReplicaInfo | null> {
  const here = store.get(blockId);
  if (here === undefined || here.genStamp >= genStamp) return null;
  const moved = await store.resumeRbw(blockId, here.genStamp, genStamp, Math.min(here.length, lengthMax ?? here.length));
  const writer = await store.openRbw(blockId, genStamp, moved.length);
  return writer.finalize();
}
