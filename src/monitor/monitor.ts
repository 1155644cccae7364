// `tandem monitor`: runs beside one master and shortens a crash failover from "the ZooKeeper
// session timeout" to "one poll" (DESIGN §2, §4; Peta2's nnmonitor).
//
// It follows the master through its storage lock file (`in_use.lock` holds the PID, and a
// restarted master writes its new PID there), polls that PID, and learns which ZooKeeper
// sessions the master holds (the ephemeralOwner of the election nodes carrying its member
// name). When the PID dies, it deletes the ephemeral nodes of exactly those sessions — the
// election node, and `active`/`standby` if the dead master held them — so the next member
// in line takes over at once instead of waiting for ZooKeeper to expire the session. A
// master restarted meanwhile under the same name has a new session, which is never touched.
//
// The monitor of the active also publishes `/shards/<s>/monitor` `{member, pid, http,
// masterAlive}`, with its last-not-null copy. Once its master is dead it serves the dead
// master's edits, its in-progress segment included ("sealed": read up to the last whole,
// valid record, never written to), at `GET /edits?from=<txid>`: a standby taking over
// fetches from there what it lacks (DESIGN §4, step 3) — the records an async-mode active
// acknowledged alone, or any tail it had not streamed yet.
//
// Its HTTP server also answers `GET /health` (200 while it holds a ZooKeeper session) and
// `GET /metrics` (src/metrics/monitor-metrics.ts).

import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import type { Coordinator } from '../election/coordinator.js';
import { shardPaths, type MemberInfo } from '../election/layout.js';
import { isAlive } from '../replication/storage-lock.js';
import { LOCK_FILE } from '../replication/storage-layout.js';
import type { Logger } from '../util/log.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { encodeRecords, readEditsFrom } from '../replication/edits-transfer.js';
import { parseHostPort } from '../util/address.js';
import { publishRegistryEntry } from '../election/registry-entry.js';
import { monitorMetrics } from '../metrics/monitor-metrics.js';
import { healthRoutes, metricsRoutes, type HealthVerdict } from '../metrics/registry.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { internalHttpGuard } from '../security/http-auth.js';

/** How often the monitor re-reads which sessions the master holds (and whether it is active). */
const LEARN_INTERVAL_MS = 500;

/** Records per `GET /edits` answer from a monitor. */
const TAIL_RECORDS_MAX = 100_000;

export interface MonitorInfo {
  member: string;
  pid: number;
  http: string;
  masterAlive: boolean;
}

export interface MonitorOptions {
  shard: string;
  member: string;
  /** The master's storage directory (its lock file names its PID). */
  dir: string;
  connect: () => Promise<Coordinator>;
  log: Logger;
  /** How often the master's PID is checked. */
  pollIntervalMs?: number;
  /** HOST:PORT to serve the dead master's edits on (default 127.0.0.1, any port). */
  http?: string;
  /** The cluster secret: `GET /edits` answers only requests that prove it. */
  secret?: ClusterSecret | null;
}

export class Monitor {
  private coordinator: Coordinator | null = null;
  private timer: NodeJS.Timeout | null = null;
  private watchedPid: number | null = null;
  /** ZooKeeper sessions seen holding the master's election nodes while it lived. */
  private masterSessions = new Set<string>();
  private busy = false;
  private lastLearnedAt = 0;
  /** performance.now() of the last poll that found the master alive (the death happened after it). */
  private lastSeenAliveAt = 0;
  private stopped = false;
  private readonly paths: ReturnType<typeof shardPaths>;
  private server: FastifyInstance | null = null;
  private httpAddress = '';
  /** The master this monitor watches is dead (and not restarted yet): its edits may be served. */
  private masterDead = false;
  /** Deaths of the master seen since this monitor started (a metric). */
  private masterDeaths = 0;

  constructor(private readonly opts: MonitorOptions) {
    this.paths = shardPaths(opts.shard);
  }

