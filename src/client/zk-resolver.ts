// Finds a shard's active master through ZooKeeper (`/shards/<s>/active`, DESIGN §5).
//
// The address is cached and re-read when the node changes (a watch) or when the client says
// the address failed it (invalidate). With no active registered — a failover in progress —
// activeAddress waits for the node to appear (its watch fires on the create) for up to
// `activeWaitMs`, then rejects with NOT_ACTIVE, and the client's retry loop backs off and
// asks again until its deadline. Waiting on the watch gives the new address the moment the
// new active publishes it; asking again after a backoff found it up to a backoff later
// (200 ms with the chaos bench's cap, more with a client's default).
//
// An address the client said failed it, read again unchanged (same member and epoch), is given
// again only after up to `FAILED_ACTIVE_WAIT_MS` waiting for the node to change: a dead
// active's node goes within tens of ms (its monitor removes it), and a client handed the dead
// address again would fail, back off, and have a longer backoff ahead when the new active
// comes. A live active the client merely lost a connection to is given again after that wait.

import { performance } from 'node:perf_hooks';
import { TandemError } from '../errors.js';
import type { Coordinator } from '../election/coordinator.js';
import { shardPaths, type ActiveInfo } from '../election/layout.js';
import type { ActiveResolver } from './tandem-client.js';

/** How long activeAddress waits for an active by default: a failover takes a few hundred ms. */
const ACTIVE_WAIT_MS = 1_000;
/** How long an active that failed the client, still registered, is waited on to change. */
const FAILED_ACTIVE_WAIT_MS = 250;

function sameActive(a: ActiveInfo, b: ActiveInfo | null): boolean {
  return b !== null && a.member === b.member && a.rpc === b.rpc && a.epoch === b.epoch;
}

export class ZooKeeperResolver implements ActiveResolver {
  private cached: ActiveInfo | null = null;
  /** A watch on the active node is set and has not fired: do not set another (they would pile up). */
  private watching = false;
  /** One ZooKeeper read at a time; concurrent callers share it. */
  private reading: Promise<string> | null = null;
  private session: Promise<Coordinator> | null = null;
  private closed = false;
  /** The active the client last said failed it (invalidate), until another is read. */
  private failed: ActiveInfo | null = null;
  /** Reads waiting for an active (at most one: reads are shared), woken when the watch on the node fires. */
  private readonly changeWaiters = new Set<() => void>();

  constructor(
    private readonly connect: () => Promise<Coordinator>,
    private readonly shard = 'ns',
    /** How long activeAddress waits for an active to be registered before NOT_ACTIVE. */
    private readonly activeWaitMs = ACTIVE_WAIT_MS,
  ) {}

  /** The active last read, with its epoch (for status output). */
  get lastKnown(): ActiveInfo | null {
    return this.cached;
  }

  activeAddress(): Promise<string> {
    if (this.cached) return Promise.resolve(this.cached.rpc);
    this.reading ??= this.read().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async read(): Promise<string> {
    const startedAt = performance.now();
    const waitUntil = startedAt + this.activeWaitMs;
    const failedWaitUntil = startedAt + Math.min(FAILED_ACTIVE_WAIT_MS, this.activeWaitMs);
    // Bounded by time: each round waits for the watch or the rest of its wait.
    for (;;) {
      // Listening before the read: the watch may fire before the read returns.
      let wake!: () => void;
      const changed = new Promise<void>((resolve) => (wake = resolve));
      this.changeWaiters.add(wake);
      let timer: NodeJS.Timeout | undefined;
      try {
        const node = await this.readOnce();
        const now = performance.now();
        let leftMs: number;
        if (node) {
          const failedAgain = sameActive(node, this.failed);
          if (!failedAgain || now >= failedWaitUntil) {
            if (!failedAgain) this.failed = null;
            this.cached = node;
            return node.rpc;
          }
          leftMs = failedWaitUntil - now;
        } else {
          leftMs = waitUntil - now;
          if (leftMs <= 0) throw new TandemError('NOT_ACTIVE', `shard ${this.shard} has no active registered in ZooKeeper right now`);
        }
        await Promise.race([changed, new Promise<void>((resolve) => (timer = setTimeout(resolve, leftMs)))]);
      } finally {
        clearTimeout(timer);
        this.changeWaiters.delete(wake);
      }
    }
  }

  /** Reads the active node, leaving a watch on it (one at a time). */
  private async readOnce(): Promise<ActiveInfo | null> {
    const coordinator = await this.coordinator();
    try {
      const watch = this.watching
        ? undefined
        : () => {
            this.watching = false;
            this.cached = null;
            for (const wake of this.changeWaiters) wake();
          };
      // Marked before the read: the watch may fire before the read returns.
      if (watch) this.watching = true;
      return (await coordinator.get<ActiveInfo>(shardPaths(this.shard).active, watch))?.data ?? null;
    } catch (err) {
      this.watching = false;
      if ((err as TandemError).code === 'COORDINATOR_SESSION_EXPIRED') this.session = null;
      throw err;
    }
  }

  invalidate(): void {
    if (this.cached) this.failed = this.cached;
    this.cached = null;
  }

  private coordinator(): Promise<Coordinator> {
    if (this.closed) return Promise.reject(new TandemError('CONNECTION_LOST', 'the resolver was closed'));
    if (!this.session) {
      const session = this.connect();
      this.session = session;
      session.then(
        (c) =>
          c.onSessionEvent((event) => {
            if (event === 'expired' && this.session === session) {
              // Its watch is gone with it: forget what it told us.
              this.session = null;
              this.watching = false;
              this.cached = null;
            }
          }),
        () => {
          if (this.session === session) this.session = null;
        },
      );
    }
    return this.session;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.changeWaiters) wake();
    const session = this.session;
    this.session = null;
    if (session) await (await session.catch(() => null))?.close();
  }
}
