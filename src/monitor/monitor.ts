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
// If the dead master held `active`, the monitor first records `/shards/<s>/fenced`
// `{member, epoch, pid}`: the active of that epoch is gone, so the next one need not wait out
// its read lease (layout.ts, activeFenced). It declares a death only of the process it
// watched — the PID and, from /proc, its start time, so a reused PID is never taken for it.
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
import type { Coordinator, NodeData } from '../election/coordinator.js';
import { shardPaths, type ActiveInfo, type FencedActive, type MemberInfo } from '../election/layout.js';
import { isAlive, processStartTicks } from '../replication/storage-lock.js';
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

/**
 * How often the master's PID is checked: half of it is, on average, the wait between a death
 * and the monitor's notice, every failover. A check is a signal 0 and two reads of
 * /proc/<pid>/stat (~20 µs), so 50 a second cost nothing to speak of.
 */
const POLL_INTERVAL_MS = 20;

/** A failing step is retried every poll; its warning is logged at most this often. */
const WARN_INTERVAL_MS = 1_000;

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

/** The master process watched: its PID and, where /proc tells, its start time, which tells it from a later process given the same PID. */
interface WatchedProcess {
  pid: number;
  startTicks: string | null;
}

export class Monitor {
  private coordinator: Coordinator | null = null;
  private timer: NodeJS.Timeout | null = null;
  private watched: WatchedProcess | null = null;
  /** ZooKeeper sessions seen holding the master's election nodes while it lived. */
  private masterSessions = new Set<string>();
  /** The master's election nodes seen while it lived, and the other members' (not read again). */
  private masterNodes = new Set<string>();
  private otherNodes = new Set<string>();
  /** When each kind of warning was last logged, and how many were held back since. */
  private readonly warned = new Map<'learn' | 'step', { at: number; heldBack: number }>();
  /** A round of learnSessions under way. */
  private learning: Promise<void> | null = null;
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
      masterAlive: this.watched !== null ? true : this.masterDead ? false : null,
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
      const startedAt = performance.now();
      const records = await readEditsFrom(this.opts.dir, from, { includeInProgress: true, recordsMax: TAIL_RECORDS_MAX });
      const readMs = Math.round(performance.now() - startedAt);
      this.opts.log.info({ from, records: records.length, remote: req.ip, readMs }, `served ${records.length} edits of dead master ${this.opts.member} from txid ${from} (read in ${readMs} ms)`);
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
    const interval = this.opts.pollIntervalMs ?? POLL_INTERVAL_MS;
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

  /**
   * A warning, at most once a second per kind, with how many were held back: a step that
   * fails (ZooKeeper away) is retried every poll, 50 times a second.
   */
  private warnNowAndThen(kind: 'learn' | 'step', message: string): void {
    const now = performance.now();
    const last = this.warned.get(kind) ?? { at: -Infinity, heldBack: 0 };
    if (now - last.at < WARN_INTERVAL_MS) {
      last.heldBack++;
      this.warned.set(kind, last);
      return;
    }
    this.opts.log.warn({ heldBack: last.heldBack }, last.heldBack > 0 ? `${message} (and ${last.heldBack} more since the last warning)` : message);
    this.warned.set(kind, { at: now, heldBack: 0 });
  }

  /** Whether the watched master still runs: its PID is alive and, where /proc tells, is the same process (not a reused PID). */
  private stillRuns(watched: WatchedProcess): boolean {
    return isAlive(watched.pid) && (watched.startTicks === null || processStartTicks(watched.pid) === watched.startTicks);
  }

