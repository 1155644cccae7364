// A datanode's links to the file-metadata shards (DESIGN §6, docs/data-path.md): it learns
// every FMS shard from the pool map and every member of each (active and standbys) from
// the shard's election nodes, through ZooKeeper watches, and keeps one link per member:
// a heartbeat every second, a full block report when the member asks for one (it does
// after it starts, or when it has not heard from this datanode), and incremental reports
// of replicas received and deleted. Commands come back in heartbeat replies; they are
// obeyed only from an active whose epoch is the highest this datanode has seen for that
// shard, so a deposed active cannot delete or copy anything.
//
// "Seen" means: in any member's heartbeat answer (actives and standbys say the epoch they
// serve or follow), and in ZooKeeper's epoch counter `/shards/<s>/epoch`, read with a watch.
// A new active raises the counter before it serves, so a deposed active that still believes
// it is active is refused even before the datanode has heard from its successor.
//
// Commands are handed to `execute`, which runs them in the background: heartbeats must go
// on while a block is copied, and each one says how many copies are under way so the FMS
// can throttle re-replication. A copy that did not land (noteCopyFailed) goes in the next
// heartbeat to the member that handed it out, until a heartbeat carrying it is answered
// (src/datanode/copy-failures.ts): the member schedules the block again at once.

import { randomUUID } from 'node:crypto';
import type { TandemError } from '../errors.js';
import type { Coordinator, Watcher } from '../election/coordinator.js';
import { shardPaths, type MemberInfo } from '../election/layout.js';
import { readPoolMap } from '../election/pool-map.js';
import type { Limits } from '../config/limits.js';
import { LazySession } from '../election/lazy-session.js';
import { SerialTask } from '../util/serial-task.js';
import { RpcConnection } from '../rpc/connection.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { parseHostPort } from '../util/address.js';
import type { Logger } from '../util/log.js';
import type { DatanodeCommand } from '../filemeta/block-map.js';
import type { ReplicaInfo } from './block-store.js';
import { CopyFailures, memberKey, type CopyFailure } from './copy-failures.js';

export interface DatanodeIdentity {
  id: string;
  rpc: string;
  data: string;
  http: string;
}

/** A command from an FMS active: what its block map hands out, as it arrives over the wire. */
export type FmsCommand = DatanodeCommand;

export interface FmsLinksOptions {
  self: DatanodeIdentity;
  connect: () => Promise<Coordinator>;
  limits: Limits;
  log: Logger;
  /** This datanode's replicas now. */
  replicas: () => ReplicaInfo[];
  capacity: () => { capacityBytes: number; usedBytes: number };
  /** Takes a command of `member`, the newest active of `shard`; runs it in the background (returns at once). */
  execute: (shard: string, command: FmsCommand, member: string) => void;
  /** Copies running or waiting here (sent with every heartbeat). */
  copiesInProgress?: () => number;
  /** Replicas waiting to be deleted here (sent with every heartbeat). */
  deletesInProgress?: () => number;
  heartbeatIntervalMs?: number;
  /** The cluster secret: this datanode proves it to every FMS member, and obeys only members that prove it back. */
  secret?: ClusterSecret | null;
}

/** Replicas in one page of a full report (the FMS bounds a message at 50,000). */
const REPORT_PAGE_REPLICAS = 20_000;
/** Incremental changes queued per member; past it the member gets a full report instead. */
const INCREMENTAL_QUEUE_MAX = 50_000;
const MEMBER_REFRESH_MS = 2_000;

/** The shard a block belongs to: its id is `<shard>_<seq>`. */
export function shardOfBlock(blockId: string): string {
  return blockId.slice(0, blockId.lastIndexOf('_'));
}

export class FmsLinks {
  /** shard → member name → link */
  private readonly links = new Map<string, Map<string, MemberLink>>();
  /** The highest epoch seen per shard (heartbeat answers, ZooKeeper's counter): commands from below it are ignored. */
  private readonly highestEpoch = new Map<string, number>();
  /** Watches died with an expired session: the next refresh sets them again. */
  private readonly session: LazySession;
  /** Reads of the members, one at a time; a watch firing during one asks for one more. */
  private readonly refreshes: SerialTask;
  private refreshTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private shards: string[] = [];
  /** Paths (a shard's election node, its epoch counter) carrying a watch that has not fired yet: one at a time each. */
  private readonly watched = new Set<string>();
  /** Copies that did not land, owed to the members that handed them out. */
  readonly copyFailures: CopyFailures;