  async start(): Promise<void> {
    const server = Fastify({ logger: false });
    const metrics = monitorMetrics({ shard: this.opts.shard, member: this.opts.member }, () => ({
      masterAlive: this.watchedPid !== null ? true : this.masterDead ? false : null,
      zooKeeperSession: this.coordinator !== null,
      masterDeaths: this.masterDeaths,
    }));
    metricsRoutes(metrics)(server);
    healthRoutes(() => this.health())(server);
    const internal = internalHttpGuard({ secret: this.opts.secret, log: this.opts.log, what: 'monitor' });
    server.get<{ Querystring: { from?: string } }>('/edits', internal, async (req, reply) => {
      const from = Number(req.query.from);
      if (!Number.isSafeInteger(from) || from < 1) return reply.code(400).send({ code: 'INVALID_ARGUMENT', message: `/edits needs from=<txid>` });
      if (!this.masterDead) return reply.code(409).send({ code: 'INVALID_ARGUMENT', message: `master ${this.opts.member} is alive: ask it` });
      const records = await readEditsFrom(this.opts.dir, from, { includeInProgress: true, recordsMax: TAIL_RECORDS_MAX });
      this.opts.log.info({ from, records: records.length, remote: req.ip }, `served ${records.length} edits of dead master ${this.opts.member} from txid ${from}`);
      return reply.header('content-type', 'application/octet-stream').send(encodeRecords(records));
    });
    const { host, port } = this.opts.http ? parseHostPort(this.opts.http) : { host: '127.0.0.1', port: 0 };
    await server.listen({ host, port });
    const bound = server.server.address();
    if (bound === null || typeof bound === 'string') throw new Error('invariant broken: the monitor has no TCP address');
    this.server = server;
    this.httpAddress = `${host}:${bound.port}`;
    await this.ensureSession();
    this.opts.log.info({ member: this.opts.member, dir: this.opts.dir }, `monitoring master ${this.opts.shard}/${this.opts.member} through ${join(this.opts.dir, LOCK_FILE)}`);
    const interval = this.opts.pollIntervalMs ?? 50;
    this.timer = setInterval(() => void this.poll(), interval);
  }

  private async ensureSession(): Promise<Coordinator> {
    if (this.coordinator) return this.coordinator;
    const coordinator = await this.opts.connect();
    coordinator.onSessionEvent((event) => {
      if (event === 'expired' && this.coordinator === coordinator) this.coordinator = null;
    });
    this.coordinator = coordinator;
    return coordinator;
  }

