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
// The monitor of the active also publishes `/shards/<s>/monitor`, with its last-not-null copy.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import type { Coordinator } from '../election/coordinator.js';
import { shardPaths, type MemberInfo } from '../election/layout.js';
import { isAlive } from '../replication/storage-lock.js';
import { LOCK_FILE } from '../replication/storage-layout.js';
import type { Logger } from '../util/log.js';

/** How often the monitor re-reads which sessions the master holds (and whether it is active). */
const LEARN_INTERVAL_MS = 500;

export interface MonitorOptions {
  shard: string;
  member: string;
  /** The master's storage directory (its lock file names its PID). */
  dir: string;
  connect: () => Promise<Coordinator>;
  log: Logger;
  /** How often the master's PID is checked. */
  pollIntervalMs?: number;
}

export class Monitor {
  private coordinator: Coordinator | null = null;
  private timer: NodeJS.Timeout | null = null;
  private watchedPid: number | null = null;
  /** ZooKeeper sessions seen holding the master's election nodes while it lived. */
  private masterSessions = new Set<string>();
  private busy = false;
  private lastLearnedAt = 0;
  private stopped = false;
  private readonly paths: ReturnType<typeof shardPaths>;

  constructor(private readonly opts: MonitorOptions) {
    this.paths = shardPaths(opts.shard);
  }

  async start(): Promise<void> {
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
      const pid = await this.readPid();
      if (pid !== null && pid !== this.watchedPid && isAlive(pid)) {
        this.opts.log.info({ pid }, `master ${this.opts.member} runs as pid ${pid}`);
        this.watchedPid = pid;
        this.masterSessions = new Set();
      }
      if (this.watchedPid === null) return;
      if (isAlive(this.watchedPid)) {
        // The sessions change only when the master restarts or rejoins: no need to look every poll.
        if (this.masterSessions.size === 0 || Date.now() - this.lastLearnedAt >= LEARN_INTERVAL_MS) {
          this.lastLearnedAt = Date.now();
          await this.learnSessions();
        }
        return;
      }
      const dead = this.watchedPid;
      this.watchedPid = null;
      await this.masterDied(dead);
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
    const mine = await coordinator.get(this.paths.monitor).catch(() => null);
    if (mine?.ephemeralOwner === coordinator.sessionId) return;
    const data = { member: this.opts.member, pid: process.pid };
    if (mine) await coordinator.delete(this.paths.monitor, mine.version).catch(() => undefined);
    await coordinator.create(this.paths.monitor, data, 'ephemeral').catch(() => undefined);
    const last = this.paths.lastNotNull('monitor');
    await coordinator.ensurePath(last.slice(0, last.lastIndexOf('/')));
    await coordinator.set(last, data, -1).catch(async (err: TandemError) => {
      if (err.code === 'COORDINATOR_NO_NODE') await coordinator.create(last, data, 'persistent').catch(() => undefined);
    });
  }

  /** The master's process is gone: remove its session's ephemeral nodes now. */
  private async masterDied(pid: number): Promise<void> {
    const coordinator = await this.ensureSession();
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
    await coordinator.delete(this.paths.monitor, -1).catch(() => undefined);
    this.opts.log.warn(
      { pid, removed },
      removed.length > 0
        ? `master ${this.opts.member} (pid ${pid}) died: removed its ${removed.join(', ')} so the next member takes over now`
        : `master ${this.opts.member} (pid ${pid}) died; it held no ZooKeeper nodes`,
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const coordinator = this.coordinator;
    this.coordinator = null;
    await coordinator?.close();
  }
}