  constructor(private readonly opts: FmsLinksOptions) {
    this.copyFailures = new CopyFailures(opts.log);
    this.session = new LazySession(opts.connect, () => this.watched.clear());
    this.refreshes = new SerialTask(
      () => this.refresh(),
      (err) => this.opts.log.warn({ err }, `could not read the FMS members from ZooKeeper (kept the ones known): ${(err as Error).message}`),
    );
  }

  async start(): Promise<void> {
    await this.refreshes.run();
    this.refreshTimer = setInterval(() => void this.refreshes.run(), MEMBER_REFRESH_MS);
    this.refreshTimer.unref();
  }

  /** A replica was finalized or deleted here: tell every member of its shard. */
  noteReceived(replica: ReplicaInfo): void {
    for (const link of this.links.get(shardOfBlock(replica.blockId))?.values() ?? []) link.queueReceived(replica);
  }

  noteDeleted(blockId: string): void {
    for (const link of this.links.get(shardOfBlock(blockId))?.values() ?? []) link.queueDeleted(blockId);
  }

  /** Copies `member` of `shard` asked for did not land: it hears of them in its next heartbeat. */
  noteCopyFailed(shard: string, member: string, failures: readonly CopyFailure[]): void {
    if (this.links.get(shard)?.get(member) === undefined) return; // it left: nobody to tell
    for (const failure of failures) this.copyFailures.add(memberKey(shard, member), failure);
  }

  /** Links to members (for status): shard → member → last heartbeat answer. */
  status(): Record<string, Record<string, { rpc: string; active: boolean; epoch: number; lastHeartbeatMsAgo: number | null }>> {
    const out: ReturnType<FmsLinks['status']> = {};
    for (const [shard, members] of this.links) {
      out[shard] = {};
      for (const [member, link] of members) out[shard][member] = link.summary();
    }
    return out;
  }

  private async refresh(): Promise<void> {
    if (this.stopped) return;
    const coordinator = await this.session.get();
    if (this.shards.length === 0) this.shards = (await readPoolMap(coordinator))?.shards ?? [];
    for (const shard of this.shards) await this.refreshShard(coordinator, shard);
  }

  private async refreshShard(coordinator: Coordinator, shard: string): Promise<void> {
    await this.readEpoch(coordinator, shard);
    const election = shardPaths(shard).election;
    const watch = this.watchOf(election);
    let nodes: string[];
    try {
      nodes = await coordinator.children(election, watch);
    } catch (err) {
      if (watch) this.watched.delete(election);
      // No election node yet: the shard has no members. Any other failure says nothing
      // about them: keep the links known (refresh logs it and tries again later).
      if ((err as TandemError).code !== 'COORDINATOR_NO_NODE') throw err;
      nodes = [];
    }
    const members = new Map<string, MemberInfo>();
    for (const node of nodes) {
      const info = (await coordinator.get<MemberInfo>(`${election}/${node}`))?.data;
      if (info?.member && info.rpc) members.set(info.member, info);
    }
    let known = this.links.get(shard);
    if (!known) this.links.set(shard, (known = new Map()));
    for (const [member, link] of known) {
      const now = members.get(member);
      if (!now || now.rpc !== link.rpc) {
        link.stop();
        known.delete(member);
        this.copyFailures.forget(memberKey(shard, member));
        this.opts.log.info({ shard, member }, `${shard}/${member} left; no more heartbeats to it`);
      }
    }
    for (const [member, info] of members) {
      if (known.has(member)) continue;
      const link = new MemberLink(shard, member, info.rpc, this.opts, {
        note: (epoch) => this.noteEpoch(shard, epoch),
        highest: () => this.highestEpoch.get(shard) ?? 0,
      }, this.copyFailures);
      known.set(member, link);
      this.opts.log.info({ shard, member, rpc: info.rpc }, `found ${shard}/${member} at ${info.rpc}: heartbeats and block reports go to it`);
      link.start();
    }
  }

