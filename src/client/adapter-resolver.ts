// Finding actives through adapters (DESIGN §6, Peta2's client): a list of adapters tried in
// shuffled order, the shard map (and pool map) cached, refreshed when a call fails with
// NOT_ACTIVE, STALE_EPOCH or a lost connection (the ShardCaller invalidates its resolver).
//
// What keeps a failover from becoming a retry storm:
// - refreshes are deduplicated: every caller that needs one while one runs shares it;
// - refreshes are rate-limited: one starts at most every `refreshIntervalMsMin` (jittered,
//   so a thousand clients that lost the same active do not ask in lockstep), and the
//   ShardCaller's own retries back off with full jitter until the call's deadline;
// - an adapter that failed is skipped for a while (doubling up to `adapterDownMsMax`), so
//   a dead adapter in the list costs one refused connection, not one per call;
// - a refresh asks each adapter at most once.
// The adapters are shuffled once per client, so clients spread over them.

import { performance } from 'node:perf_hooks';
import { DEFAULT_LIMITS, type Limits } from '../config/limits.js';
import { TandemError } from '../errors.js';
import { RpcConnection } from '../rpc/connection.js';
import { parseHostPort } from '../util/address.js';
import { sleep } from './backoff.js';
import { ShardMapResolver, type ShardMap, type ShardMapSource } from './shard-map.js';
import type { TandemClientOptions } from './tandem-client.js';

export interface AdapterShardMapsOptions {
  /** HOST:PORT of each adapter's RPC server. */
  adapters: string[];
  limits: Limits;
  clientName: string;
  /** At most one refresh starts per this long (times a jitter in [0.5, 1.5)). */
  refreshIntervalMsMin?: number;
  /** Connecting to one adapter, handshake included. */
  connectTimeoutMs?: number;
  /** One `adapter.shardMap` call. */
  callTimeoutMs?: number;
  /** An adapter that failed is skipped for this long, doubling per failure in a row... */
  adapterDownMsMin?: number;
  /** ...up to this. */
  adapterDownMsMax?: number;
  /**
   * The connection to an adapter closes after this long without a call: a client asks only
   * when something failed, and an adapter serving many clients should not hold a socket for
   * each of them.
   */
  idleCloseMs?: number;
  random?: () => number;
}

export interface AdapterShardMapsStats {
  /** Refreshes that returned a map. */
  refreshes: number;
  /** Adapters that failed a refresh (connection refused, timed out, …). */
  adapterFailures: number;
  /** Stale answers for which another adapter was asked too. */
  staleAnswers: number;
}

const DEFAULTS = {
  refreshIntervalMsMin: 100,
  connectTimeoutMs: 1_000,
  callTimeoutMs: 2_000,
  adapterDownMsMin: 500,
  adapterDownMsMax: 10_000,
  idleCloseMs: 30_000,
};

interface AdapterState {
  address: string;
  /** performance.now() before which it is skipped. */
  downUntil: number;
  failuresInRow: number;
}

export class AdapterShardMaps implements ShardMapSource {
  private readonly adapters: AdapterState[];
  private readonly settings: typeof DEFAULTS;
  private readonly random: () => number;
  /** The adapter asked first: the last one that answered. */
  private currentIndex = 0;
  private connection: { adapter: AdapterState; rpc: RpcConnection } | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private map: ShardMap | null = null;
  private generationValue = 0;
  private refreshing: Promise<ShardMap> | null = null;
  private lastRefreshStartMs = Number.NEGATIVE_INFINITY;
  /** Resolvers not yet closed: the connection closes with the last of them. */
  private openResolvers = 0;
  readonly stats: AdapterShardMapsStats = { refreshes: 0, adapterFailures: 0, staleAnswers: 0 };

  constructor(private readonly opts: AdapterShardMapsOptions) {
    if (opts.adapters.length === 0) throw new TandemError('INVALID_ARGUMENT', 'give at least one adapter address');
    for (const address of opts.adapters) parseHostPort(address);
    this.random = opts.random ?? Math.random;
    this.settings = { ...DEFAULTS, ...definedOnly(opts) };
    this.adapters = shuffled([...new Set(opts.adapters)], this.random).map((address) => ({ address, downUntil: 0, failuresInRow: 0 }));
  }

  /** The adapters in the order this client asks them. */
  get order(): string[] {
    return this.adapters.map((a) => a.address);
  }

  get generation(): number {
    return this.generationValue;
  }

  cached(): ShardMap | null {
    return this.map;
  }

  /** A resolver of `shard`'s active on this map; the connection to the adapter closes with the last one. */
  resolver(shard: string): ShardMapResolver {
    this.openResolvers++;
    return new ShardMapResolver(this, shard, () => {
      if (--this.openResolvers === 0) this.close();
    });
  }

  /** The pool map (refreshed once if no map is held yet). */
  async poolMap(): Promise<ShardMap['pools']> {
    return (this.map ?? (await this.refresh())).pools;
  }

