// The namespace shard as a ShardService: its state machine and its RPC methods (schemas
// in namespace-methods.ts). Mutations are journaled through the engine; queries run on the
// active's committed state.

import os from 'node:os';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import { createNamespaceMachine, inodeCount, type NamespaceMachine } from '../namespace/machine.js';
import type { Caller, NameListingPage } from '../namespace/ops.js';
import { MUTATION_SCHEMAS, QUERY_SCHEMAS, isMutationMethod, parseQuery, toMutation } from './namespace-methods.js';
import type { AnyEngine, MethodKind, ShardService } from './shard-service.js';
import type { NamespaceState } from '../namespace/state.js';
import { shardOfPool, type PoolMap } from '../election/pool-map.js';
import type { ShardCaller } from '../client/shard-caller.js';
import { DEFAULT_LEASE_LIMIT_MS, NamespaceFmsTasks } from './namespace-fms-tasks.js';
import { unwrap } from './unwrap.js';
import { encodeFileStatus, encodeListingPage } from '../namespace/file-status-wire.js';

export interface NamespaceServiceOptions {
  limits: Limits;
  superuser?: string;
  supergroup?: string;
  /**
   * The cluster's file-metadata shards: files are spread over the map's pools, and deleted
   * files are handed to their shard (the pending-delete queue). Without it: one pool, no FMS.
   */
  fms?: { poolMap: PoolMap; caller: (shard: string) => ShardCaller };
  /** Open files older than this whose writer's FMS lease is gone are closed (default 1 h). */
  leaseLimitMs?: number;
}

export function createNamespaceService(opts: NamespaceServiceOptions): ShardService {
  const superuser = opts.superuser ?? os.userInfo().username;
  const machine = createNamespaceMachine({
    ...opts.limits,
    superuser,
    supergroup: opts.supergroup ?? 'supergroup',
    pools: opts.fms?.poolMap.pools ?? 1,
    trackDeletes: opts.fms !== undefined,
    poolShards: opts.fms ? Array.from({ length: opts.fms.poolMap.pools }, (_, pool) => shardOfPool(opts.fms!.poolMap, pool)) : [],
  });
  const tasks = opts.fms ? new NamespaceFmsTasks(opts.fms, superuser, opts.leaseLimitMs ?? DEFAULT_LEASE_LIMIT_MS) : null;
  const methods = new Map<string, MethodKind>([
    ...Object.keys(MUTATION_SCHEMAS).map((m): [string, MethodKind] => [m, 'write']),
    ...Object.keys(QUERY_SCHEMAS).map((m): [string, MethodKind] => [m, 'read']),
  ]);
  return {
    machine,
    methods,
    handle(method, args, host) {
      const engine = host.engine();
      if (isMutationMethod(method)) {
        const answer = engine.submit(toMutation(method, args, Date.now())).then(unwrap);
        if (tasks === null || (method !== 'ns.truncate' && method !== 'ns.concat')) return answer;
        // The file stays open until its FMS shard is done; the lease round closes it as soon
        // as the FMS shows it closed at this length (the client returns before, for a truncate).
        return answer.then((value) => {
          const file = value as { fileId: number; length: number; underConstruction?: boolean };
          if (file.underConstruction !== false) tasks.expedite(file.fileId, file.length);
          return value;
        });
      }
      return query(machine, engine, method, args);
    },
    status: (host) => {
      const state = host.engine().peekState() as NamespaceState;
      return { inodes: inodeCount(state), pendingDeletes: state.pendingDeletes.size, openFiles: state.openFiles.size };
    },
    start: (host) => tasks?.start(host),
    stop: async () => tasks?.stop(),
  };
}

function query(m: NamespaceMachine, engine: AnyEngine, method: string, args: unknown): unknown {
  switch (method) {
    case 'ns.getFileInfo': {
      const a = parseQuery('ns.getFileInfo', args);
      return engine.read((s) => {
        const status = unwrap(m.getFileInfo(s, a.path, callerOf(a)));
        return status === null ? null : encodeFileStatus(status);
      });
    }
    case 'ns.listStatus': {
      const a = parseQuery('ns.listStatus', args);
      return engine.read((s) => encodeListingPage(unwrap(m.listStatus(s, a.path, a.startAfter, a.limit, callerOf(a)))));
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