  /** The shard's epoch counter in ZooKeeper, watched: a takeover raises it before the new active serves. */
  private async readEpoch(coordinator: Coordinator, shard: string): Promise<void> {
    const path = shardPaths(shard).epoch;
    const watch = this.watchOf(path);
    try {
      const counter = await coordinator.get<number>(path, watch);
      if (typeof counter?.data === 'number') this.noteEpoch(shard, counter.data);
    } catch (err) {
      if (watch) this.watched.delete(path);
      throw err;
    }
  }

  /** A watch on `path` that refreshes, unless one is outstanding (the periodic refresh reads without adding more). */
  private watchOf(path: string): Watcher | undefined {
    if (this.watched.has(path)) return undefined;
    this.watched.add(path);
    return () => {
      this.watched.delete(path);
      void this.refreshes.run();
    };
  }

  /** Raises the highest epoch seen for `shard`. */
  private noteEpoch(shard: string, epoch: number): void {
    const highest = this.highestEpoch.get(shard) ?? 0;
    if (epoch <= highest) return;
    this.highestEpoch.set(shard, epoch);
    if (highest > 0) this.opts.log.info({ shard, epoch, was: highest }, `${shard} is at epoch ${epoch} (was ${highest}): commands only from its active now`);
  }

  /** The highest epoch seen per shard (for status and tests). */
  epochs(): Record<string, number> {
    return Object.fromEntries(this.highestEpoch);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    for (const members of this.links.values()) for (const link of members.values()) link.stop();
    this.links.clear();
    await this.session.close();
  }
}

/** Heartbeats and reports to one member of one FMS shard. */
class MemberLink {
  private connection: RpcConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Heartbeats one at a time; one asked for while another runs comes right after it. */
  private readonly beats = new SerialTask(
    () => this.beat(),
    () => undefined, // beat() handles its own failures
  );
  private stopped = false;
  private received: ReplicaInfo[] = [];
  private deleted: string[] = [];
  /** Too many queued changes were dropped: the member needs a full report. */
  private overflowed = false;
  private lastAnswer: { active: boolean; epoch: number; at: number } | null = null;
  private failing = false;
  /** This link sent the member a whole report: until then it sends one whatever the member says (this datanode may have restarted). */
  private reportedOnce = false;

