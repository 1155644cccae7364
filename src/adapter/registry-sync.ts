// The adapter's driver for ZooKeeper (DESIGN §1, §6): reads the whole registry — every
// shard's entries, election line, epoch and ISR, the pool map, `/datanodes` and
// `/adapters` — once a second and whenever a watched node changes, and keeps the last
// successful read as the cache. When ZooKeeper cannot be read, the cache stays and is
// served as stale with its age; the session reconnects on its own, and an expired one is
// replaced by a new session (the owner re-registers through `onSession`).
//
// One read at a time (SerialTask): a watch that fires during a read asks for one more.

import type { TandemError } from '../errors.js';
import type { Coordinator, Watcher } from '../election/coordinator.js';
import { ADAPTERS_PATH, DATANODES_PATH } from '../election/layout.js';
import { LazySession } from '../election/lazy-session.js';
import { readPoolMap } from '../election/pool-map.js';
import { readRegistry } from '../election/registry.js';
import type { Logger } from '../util/log.js';
import { SerialTask } from '../util/serial-task.js';
import { mergeRegistry, snapshotOf, type AdapterRegistration, type AdapterSnapshot, type DatanodeRegistration, type RegistryCache } from './snapshot.js';

export interface RegistrySyncOptions {
  connect: () => Promise<Coordinator>;
  log: Logger;
  /** The adapter's id, named in its snapshots. */
  id: string;
  /** A full read this often (default 1 s, Peta2's). */
  syncIntervalMs?: number;
  /** A read asked for by a client (refresh) starts at most this often (default 100 ms). */
  refreshIntervalMsMin?: number;
  /** Runs once on every new session before it is read from (the adapter registers itself). */
  onSession?: (coordinator: Coordinator) => Promise<void>;
}

export interface RegistrySyncStats {
  syncs: number;
  syncFailures: number;
  watchesFired: number;
  sessions: number;
}

/**
 * Children of a node that may not exist yet, each read as JSON; nodes that vanish in between
 * are skipped. `watchNotSet` runs when the listing failed (its watch is then not set).
 */
async function readChildrenData<T>(coordinator: Coordinator, path: string, watch: Watcher | undefined, watchNotSet: () => void): Promise<T[]> {
  let names: string[];
  try {
    names = await coordinator.children(path, watch);
  } catch (err) {
    if (watch) watchNotSet();
    if ((err as TandemError).code !== 'COORDINATOR_NO_NODE') throw err;
    return [];
  }
  const nodes = await Promise.all(names.sort().map((name) => coordinator.get<T>(`${path}/${name}`)));
  return nodes.filter((n) => n !== null && n.data !== null).map((n) => n!.data);
}

export class RegistrySync {
  private cache: RegistryCache | null = null;
  private readonly session: LazySession;
  /** The session whose events we follow and on which we registered (onSession ran). */
  private subscribed: Coordinator | null = null;
  private registeredOn: Coordinator | null = null;
  /** Whether the session is connected now (false from 'disconnected' until 'connected'). */
  private connected = false;
  /** Why the last read failed, or null when it succeeded. */
  private failure: string | null = 'not read yet';
  /** Paths with a watch set that has not fired: never set a second one there (they would pile up). */
  private readonly watched = new Set<string>();
  private readonly task: SerialTask;
  private timer: NodeJS.Timeout | null = null;
  private lastSyncStartMs = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly syncIntervalMs: number;
  private readonly refreshIntervalMsMin: number;
  readonly stats: RegistrySyncStats = { syncs: 0, syncFailures: 0, watchesFired: 0, sessions: 0 };

  constructor(private readonly opts: RegistrySyncOptions) {
    this.syncIntervalMs = opts.syncIntervalMs ?? 1_000;
    this.refreshIntervalMsMin = opts.refreshIntervalMsMin ?? 100;
    this.session = new LazySession(opts.connect, () => {
      opts.log.warn('ZooKeeper session expired: serving the cache as stale and opening a new session');
      this.connected = false;
      this.watched.clear();
      void this.task.run();
    });
    this.task = new SerialTask(
      () => this.syncOnce(),
      (err) => this.onSyncFailed(err),
    );
  }