  refresh(): Promise<ShardMap> {
    this.refreshing ??= this.rateLimited().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async rateLimited(): Promise<ShardMap> {
    const intervalMs = this.settings.refreshIntervalMsMin * (0.5 + this.random());
    const waitMs = this.lastRefreshStartMs + intervalMs - performance.now();
    if (waitMs > 0) await sleep(waitMs);
    this.lastRefreshStartMs = performance.now();
    const map = await this.fetch();
    this.map = map;
    this.generationValue++;
    this.stats.refreshes++;
    return map;
  }

  /**
   * Asks the adapters, the current one first and those marked down last, each at most once.
   * A stale answer (the adapter has lost ZooKeeper) is kept while the others are asked: the
   * freshest answer wins, and the first fresh one ends the round. Adapters marked down are
   * asked only when no other answered.
   */
  private async fetch(): Promise<ShardMap> {
    const now = performance.now();
    const rotated = this.adapters.map((_, i) => this.adapters[(this.currentIndex + i) % this.adapters.length]!);
    const candidates = [...rotated.filter((a) => a.downUntil <= now), ...rotated.filter((a) => a.downUntil > now)];
    let best: { map: ShardMap; from: AdapterState } | null = null;
    const failures: string[] = [];
    for (const adapter of candidates) {
      // One marked down is asked only while nothing answered: a stale answer beats waiting on it.
      if (best !== null && adapter.downUntil > now) break;
      let map: ShardMap;
      try {
        map = await this.ask<ShardMap>(adapter, 'adapter.shardMap');
      } catch (err) {
        failures.push(`${adapter.address}: ${(err as Error).message}`);
        continue;
      }
      if (best === null || map.ageMs < best.map.ageMs) best = { map, from: adapter };
      if (!map.stale) break;
      this.stats.staleAnswers++;
    }
    if (best === null) {
      throw new TandemError('ADAPTER_UNAVAILABLE', `no adapter answered (${failures.join('; ')})`);
    }
    this.currentIndex = this.adapters.indexOf(best.from);
    return best.map;
  }

  /**
   * Calls `method` on one adapter over the kept connection (made first if needed). A
   * failure marks the adapter down and drops the connection.
   */
  private async ask<T>(adapter: AdapterState, method: string, args: unknown = {}): Promise<T> {
    try {
      const rpc = await this.connectionTo(adapter);
      const answer = await rpc.call<T>(method, args, { deadlineMs: this.settings.callTimeoutMs });
      this.closeWhenIdle();
      adapter.failuresInRow = 0;
      adapter.downUntil = 0;
      return answer;
    } catch (err) {
      this.stats.adapterFailures++;
      adapter.failuresInRow++;
      const downMs = Math.min(this.settings.adapterDownMsMax, this.settings.adapterDownMsMin * 2 ** Math.min(adapter.failuresInRow - 1, 20));
      adapter.downUntil = performance.now() + downMs;
      if (this.connection?.adapter === adapter) {
        this.connection.rpc.close();
        this.connection = null;
      }
      throw err;
    }
  }

  private async connectionTo(adapter: AdapterState): Promise<RpcConnection> {
    if (this.connection && this.connection.adapter === adapter && !this.connection.rpc.closed) return this.connection.rpc;
    this.connection?.rpc.close();
    this.connection = null;
    const { host, port } = parseHostPort(adapter.address);
    const rpc = await RpcConnection.connect(host, port, {
      limits: this.opts.limits,
      clientName: this.opts.clientName,
      connectTimeoutMs: this.settings.connectTimeoutMs,
    });
    this.connection = { adapter, rpc };
    return rpc;
  }

  /**
   * Calls `method` on the first adapter that answers (the current one first): for tools
   * that want an adapter's other answers (`adapter.status`).
   */
  async callAny<T>(method: string, args: unknown = {}): Promise<{ adapter: string; answer: T }> {
    const failures: string[] = [];
    for (let i = 0; i < this.adapters.length; i++) {
      const adapter = this.adapters[(this.currentIndex + i) % this.adapters.length]!;
      try {
        return { adapter: adapter.address, answer: await this.ask<T>(adapter, method, args) };
      } catch (err) {
        failures.push(`${adapter.address}: ${(err as Error).message}`);
      }
    }
    throw new TandemError('ADAPTER_UNAVAILABLE', `no adapter answered ${method} (${failures.join('; ')})`);
  }

  private closeWhenIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(), this.settings.idleCloseMs);
    this.idleTimer.unref(); // an idle connection must not keep a finished program alive
  }

  /** Closes the connection to the adapter (a later refresh opens one again). */
  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.connection?.rpc.close();
    this.connection = null;
  }
}

/** Fisher–Yates. */
function shuffled<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function definedOnly(opts: AdapterShardMapsOptions): Partial<typeof DEFAULTS> {
  const out: Partial<typeof DEFAULTS> = {};
  for (const key of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
    if (opts[key] !== undefined) out[key] = opts[key];
  }
  return out;
}

/**
 * TandemClient options that find every shard through adapters, and the shard maps behind
 * them (for their stats): `const { shardMaps, ...found } = throughAdapters(adapters);
 * new TandemClient({ ...found, user })`. The adapters' connection closes with the client.
 */
export function throughAdapters(
  adapters: string[],
  opts: Partial<Omit<AdapterShardMapsOptions, 'adapters'>> = {},
): Pick<TandemClientOptions, 'resolver' | 'fms'> & { shardMaps: AdapterShardMaps } {
  const shardMaps = new AdapterShardMaps({ limits: DEFAULT_LIMITS, clientName: 'tandem-client', ...opts, adapters });
  return {
    shardMaps,
    resolver: shardMaps.resolver('ns'),
    fms: { poolMap: () => shardMaps.poolMap(), target: (shard) => ({ resolver: shardMaps.resolver(shard) }) },
  };
}