  constructor(
    private readonly shard: string,
    private readonly member: string,
    readonly rpc: string,
    private readonly opts: FmsLinksOptions,
    private readonly epochs: { note(epoch: number): void; highest(): number },
    private readonly copyFailures: CopyFailures,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.beats.run(), this.opts.heartbeatIntervalMs ?? 1_000);
    this.timer.unref();
    void this.beats.run();
  }

  queueReceived(replica: ReplicaInfo): void {
    if (this.received.length + this.deleted.length >= INCREMENTAL_QUEUE_MAX) this.overflowed = true;
    else this.received.push(replica);
    // A finished block is reported at once (not at the next heartbeat): the writer's
    // complete waits for it, and readers look for it right after.
    void this.beats.run();
  }

  queueDeleted(blockId: string): void {
    if (this.received.length + this.deleted.length >= INCREMENTAL_QUEUE_MAX) this.overflowed = true;
    else this.deleted.push(blockId);
  }

  summary(): { rpc: string; active: boolean; epoch: number; lastHeartbeatMsAgo: number | null } {
    return { rpc: this.rpc, active: this.lastAnswer?.active ?? false, epoch: this.lastAnswer?.epoch ?? 0, lastHeartbeatMsAgo: this.lastAnswer ? Date.now() - this.lastAnswer.at : null };
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      const connection = await this.connect();
      const key = memberKey(this.shard, this.member);
      const owed = this.copyFailures.owedTo(key);
      const answer = await connection.call<{ epoch: number; active: boolean; needFullReport: boolean; commands: FmsCommand[] }>(
        'dn.heartbeat',
        {
          ...this.opts.self,
          ...this.opts.capacity(),
          epoch: this.epochs.highest(),
          copiesInProgress: this.opts.copiesInProgress?.() ?? 0,
          deletesInProgress: this.opts.deletesInProgress?.() ?? 0,
          // Only when there are some: a member that predates the field ignores it, one that knows it defaults it.
          ...(owed.failures.length > 0 ? { copyFailures: owed.failures } : {}),
        },
        { deadlineMs: 5_000 },
      );
      // Answered: the member has them (a heartbeat that failed sends them again next time).
      if (owed.failures.length > 0) this.copyFailures.acknowledge(key, owed.throughSeq);
      this.lastAnswer = { active: answer.active, epoch: answer.epoch, at: Date.now() };
      this.epochs.note(answer.epoch);
      if (this.failing) this.opts.log.info({ shard: this.shard, member: this.member }, `${this.shard}/${this.member} answers heartbeats again`);
      this.failing = false;
      // Commands first: the member has handed them out already, and a report that fails
      // below must not lose them (a lost copy would wait out the FMS's pending timeout).
      if (answer.commands.length > 0) {
        const highest = this.epochs.highest();
        if (answer.active && answer.epoch >= highest) {
          for (const command of answer.commands) this.opts.execute(this.shard, command, this.member);
        } else {
          this.opts.log.warn(
            { shard: this.shard, member: this.member, epoch: answer.epoch, highest, active: answer.active },
            `ignored ${answer.commands.length} commands from ${this.shard}/${this.member}: its epoch ${answer.epoch} is not the newest active's (${highest})`,
          );
        }
      }
      if (answer.needFullReport || this.overflowed || !this.reportedOnce) await this.fullReport(connection);
      else await this.incrementalReport(connection);
    } catch (err) {
      this.connection?.close();
      this.connection = null;
      // Said once when a member stops answering, then quietly until it answers again.
      const level = this.failing ? 'debug' : 'warn';
      this.failing = true;
      this.opts.log[level]({ err, shard: this.shard, member: this.member }, `heartbeat to ${this.shard}/${this.member} failed: ${(err as Error).message}`);
    }
  }

  private async fullReport(connection: RpcConnection): Promise<void> {
    const mine = this.opts.replicas().filter((r) => shardOfBlock(r.blockId) === this.shard);
    // Changes queued before the report are in it (it reads the store now).
    this.received = [];
    this.deleted = [];
    this.overflowed = false;
    const reportId = randomUUID();
    const pages = Math.max(1, Math.ceil(mine.length / REPORT_PAGE_REPLICAS));
    try {
      for (let page = 0; page < pages; page++) {
        const replicas = mine.slice(page * REPORT_PAGE_REPLICAS, (page + 1) * REPORT_PAGE_REPLICAS).map(wireReplica);
        await connection.call('dn.blockReport', { id: this.opts.self.id, reportId, page, last: page === pages - 1, replicas }, { deadlineMs: 30_000 });
      }
    } catch (err) {
      // Not delivered whole: send it again next time (what changed meanwhile is in it then).
      this.overflowed = true;
      throw err;
    }
    this.reportedOnce = true;
    this.opts.log.info({ shard: this.shard, member: this.member, replicas: mine.length }, `sent a full block report to ${this.shard}/${this.member}: ${mine.length} replicas`);
  }

  private async incrementalReport(connection: RpcConnection): Promise<void> {
    if (this.received.length === 0 && this.deleted.length === 0) return;
    const received = this.received;
    const deleted = this.deleted;
    this.received = [];
    this.deleted = [];
    try {
      await connection.call('dn.incrementalReport', { id: this.opts.self.id, received: received.map(wireReplica), deleted }, { deadlineMs: 10_000 });
    } catch (err) {
      // Not delivered: the member gets a full report next time instead.
      this.overflowed = true;
      throw err;
    }
  }

  private async connect(): Promise<RpcConnection> {
    if (this.connection && !this.connection.closed) return this.connection;
    const { host, port } = parseHostPort(this.rpc);
    this.connection = await RpcConnection.connect(host, port, { limits: this.opts.limits, clientName: `datanode ${this.opts.self.id}`, secret: this.opts.secret ?? null });
    // A new connection may reach a restarted member: it asks for a full report if it needs one.
    return this.connection;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.connection?.close();
    this.connection = null;
  }
}

function wireReplica(r: ReplicaInfo): { blockId: string; genStamp: number; length: number; finalized: boolean } {
  return { blockId: r.blockId, genStamp: r.genStamp, length: r.length, finalized: r.finalized };
}
