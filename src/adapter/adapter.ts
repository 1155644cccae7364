// `tandem adapter` (DESIGN §1, §6): hides which master is active. It caches the ZooKeeper
// registry (src/adapter/registry-sync.ts), serves the shard map and its status over RPC,
// `/status`, `/health` and `/shards/<s>/…` redirects over HTTP (src/adapter/http.ts), and
// registers itself as the ephemeral `/adapters/<id>` (again on every new session).
//
// What plugs in (WebHDFS, the dashboard, /metrics): `httpRoutes`, given the fastify
// instance and this adapter before the server listens; `snapshot()`, the cache as served;
// `client(user)`, a TandemClient acting as that user whose actives come from this cache —
// no ZooKeeper session per user, one set of connections to the actives for all users.

import type { FastifyInstance } from 'fastify';
import { ShardMapResolver, type ShardMap, type ShardMapSource } from '../client/shard-map.js';
import { TandemClient } from '../client/tandem-client.js';
import type { Limits } from '../config/limits.js';
import type { Coordinator } from '../election/coordinator.js';
import { ADAPTERS_PATH } from '../election/layout.js';
import { TandemError } from '../errors.js';
import { RpcServer } from '../rpc/server.js';
import { parseHostPort } from '../util/address.js';
import type { Logger } from '../util/log.js';
import { startAdapterHttp, type AdapterHttpRoutes } from './http.js';
import { RegistrySync, type RegistrySyncStats } from './registry-sync.js';
import { shardMapOf, type AdapterRegistration, type AdapterSnapshot } from './snapshot.js';

export interface AdapterOptions {
  /** The name under /adapters (default: `adapter-<rpc port>`). */
  id?: string;
  connect: () => Promise<Coordinator>;
  /** HOST:PORT of the RPC server (port 0: any). */
  rpc: string;
  /** HOST:PORT of the HTTP server (port 0: any). */
  http: string;
  limits: Limits;
  log: Logger;
  /** Full reads of ZooKeeper this often (default 1 s). */
  syncIntervalMs?: number;
  /** Routes added to the HTTP server before it listens (WebHDFS, dashboard, metrics). */
  httpRoutes?: Array<AdapterHttpRoutes<Adapter>>;
  /** Clients kept by client(user) (default 1024); the least recently used goes first. */
  clientsMax?: number;
  /** Deadline of the calls of client(user) (default 30 s). */
  clientDeadlineMs?: number;
}

/** The RPC methods an adapter answers. */
export const ADAPTER_METHODS = new Set(['adapter.shardMap', 'adapter.status', 'admin.status']);

export class Adapter {
  private rpcServer: RpcServer | null = null;
  private httpServer: FastifyInstance | null = null;
  private rpcAddress = '';
  private httpAddress = '';
  private idValue = '';
  private sync: RegistrySync | null = null;
  private rootClient: TandemClient | null = null;
  /** client(user) by user and groups, least recently used first. Invariant: size ≤ clientsMax. */
  private readonly clients = new Map<string, TandemClient>();
  private stopped = false;
  private readonly startedAtMs = Date.now();

  private constructor(private readonly opts: AdapterOptions) {}

  static async start(opts: AdapterOptions): Promise<Adapter> {
    const adapter = new Adapter(opts);
    try {
      await adapter.listenAndSync();
    } catch (err) {
      await adapter.stop();
      throw err;
    }
    const { log } = opts;
    log.info(
      { id: adapter.id, rpc: adapter.rpc, http: adapter.http, stale: adapter.snapshot().stale },
      `serving as adapter ${adapter.id}: rpc on ${adapter.rpc}, http on ${adapter.http}`,
    );
    return adapter;
  }

  private async listenAndSync(): Promise<void> {
    const { opts } = this;
    this.rpcServer = new RpcServer({
      handler: (method) => this.answer(method),
      methods: ADAPTER_METHODS,
      limits: opts.limits,
      log: opts.log,
      serverName: 'tandem-adapter',
    });
    const rpc = parseHostPort(opts.rpc);
    const bound = await this.rpcServer.listen(rpc.host, rpc.port);
    this.rpcAddress = `${rpc.host}:${bound.port}`;
    this.idValue = opts.id ?? `adapter-${bound.port}`;
    this.sync = new RegistrySync({
      connect: opts.connect,
      log: opts.log,
      id: this.idValue,
      ...(opts.syncIntervalMs ? { syncIntervalMs: opts.syncIntervalMs } : {}),
      onSession: (coordinator) => this.register(coordinator),
    });
    const http = await startAdapterHttp<Adapter>({ http: opts.http, log: opts.log, snapshot: () => this.snapshot(), routes: opts.httpRoutes ?? [], adapter: this });
    this.httpServer = http.server;
    this.httpAddress = http.address;
    // The first read: on failure (ZooKeeper down) the adapter still starts, stale and empty,
    // and keeps trying every second.
    await this.sync.start();
  }

  get id(): string {
    return this.idValue;
  }