  private async poll(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      // While the watched master lives, the lock file names it (the storage lock is
      // exclusive): it is read only when no master is watched. Reading it every poll cost
      // each monitor ~3% of a core (an open, read and close through the thread pool, 20 a second).
      if (this.watched === null) {
        const pid = await this.readPid();
        if (pid === null || !isAlive(pid)) return;
        this.opts.log.info({ pid }, `master ${this.opts.member} runs as pid ${pid}`);
        this.watched = { pid, startTicks: processStartTicks(pid) };
        this.masterSessions = new Set();
        this.masterNodes = new Set();
        this.otherNodes = new Set();
        this.masterDead = false;
      }
      const watched = this.watched;
      if (this.stillRuns(watched)) {
        this.lastSeenAliveAt = performance.now();
        // The sessions change only when the master restarts or rejoins: no need to look every
        // poll. Learning runs beside the polls: a slow ZooKeeper read must not delay noticing
        // a death (one took 900 ms under a chaos run's load, and the death waited for it).
        if (!this.learning && (this.masterSessions.size === 0 || performance.now() - this.lastLearnedAt >= LEARN_INTERVAL_MS)) {
          this.lastLearnedAt = performance.now();
          this.learning = this.learnSessions(watched)
            .catch((err: unknown) => this.warnNowAndThen('learn', `could not read the election: ${(err as Error).message}`))
            .finally(() => {
              this.learning = null;
            });
        }
        return;
      }
      // Died before its sessions were ever learned: the learning under way may still find them.
      if (this.masterSessions.size === 0 && this.learning) await this.learning;
      // Cleared only once the nodes are gone: a failure (ZooKeeper away) is retried next poll.
      await this.masterDied(watched);
      this.watched = null;
    } catch (err) {
      this.warnNowAndThen('step', `monitor step failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Remembers which election nodes, and so which sessions, are the master's (one children
   * read, then only the nodes not seen before, at once). What one round saw is kept only if
   * the master still runs after it: a master that died meanwhile may have been restarted,
   * and a node of the new process must never be taken for the dead one's.
   */
  private async learnSessions(watched: WatchedProcess): Promise<void> {
    const coordinator = await this.ensureSession();
    const children = await coordinator.children(this.paths.election);
    const current = new Set(children);
    const fresh = children.filter((node) => !this.masterNodes.has(node) && !this.otherNodes.has(node));
    const infos = await Promise.all(fresh.map((node) => coordinator.get<MemberInfo>(`${this.paths.election}/${node}`).catch(() => null)));
    if (this.watched !== watched || !this.stillRuns(watched)) return;
    for (const [i, node] of fresh.entries()) {
      const info = infos[i];
      if (!info) continue;
      if (info.data.member === this.opts.member && info.ephemeralOwner) {
        this.masterNodes.add(node);
        this.masterSessions.add(info.ephemeralOwner);
      } else {
        this.otherNodes.add(node);
      }
    }
    // Nodes gone from the election are forgotten (bounded by the election's size).
    for (const node of this.otherNodes) if (!current.has(node)) this.otherNodes.delete(node);
    await this.publishIfActive(coordinator);
  }

  private async publishIfActive(coordinator: Coordinator): Promise<void> {
    const [active, mine] = await Promise.all([
      coordinator.get<MemberInfo>(this.paths.active).catch(() => null),
      coordinator.get<MonitorInfo>(this.paths.monitor).catch(() => null),
    ]);
    if (active?.data.member !== this.opts.member) return;
    if (mine?.ephemeralOwner === coordinator.sessionId && mine.data.masterAlive) return;
    const data: MonitorInfo = { member: this.opts.member, pid: process.pid, http: this.httpAddress, masterAlive: true };
    await publishRegistryEntry(coordinator, this.opts.shard, 'monitor', data);
  }

  /**
   * The master's process is gone: remove its sessions' ephemeral nodes now, and if it was the
   * active, say so in `fenced` first (the next active then need not wait out its read lease).
   * Two rounds: the reads at once; then the writes at once, sent in the order ZooKeeper
   * applies them (one session's requests are applied in order): `monitor` says the master
   * is dead and `fenced` names its epoch before the election node whose removal starts the
   * takeover goes. Each of those two is a shortcut only: a takeover that does not see them
   * fetches no tail, or waits the lease out.
   */
  private async masterDied(watched: WatchedProcess): Promise<void> {
    const { pid } = watched;
    const noticedAt = performance.now();
    const coordinator = await this.ensureSession();
    if (!this.masterDead) this.masterDeaths++;
    this.masterDead = true;
    const sessions = this.masterSessions;
    const ours = (node: NodeData<MemberInfo> | null): node is NodeData<MemberInfo> =>
      node !== null && node.data?.member === this.opts.member && node.ephemeralOwner !== null && sessions.has(node.ephemeralOwner);

    const [monitorEntry, active, standby, fenced, children] = await Promise.all([
      coordinator.get<MonitorInfo>(this.paths.monitor).catch(() => null),
      coordinator.get<ActiveInfo>(this.paths.active),
      coordinator.get<MemberInfo>(this.paths.standby),
      coordinator.get<FencedActive>(this.paths.fenced),
      coordinator.children(this.paths.election),
    ]);
    // Nodes that joined since the last learning round are read now (rare: a master that rejoined the line just before dying).
    const unknown = children.filter((node) => !this.masterNodes.has(node) && !this.otherNodes.has(node));
    const unknownInfos = await Promise.all(unknown.map((node) => coordinator.get<MemberInfo>(`${this.paths.election}/${node}`)));
    const electionNodes = [...children.filter((node) => this.masterNodes.has(node)), ...unknown.filter((_, i) => ours(unknownInfos[i] ?? null))];

    const writes: Promise<unknown>[] = [];
    if (monitorEntry && monitorEntry.ephemeralOwner === coordinator.sessionId) {
      writes.push(coordinator.set(this.paths.monitor, { ...monitorEntry.data, masterAlive: false } satisfies MonitorInfo, monitorEntry.version).catch(() => undefined));
    }
    // Only a process known by its start time is declared dead: a bare PID may have been reused.
    const fencedEpoch = ours(active) && watched.startTicks !== null ? active.data.epoch : null;
    if (fencedEpoch !== null) {
      const record: FencedActive = { member: this.opts.member, epoch: fencedEpoch, pid, atMs: Date.now() };
      writes.push(
        (fenced ? coordinator.set(this.paths.fenced, record, -1) : coordinator.create(this.paths.fenced, record, 'persistent')).catch((err: unknown) =>
          this.opts.log.warn({ err: (err as Error).message }, `could not record the death of the active of epoch ${fencedEpoch}: ${(err as Error).message}`),
        ),
      );
    }
    const removed: string[] = [];
    const remove = (name: string, path: string, version: number): Promise<void> =>
      coordinator.delete(path, version).then(
        () => void removed.push(name),
        (err: unknown) => {
          if ((err as TandemError).code !== 'COORDINATOR_NO_NODE') throw err;
        },
      );
    const removals = [
      ...electionNodes.map((node) => remove(node, `${this.paths.election}/${node}`, -1)),
      ...(ours(active) ? [remove('active', this.paths.active, active.version)] : []),
      ...(ours(standby) ? [remove('standby', this.paths.standby, standby.version)] : []),
    ];
    const removalsSettled = Promise.allSettled(removals);
    await Promise.all(writes);
    const failed = (await removalsSettled).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    this.masterSessions = new Set();
    this.masterNodes = new Set();
    this.opts.log.warn(
      { pid, removed, fencedEpoch, seenAliveMsBefore: Math.round(noticedAt - this.lastSeenAliveAt), removeMs: Math.round(performance.now() - noticedAt) },
      removed.length > 0
        ? `master ${this.opts.member} (pid ${pid}) died: removed its ${removed.join(', ')} so the next member takes over now` +
            (fencedEpoch !== null ? `; the active of epoch ${fencedEpoch} is fenced (no read lease to wait out)` : '')
        : `master ${this.opts.member} (pid ${pid}) died; it held no ZooKeeper nodes`,
    );
  }

  /** host:port of its HTTP server (edits of a dead master, /health, /metrics); empty before start(). */
  get http(): string {
    return this.httpAddress;
  }

  /** Healthy while it can do its job: it holds a ZooKeeper session to remove a dead master's nodes with. */
  health(): HealthVerdict {
    const detail = { role: 'monitor', masterAlive: this.watched !== null };
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
