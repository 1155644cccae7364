// The dashboard's driver: once a second it reads the registry from its source (the
// adapter's cache, or ZooKeeper itself through zookeeper-source.ts), asks each shard's
// active for `admin.status` (txids, its standbys' lag, the datanodes it hears), and hands
// both to the pure ClusterHistory. The page reads the result through snapshot().
//
// Polls never overlap: a round that outlasts the interval delays the next one instead of
// piling calls on a slow master. Every call has a deadline, so a round is bounded by
// the source's own bound plus one status deadline (the actives are asked in parallel).

import { TandemError } from '../errors.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import { RpcConnection } from '../rpc/connection.js';
import { parseHostPort } from '../util/address.js';
import type { Logger } from '../util/log.js';
import { memberOfReplica, type ActiveInfo } from '../election/layout.js';
import { ClusterHistory, DEFAULT_HISTORY_LIMITS, type ActiveStatus, type HistoryLimits, type RegistryReading, type StatusResult } from './cluster-history.js';
import type { DashboardSnapshot } from './snapshot.js';

/** Where the registry comes from: the adapter's cache, or a ZooKeeper session (zookeeper-source.ts). */
export interface RegistrySource {
  /** The registry now, or the cache marked stale; never rejects. */
  registry(): RegistryReading | Promise<RegistryReading>;
  close?(): Promise<void>;
}

/** What the dashboard routes read (dashboard-routes.ts). */
export interface DashboardSource {
  snapshot(): DashboardSnapshot;
}

/** Calls `admin.status` on the master at HOST:PORT. */
export type StatusCaller = (rpc: string, deadlineMs: number) => Promise<unknown>;

export interface ClusterWatchOptions {
  source: RegistrySource;
  log: Logger;
  limits?: Partial<HistoryLimits>;
  /** How long an active may take to answer admin.status, ms. */
  statusDeadlineMs?: number;
  /** Default: Tandem RPC, one connection per active kept between polls. */
  callStatus?: StatusCaller;
  /** Wall clock, ms (tests pass their own). */
  clock?: () => number;
}

const STATUS_DEADLINE_MS = 800;

export class ClusterWatch implements DashboardSource {
  private readonly history: ClusterHistory;
  private readonly limits: HistoryLimits;
  private readonly clock: () => number;
  private readonly callStatus: StatusCaller;
  private readonly connections: StatusConnections | null;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = false;
  private wasStale: boolean | null = null;

  constructor(private readonly opts: ClusterWatchOptions) {
    this.limits = { ...DEFAULT_HISTORY_LIMITS, ...opts.limits };
    this.history = new ClusterHistory(this.limits);
    this.clock = opts.clock ?? Date.now;
    this.connections = opts.callStatus ? null : new StatusConnections();
    this.callStatus = opts.callStatus ?? ((rpc, deadlineMs) => this.connections!.call(rpc, deadlineMs));
  }

