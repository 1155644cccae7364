// A RegistrySource that reads ZooKeeper itself: the registry of every shard (readRegistry,
// the shape `tandem admin status --zk` prints) and the live datanodes under /datanodes.
// The adapter has a cache of the same registry, synced by watches, and hands the dashboard
// that instead; this one serves a dashboard without an adapter, and its tests.
//
// When ZooKeeper does not answer within readTimeoutMs, the last good read is answered,
// marked stale with its age. At most one read is in flight: a read stuck on a dead
// ZooKeeper (the client waits up to a session timeout for a reconnect) is joined by the
// next rounds, not stacked under them.

import type { Coordinator } from '../election/coordinator.js';
import { LazySession } from '../election/lazy-session.js';
import { DATANODES_PATH } from '../election/layout.js';
import type { Registry } from '../election/registry.js';
import { readShardRegistry } from '../admin/shards.js';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { RegisteredDatanode, RegistryReading } from './cluster-history.js';
import type { RegistrySource } from './cluster-watch.js';

const READ_TIMEOUT_MS = 1_000;

interface GoodRead {
  registry: Registry;
  datanodes: RegisteredDatanode[];
  atMs: number;
}

export class ZooKeeperRegistrySource implements RegistrySource {
  private readonly session: LazySession;
  private inFlight: Promise<GoodRead> | null = null;
  private last: GoodRead | null = null;

  constructor(
    connect: () => Promise<Coordinator>,
    private readonly opts: { log: Logger; readTimeoutMs?: number; clock?: () => number },
  ) {
    this.session = new LazySession(connect, () => opts.log.warn('dashboard: ZooKeeper session expired; a new one is made at the next read'));
  }

  async registry(): Promise<RegistryReading> {
    const clock = this.opts.clock ?? Date.now;
    const reading = (this.inFlight ??= this.read(clock).finally(() => {
      this.inFlight = null;
    }));
    const timeoutMs = this.opts.readTimeoutMs ?? READ_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TandemError('COORDINATOR_UNAVAILABLE', `ZooKeeper did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      this.last = await Promise.race([reading, timeout]);
      return { registry: this.last.registry, datanodes: this.last.datanodes, stale: false, ageMs: 0, error: null };
    } catch (err) {
      const error = err instanceof TandemError ? `${err.code}: ${err.message}` : (err as Error).message;
      return {
        registry: this.last?.registry ?? null,
        datanodes: this.last?.datanodes ?? null,
        stale: true,
        ageMs: this.last ? Math.max(0, clock() - this.last.atMs) : 0,
        error,
      };
    } finally {
      clearTimeout(timer);
      // A read that lost the race settles later; its rejection is answered through the next call.
      reading.catch(() => undefined);
    }
  }

  private async read(clock: () => number): Promise<GoodRead> {
    const session = await this.session.get();
    const { registry } = await readShardRegistry(session);
    const ids = await session.children(DATANODES_PATH).catch((err: unknown) => {
      if (err instanceof TandemError && err.code === 'COORDINATOR_NO_NODE') return [] as string[];
      throw err;
    });
    const datanodes = await Promise.all(
      ids.sort().map(async (id) => {
        const node = (await session.get<{ http?: string; capacityBytes?: number }>(`${DATANODES_PATH}/${id}`))?.data;
        return { id, ...(node?.http ? { http: node.http } : {}), ...(typeof node?.capacityBytes === 'number' ? { capacityBytes: node.capacityBytes } : {}) };
      }),
    );
    return { registry, datanodes, atMs: clock() };
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}
