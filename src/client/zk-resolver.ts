// Finds a shard's active master through ZooKeeper (`/shards/<s>/active`, DESIGN §5).
//
// The address is cached and re-read when the node changes (a watch) or when the client says
// the address failed it (invalidate). With no active registered — a failover in progress —
// activeAddress rejects with NOT_ACTIVE, and the client's retry loop backs off and asks
// again until its deadline.

import { TandemError } from '../errors.js';
import type { Coordinator } from '../election/coordinator.js';
import { shardPaths, type ActiveInfo } from '../election/layout.js';
import type { ActiveResolver } from './tandem-client.js';

export class ZooKeeperResolver implements ActiveResolver {
  private cached: ActiveInfo | null = null;
  /** A watch on the active node is set and has not fired: do not set another (they would pile up). */
  private watching = false;
  /** One ZooKeeper read at a time; concurrent callers share it. */
  private reading: Promise<string> | null = null;
  private session: Promise<Coordinator> | null = null;
  private closed = false;

  constructor(
    private readonly connect: () => Promise<Coordinator>,
    private readonly shard = 'ns',
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
    const coordinator = await this.coordinator();
    let node;
    try {
      const watch = this.watching
        ? undefined
        : () => {
            this.watching = false;
            this.cached = null;
          };
      // Marked before the read: the watch may fire before the read returns.
      if (watch) this.watching = true;
      node = await coordinator.get<ActiveInfo>(shardPaths(this.shard).active, watch);
    } catch (err) {
      this.watching = false;
      if ((err as TandemError).code === 'COORDINATOR_SESSION_EXPIRED') this.session = null;
      throw err;
    }
    if (!node) throw new TandemError('NOT_ACTIVE', `shard ${this.shard} has no active registered in ZooKeeper right now`);
    this.cached = node.data;
    return node.data.rpc;
  }

  invalidate(): void {
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
    const session = this.session;
    this.session = null;
    if (session) await (await session.catch(() => null))?.close();
  }
}