  /** Polls now, then every pollIntervalMs until stop(). */
  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      this.polling = this.pollOnce()
        .catch((err: unknown) => this.opts.log.error({ err }, `dashboard poll failed: ${(err as Error).message}`))
        .finally(() => {
          this.polling = null;
          if (!this.stopped) this.timer = setTimeout(loop, this.limits.pollIntervalMs);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
    this.connections?.closeAll();
    await this.opts.source.close?.();
  }

  snapshot(): DashboardSnapshot {
    return this.history.snapshot(this.clock());
  }

  /** One round: the registry, then every active's status in parallel. */
  async pollOnce(): Promise<void> {
    const reading = await this.opts.source.registry();
    if (reading.stale !== this.wasStale) {
      if (reading.stale && reading.registry === null) this.opts.log.warn({ error: reading.error }, `registry not readable yet (${reading.error ?? 'no reason given'}): nothing to show until it is`);
      else if (reading.stale) this.opts.log.warn({ ageMs: reading.ageMs, error: reading.error }, `registry unreachable (${reading.error ?? 'no reason given'}): showing the cache, ${Math.round(reading.ageMs / 1000)} s old`);
      else if (this.wasStale !== null) this.opts.log.info('registry readable again: the dashboard is live');
      this.wasStale = reading.stale;
    }
    const actives = Object.entries(reading.registry?.shards ?? {})
      .map(([shard, entry]) => ({ shard, active: (entry.active.current ?? entry.active.lastNotNull) as ActiveInfo | null }))
      .filter((a): a is { shard: string; active: ActiveInfo } => typeof a.active?.rpc === 'string');
    const deadlineMs = this.opts.statusDeadlineMs ?? STATUS_DEADLINE_MS;
    const results = await Promise.all(actives.map(async ({ shard, active }) => [shard, await this.pollActive(active, deadlineMs)] as const));
    this.connections?.keepOnly(new Set(actives.map((a) => a.active.rpc)));
    const failovers = this.history.observe({ atMs: this.clock(), reading, statuses: new Map(results) });
    for (const f of failovers) {
      this.opts.log.warn(f, `${f.shard}: failover ${f.from ?? '?'} → ${f.to}, epoch ${f.fromEpoch ?? '?'} → ${f.toEpoch}${f.noActiveMs === null ? '' : `, no active seen for ${f.noActiveMs} ms`}`);
    }
  }

  private async pollActive(active: ActiveInfo, deadlineMs: number): Promise<StatusResult> {
    try {
      const status = parseActiveStatus(await this.callStatus(active.rpc, deadlineMs));
      if (status.role !== 'active') return { ok: false, error: `${status.member} at ${active.rpc} says it is ${status.role}` };
      return { ok: true, status };
    } catch (err) {
      return { ok: false, error: err instanceof TandemError ? `${err.code}: ${err.message}` : (err as Error).message };
    }
  }
}

/**
 * The fields the dashboard needs from an `admin.status` answer (it came off the wire:
 * checked). Replica ids (`m2#3fa9c1d2`, the ISR's and the replication stream's names) become
 * member names: the page lists members.
 */
export function parseActiveStatus(value: unknown): ActiveStatus {
  const s = value as Record<string, unknown> | null;
  const num = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TandemError('INTERNAL', `admin.status: ${name} is not a number`);
    return v;
  };
  if (typeof s !== 'object' || s === null || typeof s.member !== 'string' || typeof s.role !== 'string') {
    throw new TandemError('INTERNAL', 'admin.status: not a master status (no member or role)');
  }
  const ha = (typeof s.ha === 'object' && s.ha !== null ? s.ha : {}) as { isr?: unknown; followers?: unknown };
  const followers = Array.isArray(ha.followers) ? (ha.followers as Array<Record<string, unknown>>) : [];
  const datanodes = Array.isArray(s.datanodes) ? (s.datanodes as Array<Record<string, unknown>>) : null;
  return {
    member: memberOfReplica(s.member),
    role: s.role,
    epoch: num(s.epoch, 'epoch'),
    appliedTxid: num(s.appliedTxid, 'appliedTxid'),
    committedTxid: num(s.committedTxid, 'committedTxid'),
    isr: Array.isArray(ha.isr) ? ha.isr.filter((m): m is string => typeof m === 'string').map(memberOfReplica) : [],
    followers: followers.map((f) => ({
      member: memberOfReplica(String(f.member)),
      inSync: f.inSync === true,
      connected: f.connected === true,
      durableTxid: num(f.durableTxid, 'followers[].durableTxid'),
      lagTxids: num(f.lagTxids, 'followers[].lagTxids'),
      lagMsP50: typeof f.lagMsP50 === 'number' ? f.lagMsP50 : null,
    })),
    datanodes:
      datanodes?.map((d) => ({
        id: String(d.id),
        http: typeof d.http === 'string' ? d.http : '',
        live: d.live === true,
        capacityBytes: num(d.capacityBytes, 'datanodes[].capacityBytes'),
        usedBytes: num(d.usedBytes, 'datanodes[].usedBytes'),
        replicas: num(d.replicas, 'datanodes[].replicas'),
        lastHeartbeatAgoMs: num(d.lastHeartbeatAgoMs, 'datanodes[].lastHeartbeatAgoMs'),
      })) ?? null,
  };
}

/**
 * One RPC connection per active polled, kept between rounds (a new TCP connection and
 * handshake every second would be most of the work). Bounded by the number of shards:
 * connections to addresses no longer polled are closed after each round.
 */
class StatusConnections {
  private readonly open = new Map<string, Promise<RpcConnection>>();

  async call(rpc: string, deadlineMs: number): Promise<unknown> {
    let connecting = this.open.get(rpc);
    if (!connecting) {
      const { host, port } = parseHostPort(rpc);
      connecting = RpcConnection.connect(host, port, { limits: DEFAULT_LIMITS, clientName: 'dashboard', connectTimeoutMs: deadlineMs });
      this.open.set(rpc, connecting);
      connecting.then(
        (conn) => conn.once('close', () => this.open.get(rpc) === connecting && this.open.delete(rpc)),
        () => this.open.get(rpc) === connecting && this.open.delete(rpc),
      );
    }
    const conn = await connecting;
    return conn.call('admin.status', {}, { deadlineMs });
  }

  keepOnly(addresses: ReadonlySet<string>): void {
    for (const [rpc, connecting] of this.open) {
      if (addresses.has(rpc)) continue;
      this.open.delete(rpc);
      connecting.then((conn) => conn.close(), () => undefined);
    }
  }

  closeAll(): void {
    this.keepOnly(new Set());
  }
}
