// The namespace shard as a ShardService: its state machine and its RPC methods (schemas
// in namespace-methods.ts). Mutations are journaled through the engine; queries run on the
// active's committed state.

import os from 'node:os';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import { createNamespaceMachine, inodeCount, type NamespaceMachine } from '../namespace/machine.js';
import type { Caller, NameListingPage } from '../namespace/ops.js';
import { MUTATION_SCHEMAS, QUERY_SCHEMAS, isMutationMethod, parseQuery, toMutation } from './namespace-methods.js';
import type { AnyEngine, MethodKind, ServiceHost, ShardService } from './shard-service.js';
import type { NamespaceState } from '../namespace/state.js';
import { shardOfPool, type PoolMap } from '../election/pool-map.js';
import type { ShardCaller } from '../client/shard-caller.js';
import { randomUUID } from 'node:crypto';
import { unwrap } from './unwrap.js';

export interface NamespaceServiceOptions {
  limits: Limits;
  superuser?: string;
  supergroup?: string;
  /**
   * The cluster's file-metadata shards: files are spread over the map's pools, and deleted
   * files are handed to their shard (the pending-delete queue). Without it: one pool, no FMS.
   */
  fms?: { poolMap: PoolMap; caller: (shard: string) => ShardCaller };
}

/** Deleted files handed to FMS shards per round, and how often a round runs. */
const DELETE_BATCH_FILES_MAX = 1_000;
const DELETE_ROUND_INTERVAL_MS = 200;

export function createNamespaceService(opts: NamespaceServiceOptions): ShardService {
  const superuser = opts.superuser ?? os.userInfo().username;
  const machine = createNamespaceMachine({
    ...opts.limits,
    superuser,
    supergroup: opts.supergroup ?? 'supergroup',
    pools: opts.fms?.poolMap.pools ?? 1,
    trackDeletes: opts.fms !== undefined,
  });
  const deleter = opts.fms ? new DeleteDeliverer(opts.fms, superuser) : null;
  const methods = new Map<string, MethodKind>([
    ...Object.keys(MUTATION_SCHEMAS).map((m): [string, MethodKind] => [m, 'write']),
    ...Object.keys(QUERY_SCHEMAS).map((m): [string, MethodKind] => [m, 'read']),
  ]);
  return {
    machine,
    methods,
    handle(method, args, host) {
      const engine = host.engine();
      if (isMutationMethod(method)) return engine.submit(toMutation(method, args, Date.now())).then(unwrap);
      return query(machine, engine, method, args);
    },
    status: (host) => {
      const state = host.engine().peekState() as NamespaceState;
      return { inodes: inodeCount(state), pendingDeletes: state.pendingDeletes.size };
    },
    start: (host) => deleter?.start(host),
    stop: async () => deleter?.stop(),
  };
}

/**
 * The active's side of the pending-delete queue: hands deleted files to the FMS shard that
 * owns their pool (`fms.deleteFiles`, idempotent), then journals `deletesDelivered` so the
 * queue forgets them. A failure leaves them queued for the next round, on this active or
 * the next one: a file's blocks are freed only after NS removed the name and FMS agreed.
 */
class DeleteDeliverer {
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private readonly callers = new Map<string, ShardCaller>();
  private callId = 1;
  private readonly clientId = `ns-deleter-${randomUUID()}`;

  constructor(
    private readonly fms: NonNullable<NamespaceServiceOptions['fms']>,
    private readonly superuser: string,
  ) {}

  start(host: ServiceHost): void {
    this.timer = setInterval(() => {
      if (this.round || !host.isActive()) return;
      const pending = (host.engine().peekState() as NamespaceState).pendingDeletes;
      if (pending.size === 0) return;
      this.round = this.deliver(host, pending)
        .catch((err: unknown) => host.log.warn({ err }, `could not hand deleted files to their FMS shards (they stay queued): ${(err as Error).message}`))
        .finally(() => {
          this.round = null;
        });
    }, DELETE_ROUND_INTERVAL_MS);
    this.timer.unref();
  }

  private async deliver(host: ServiceHost, pending: ReadonlyMap<number, number>): Promise<void> {
    const byShard = new Map<string, number[]>();
    let taken = 0;
    for (const [fileId, pool] of pending) {
      const shard = shardOfPool(this.fms.poolMap, pool);
      const ids = byShard.get(shard) ?? [];
      ids.push(fileId);
      byShard.set(shard, ids);
      if (++taken >= DELETE_BATCH_FILES_MAX) break;
    }
    for (const [shard, fileIds] of byShard) {
      let caller = this.callers.get(shard);
      if (!caller) this.callers.set(shard, (caller = this.fms.caller(shard)));
      const user = { user: this.superuser, groups: [] as string[] };
      await caller.call('fms.deleteFiles', { fileIds, ...user, clientId: this.clientId, callId: this.callId++ });
      const op = { type: 'deletesDelivered' as const, fileIds, ...user, clientId: this.clientId, callId: this.callId++, time: Date.now() };
      unwrap(await host.engine().submit(op));
      host.log.info({ shard, files: fileIds.length, stillPending: pending.size }, `handed ${fileIds.length} deleted files to ${shard}; ${pending.size} still pending`);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.round;
    for (const caller of this.callers.values()) caller.close();
  }
}

function query(m: NamespaceMachine, engine: AnyEngine, method: string, args: unknown): unknown {
  switch (method) {
    case 'ns.getFileInfo': {
      const a = parseQuery('ns.getFileInfo', args);
      return engine.read((s) => unwrap(m.getFileInfo(s, a.path, callerOf(a))));
    }
    case 'ns.listStatus': {
      const a = parseQuery('ns.listStatus', args);
      return engine.read((s) => unwrap(m.listStatus(s, a.path, a.startAfter, a.limit, callerOf(a))));
    }
    case 'ns.listNames': {
      const a = parseQuery('ns.listNames', args);
      const firstPage = a.startAfter === undefined;
      return engine.read((s) => encodeNameListing(unwrap(m.listNames(s, a.path, a.startAfter, a.limit, callerOf(a))), firstPage));
    }
    case 'ns.contentSummary': {
      const a = parseQuery('ns.contentSummary', args);
      return engine.read((s) => unwrap(m.contentSummary(s, a.path, callerOf(a))));
    }
    case 'ns.listFiles': {
      const a = parseQuery('ns.listFiles', args);
      return engine.read((s) => unwrap(m.listFiles(s, a.after, a.limit, callerOf(a))));
    }
    case 'ns.findFiles': {
      const a = parseQuery('ns.findFiles', args);
      return engine.read((s) => unwrap(m.findFiles(s, a.fileIds, callerOf(a))));
    }
    default:
      throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
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