  /** HOST:PORT of the RPC server. */
  get rpc(): string {
    return this.rpcAddress;
  }

  /** HOST:PORT of the HTTP server. */
  get http(): string {
    return this.httpAddress;
  }

  /** The registry cache as served now (a new object each call; do not mutate its parts). */
  snapshot(): AdapterSnapshot {
    if (!this.sync) return { readAt: '', stale: true, ageMs: 0, shards: {}, datanodes: [], pools: null, adapters: [], adapter: this.idValue };
    return this.sync.snapshot();
  }

  /** Every shard's active and standbys, the pool map, and the cache's freshness. */
  shardMap(): ShardMap {
    return shardMapOf(this.snapshot());
  }

  /**
   * A TandemClient acting as `user` (with `groups`), resolving actives from this adapter's
   * cache; a refused call asks the cache for a prompt re-read (rate-limited). Clients are
   * kept per user, at most clientsMax; all share one set of connections, so dropping one
   * from the cache closes nothing. Do not close them: stop() does.
   */
  client(user: string, groups: string[] = []): TandemClient {
    if (this.stopped) throw new TandemError('SHUTTING_DOWN', 'the adapter is stopping');
    const key = `${user}\u0000${groups.join(',')}`;
    const cached = this.clients.get(key);
    if (cached) {
      this.clients.delete(key);
      this.clients.set(key, cached);
      return cached;
    }
    const client = this.root().forUser(user, groups);
    this.clients.set(key, client);
    if (this.clients.size > (this.opts.clientsMax ?? 1024)) this.clients.delete(this.clients.keys().next().value!);
    return client;
  }

  private root(): TandemClient {
    if (this.rootClient) return this.rootClient;
    const source = this.localSource();
    this.rootClient = new TandemClient({
      resolver: new ShardMapResolver(source, 'ns'),
      fms: {
        poolMap: async () => this.snapshot().pools,
        target: (shard) => ({ resolver: new ShardMapResolver(source, shard) }),
      },
      deadlineMs: this.opts.clientDeadlineMs ?? 30_000,
      // Retries ask this process's own cache (no network) and share one connection per
      // shard, so a short cap costs little and a WebHDFS call resumes within ~0.2 s of the
      // cache naming the new active (the default 1 s cap added up to a second per failover).
      backoff: { baseMs: 10, capMs: 200 },
      limits: this.opts.limits,
    });
    return this.rootClient;
  }

  /** The shard map of this adapter's own cache, for its clients. */
  private localSource(): ShardMapSource {
    let generation = 0;
    return {
      cached: () => this.shardMap(),
      get generation() {
        return generation;
      },
      refresh: async () => {
        await this.sync?.refresh();
        generation++;
        return this.shardMap();
      },
    };
  }

  status(): Record<string, unknown> {
    const snapshot = this.snapshot();
    const syncStats: RegistrySyncStats | null = this.sync?.stats ?? null;
    return {
      role: 'adapter',
      id: this.idValue,
      rpc: this.rpcAddress,
      http: this.httpAddress,
      pid: process.pid,
      uptimeMs: Date.now() - this.startedAtMs,
      stale: snapshot.stale,
      ageMs: snapshot.ageMs,
      readAt: snapshot.readAt,
      shards: Object.keys(snapshot.shards).length,
      datanodes: snapshot.datanodes.length,
      clients: this.clients.size,
      sync: syncStats,
      rpcServer: this.rpcServer?.stats() ?? null,
    };
  }

  private answer(method: string): unknown {
    switch (method) {
      case 'adapter.shardMap':
        return this.shardMap();
      case 'adapter.status':
        return this.snapshot();
      case 'admin.status':
        return this.status();
      default:
        throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
    }
  }

  /** `/adapters/<id>` `{id, rpc, http, pid}`, ephemeral on this session; a node left by an earlier session of ours is replaced. */
  private async register(coordinator: Coordinator): Promise<void> {
    const path = `${ADAPTERS_PATH}/${this.idValue}`;
    const info: AdapterRegistration = { id: this.idValue, rpc: this.rpcAddress, http: this.httpAddress, pid: process.pid };
    await coordinator.ensurePath(ADAPTERS_PATH);
    const existing = await coordinator.get(path);
    if (existing && existing.ephemeralOwner === coordinator.sessionId) {
      await coordinator.set(path, info, existing.version);
    } else {
      // Another session's node with our id: our own previous process (we hold its RPC port
      // now, so it is gone) whose session has not timed out yet.
      if (existing) await coordinator.delete(path, existing.version).catch(() => undefined);
      await coordinator.create(path, info, 'ephemeral');
    }
    this.opts.log.info({ path, sessionId: coordinator.sessionId }, `registered in ZooKeeper as ${path} (session ${coordinator.sessionId})`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clients.clear();
    this.rootClient?.close();
    await this.httpServer?.close();
    await this.rpcServer?.close();
    // Closing the session removes /adapters/<id> at once.
    await this.sync?.stop();
    this.opts.log.info(`adapter ${this.idValue} stopped`);
  }
}