  private async readPid(): Promise<number | null> {
    try {
      const pid = Number((await readFile(join(this.opts.dir, LOCK_FILE), 'utf8')).trim());
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  private async poll(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      // While the watched master lives, the lock file names it (the storage lock is
      // exclusive): it is read only when no master is watched. Reading it every poll cost
      // each monitor ~3% of a core (an open, read and close through the thread pool, 20 a second).
      if (this.watchedPid === null) {
        const pid = await this.readPid();
        if (pid === null || !isAlive(pid)) return;
        this.opts.log.info({ pid }, `master ${this.opts.member} runs as pid ${pid}`);
        this.watchedPid = pid;
        this.masterSessions = new Set();
        this.masterDead = false;
      }
      if (isAlive(this.watchedPid)) {
        this.lastSeenAliveAt = performance.now();
        // The sessions change only when the master restarts or rejoins: no need to look every poll.
        if (this.masterSessions.size === 0 || Date.now() - this.lastLearnedAt >= LEARN_INTERVAL_MS) {
          this.lastLearnedAt = Date.now();
          await this.learnSessions();
        }
        return;
      }
      // Cleared only once the nodes are gone: a failure (ZooKeeper away) is retried next poll.
      await this.masterDied(this.watchedPid);
      this.watchedPid = null;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, `monitor step failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** Remembers which sessions hold the master's election nodes (cheap: one children read, then only new nodes). */
  private async learnSessions(): Promise<void> {
    const coordinator = await this.ensureSession();
    const children = await coordinator.children(this.paths.election).catch(() => [] as string[]);
    for (const node of children) {
      const info = await coordinator.get<MemberInfo>(`${this.paths.election}/${node}`).catch(() => null);
      if (info?.data.member === this.opts.member && info.ephemeralOwner) this.masterSessions.add(info.ephemeralOwner);
    }
    await this.publishIfActive(coordinator);
  }

  private async publishIfActive(coordinator: Coordinator): Promise<void> {
    const active = await coordinator.get<MemberInfo>(this.paths.active).catch(() => null);
    if (active?.data.member !== this.opts.member) return;
    const mine = await coordinator.get<MonitorInfo>(this.paths.monitor).catch(() => null);
    if (mine?.ephemeralOwner === coordinator.sessionId && mine.data.masterAlive) return;
    const data: MonitorInfo = { member: this.opts.member, pid: process.pid, http: this.httpAddress, masterAlive: true };
    await publishRegistryEntry(coordinator, this.opts.shard, 'monitor', data);
  }

  /** The master's process is gone: remove its session's ephemeral nodes now. */
  private async masterDied(pid: number): Promise<void> {
    const noticedAt = performance.now();
    const coordinator = await this.ensureSession();
    if (!this.masterDead) this.masterDeaths++;
    this.masterDead = true;
    // First, if this is the shard's monitor (its master was active), say the master is dead,
    // before its nodes go: the next active then fetches the sealed tail from here.
    const entry = await coordinator.get<MonitorInfo>(this.paths.monitor).catch(() => null);
    if (entry && entry.ephemeralOwner === coordinator.sessionId) {
      await coordinator.set(this.paths.monitor, { ...entry.data, masterAlive: false } satisfies MonitorInfo, entry.version).catch(() => undefined);
    }
    const removed: string[] = [];
    const candidates = [
      ...(await coordinator.children(this.paths.election).catch(() => [] as string[])).map((n) => `${this.paths.election}/${n}`),
      this.paths.active,
      this.paths.standby,
    ];
    for (const path of candidates) {
      const node = await coordinator.get<MemberInfo>(path).catch(() => null);
      if (!node || node.data?.member !== this.opts.member) continue;
      if (!node.ephemeralOwner || !this.masterSessions.has(node.ephemeralOwner)) continue;
      try {
        await coordinator.delete(path, node.version);
        removed.push(path.slice(path.lastIndexOf('/') + 1));
      } catch (err) {
        if ((err as TandemError).code !== 'COORDINATOR_NO_NODE') throw err;
      }
    }
    this.masterSessions = new Set();
    this.opts.log.warn(
      { pid, removed, seenAliveMsBefore: Math.round(noticedAt - this.lastSeenAliveAt), removeMs: Math.round(performance.now() - noticedAt) },
      removed.length > 0
        ? `master ${this.opts.member} (pid ${pid}) died: removed its ${removed.join(', ')} so the next member takes over now`
        : `master ${this.opts.member} (pid ${pid}) died; it held no ZooKeeper nodes`,
    );
  }

  /** host:port of its HTTP server (edits of a dead master, /health, /metrics); empty before start(). */
  get http(): string {
    return this.httpAddress;
  }

  /** Healthy while it can do its job: it holds a ZooKeeper session to remove a dead master's nodes with. */
  health(): HealthVerdict {
    const detail = { role: 'monitor', masterAlive: this.watchedPid !== null };
    if (this.stopped) return { ok: false, reason: 'stopping', detail };
    if (this.coordinator === null) return { ok: false, reason: 'no ZooKeeper session', detail };
    return { ok: true, detail };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.server?.close();
    const coordinator = this.coordinator;
    this.coordinator = null;
    await coordinator?.close();
  }
}
