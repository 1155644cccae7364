// One master process of the namespace shard: storage + engine + RPC server + timers.
// `tandem master` (src/cli/master.ts) parses flags and calls startMaster; tests call it
// directly in-process or spawn the CLI.

import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import { ReplicationEngine } from '../replication/engine.js';
import { RpcServer } from '../rpc/server.js';
import { createNamespaceMachine, inodeCount, type NamespaceMachine } from '../namespace/machine.js';
import type { NamespaceMutation, Caller, NameListingPage } from '../namespace/ops.js';
import type { NamespaceState } from '../namespace/state.js';
import { ALL_METHODS, isMutationMethod, isQueryMethod, parseQuery, toMutation } from './namespace-methods.js';

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
}

export interface MasterStatus {
  shard: string;
  member: string;
  role: 'active';
  rpc: string;
  pid: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** Memory outside the JS heap: Buffers, native allocations. */
  externalBytes: number;
  inodes: number;
  connections: number;
  inFlight: number;
  epoch: number;
  appliedTxid: number;
  durableTxid: number;
  imageTxid: number;
  journal: unknown;
}

type Engine = ReplicationEngine<NamespaceState, NamespaceMutation, unknown>;

export class Master {
  private stopping: Promise<void> | null = null;
  private readonly rollTimer: NodeJS.Timeout;

  private constructor(
    readonly options: MasterOptions,
    readonly engine: Engine,
    private readonly machine: NamespaceMachine,
    readonly server: RpcServer,
    readonly address: { host: string; port: number },
  ) {
    this.rollTimer = setInterval(() => {
      this.engine.maybeRoll().catch((err: unknown) => this.options.log.error({ err }, 'segment roll failed'));
    }, options.rollCheckIntervalMs ?? 1_000);
    this.rollTimer.unref();
  }

  static async start(options: MasterOptions): Promise<Master> {
    const { log, limits } = options;
    await mkdir(options.dir, { recursive: true });
    const machine = createNamespaceMachine({
      ...limits,
      superuser: options.superuser ?? os.userInfo().username,
      supergroup: options.supergroup ?? 'supergroup',
      pools: 1,
    });
    const engine = (await ReplicationEngine.open({ dir: options.dir, machine, limits, log, ...(options.onFatal ? { onFatal: options.onFatal } : {}) })) as Engine;
    // The server is built before the Master that handles its calls; no call can arrive before listen().
    const bound: { master?: Master } = {};
    const server = new RpcServer({
      handler: (method, args) => bound.master!.handle(method, args),
      methods: ALL_METHODS,
      limits,
      log,
      serverName: `tandem-master ${options.shard}/${options.member}`,
    });
    let address: { host: string; port: number };
    try {
      address = await server.listen(options.host, options.port);
    } catch (err) {
      await engine.close();
      throw err;
    }
    const master = new Master(options, engine, machine, server, address);
    bound.master = master;
    log.info(
      { shard: options.shard, member: options.member, rpc: `${address.host}:${address.port}`, dir: options.dir },
      `serving shard ${options.shard} as ${options.member} on ${address.host}:${address.port} (single master, no standby yet)`,
    );
    return master;
  }

  private handle(method: string, args: unknown): Promise<unknown> | unknown {
    if (isMutationMethod(method)) {
      const op = toMutation(method, args, Date.now());
      return this.engine.submit(op).then(unwrap);
    }
    if (isQueryMethod(method)) return this.query(method, args);
    switch (method) {
      case 'admin.status':
        // `gc: true` collects garbage first (when node runs with --expose-gc) so RSS means live data.
        if ((args as { gc?: unknown } | null)?.gc === true) (globalThis as { gc?: () => void }).gc?.();
        return this.status();
      case 'admin.saveNamespace':
        return this.engine.saveImage();
      default:
        throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
    }
  }

  private query(method: string, args: unknown): unknown {
    const m = this.machine;
    switch (method) {
      case 'ns.getFileInfo': {
        const a = parseQuery('ns.getFileInfo', args);
        return this.engine.read((s) => unwrap(m.getFileInfo(s, a.path, callerOf(a))));
      }
      case 'ns.listStatus': {
        const a = parseQuery('ns.listStatus', args);
        return this.engine.read((s) => unwrap(m.listStatus(s, a.path, a.startAfter, a.limit, callerOf(a))));
      }
      case 'ns.listNames': {
        const a = parseQuery('ns.listNames', args);
        const firstPage = a.startAfter === undefined;
        return this.engine.read((s) => encodeNameListing(unwrap(m.listNames(s, a.path, a.startAfter, a.limit, callerOf(a))), firstPage));
      }
      case 'ns.contentSummary': {
        const a = parseQuery('ns.contentSummary', args);
        return this.engine.read((s) => unwrap(m.contentSummary(s, a.path, callerOf(a))));
      }
      default:
        throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
    }
  }

  status(): MasterStatus {
    const engine = this.engine.status();
    const stats = this.server.stats();
    const memory = process.memoryUsage();
    return {
      shard: this.options.shard,
      member: this.options.member,
      role: 'active',
      rpc: `${this.address.host}:${this.address.port}`,
      pid: process.pid,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      externalBytes: memory.external,
      inodes: inodeCount(this.engine.peekState()),
      connections: stats.connections,
      inFlight: stats.inFlight,
      epoch: engine.epoch,
      appliedTxid: engine.appliedTxid,
      durableTxid: engine.durableTxid,
      imageTxid: engine.imageTxid,
      journal: engine.journal,
    };
  }

  /** Drains in-flight calls (their records become durable and are answered), then closes storage. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = (async () => {
        const { log } = this.options;
        log.info('stopping: draining in-flight calls');
        clearInterval(this.rollTimer);
        await this.server.close();
        await this.engine.close();
        log.info({ txid: this.engine.status().appliedTxid }, 'stopped cleanly');
      })();
    }
    return this.stopping;
  }
}

/**
 * Wire form of a names-only listing: the names joined by '/', which no name can contain,
 * so the encoding is unambiguous. One string instead of hundreds makes a listing several
 * times cheaper to encode and decode (`tandem bench meta --op list`). A whole directory's
 * names (first page, nothing remaining) arrive as the directory's cached sorted array, so
 * their joined form is cached too, keyed weakly on that array: when the directory changes,
 * the array is replaced and the old entry goes with it. Other pages are fresh slices, not
 * worth caching.
 */
const joinedNamesCache = new WeakMap<readonly string[], string>();
function encodeNameListing(page: NameListingPage, firstPage: boolean): { names: string; remaining: number } {
  const cacheable = firstPage && page.remaining === 0;
  let joined = cacheable ? joinedNamesCache.get(page.names) : undefined;
  if (joined === undefined) {
    joined = page.names.join('/');
    if (cacheable) joinedNamesCache.set(page.names, joined);
  }
  return { names: joined, remaining: page.remaining };
}

function callerOf(a: { user: string; groups: string[] }): Caller {
  return { user: a.user, groups: a.groups };
}

function unwrap<T>(outcome: { ok: true; value: T } | { ok: false; error: { code: TandemError['code']; message: string } }): T {
  if (outcome.ok) return outcome.value;
  throw new TandemError(outcome.error.code, outcome.error.message);
}