  /** Reads once (a failure is logged, and the cache served stale), then every syncIntervalMs. */
  async start(): Promise<void> {
    await this.task.run();
    this.timer = setInterval(() => void this.task.run(), this.syncIntervalMs);
  }

  /** The cache as served: its freshness computed now. */
  snapshot(): AdapterSnapshot {
    return snapshotOf(this.cache, this.opts.id, {
      failing: this.failure !== null || !this.connected,
      nowMs: Date.now(),
      // A read runs every interval; three missed means the reads hang even if nothing failed yet.
      staleAfterMs: 3 * this.syncIntervalMs,
    });
  }

  /**
   * A read soon, for a client that found the cache wrong (its active refused it): at most
   * one starts per refreshIntervalMsMin, whatever the number of clients asking.
   */
  async refresh(): Promise<void> {
    if (performance.now() - this.lastSyncStartMs < this.refreshIntervalMsMin) return;
    await this.task.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.session.close();
  }

  private async syncOnce(): Promise<void> {
    if (this.stopped) return;
    this.lastSyncStartMs = performance.now();
    const coordinator = await this.session.get();
    if (this.subscribed !== coordinator) this.follow(coordinator);
    if (this.registeredOn !== coordinator && this.opts.onSession) {
      // A failed registration is tried again at the next read; it must not stop the reads.
      try {
        await this.opts.onSession(coordinator);
        this.registeredOn = coordinator;
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, `could not register in ZooKeeper (trying again at the next read): ${(err as Error).message}`);
      }
    }
    const watch = (path: string): Watcher | undefined => {
      if (this.watched.has(path)) return undefined;
      this.watched.add(path);
      return () => {
        this.watched.delete(path);
        this.stats.watchesFired++;
        void this.task.run();
      };
    };
    const unwatched = (path: string) => this.watched.delete(path);
    const pools = await readPoolMap(coordinator);
    const registry = await readRegistry(coordinator, ['ns', ...(pools?.shards ?? [])], { watch, watchNotSet: unwatched });
    const datanodes = await readChildrenData<DatanodeRegistration>(coordinator, DATANODES_PATH, watch(DATANODES_PATH), () => unwatched(DATANODES_PATH));
    const adapters = await readChildrenData<AdapterRegistration>(coordinator, ADAPTERS_PATH, watch(ADAPTERS_PATH), () => unwatched(ADAPTERS_PATH));
    const wasFailing = this.failure;
    const staleSinceMs = this.cache?.readAtMs;
    this.cache = { registry: mergeRegistry(this.cache?.registry ?? null, registry), datanodes, pools, adapters, readAtMs: Date.now() };
    this.failure = null;
    this.connected = true;
    this.stats.syncs++;
    if (wasFailing !== null && staleSinceMs !== undefined) {
      this.opts.log.info({ staleMs: this.cache.readAtMs - staleSinceMs }, `ZooKeeper read again: the cache is fresh (it was stale for ${this.cache.readAtMs - staleSinceMs} ms)`);
    }
  }

  private follow(coordinator: Coordinator): void {
    this.subscribed = coordinator;
    this.stats.sessions++;
    this.watched.clear();
    this.connected = true;
    coordinator.onSessionEvent((event) => {
      if (this.subscribed !== coordinator) return;
      if (event === 'disconnected') {
        this.connected = false;
        this.opts.log.warn(`lost ZooKeeper: serving the cache of ${this.cache?.registry.readAt ?? '(nothing read yet)'} as stale`);
      } else if (event === 'connected') {
        this.connected = true;
        void this.task.run();
      }
    });
  }

  private onSyncFailed(err: unknown): void {
    this.stats.syncFailures++;
    // `watched` is not cleared: the watches that reads of this round did set stay armed in
    // the session (another would pile up on them at every failed round, for as long as
    // ZooKeeper keeps failing); a read that failed took its path out of it (watchNotSet).
    const message = err instanceof Error ? err.message : String(err);
    if (this.failure === null) {
      this.opts.log.warn({ err: message }, `cannot read ZooKeeper (${message}): serving the cache of ${this.cache?.registry.readAt ?? '(nothing read yet)'} as stale`);
    }
    this.failure = message;
  }
}
