// One master's part in its shard's high availability (DESIGN §3–§5): the election, the
// standby's end of the replication stream, the takeover, the in-sync set and fencing.
//
// A member joins the election with an ephemeral sequential node and watches only its
// predecessor. The lowest member takes over if it is in the ISR: it raises the ISR's epoch
// and the epoch counter with version-checked writes, promises the new epoch locally (so the
// old active's records are refused from now on), waits out the old active's read lease,
// writes the epoch-start record and publishes `active`. Every other member is a standby:
// it takes records only from the active of the highest epoch it has promised.
//
// A deposed active (a standby refused its epoch, its ISR write lost to a newer epoch, or its
// session expired) stops serving at once, and rejoins at the back of the line as a standby;
// the new active tells it where to truncate the tail nobody acknowledged.
//
// ZooKeeper being unreachable is not a reason to stop: the active keeps serving while its
// in-sync standbys confirm its epoch (the read lease, the commit acks), and no takeover can
// happen without ZooKeeper.

import { performance } from 'node:perf_hooks';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import type { Coordinator, NodeData } from '../election/coordinator.js';
import {
  activeFenced,
  decideTakeover,
  electionPosition,
  type FencedActive,
  memberOfReplica,
  replicaId,
  shardPaths,
  type ActiveInfo,
  type IsrData,
  HANDOVER_HINT_TTL_MS,
  type HandoverHint,
  type MemberInfo,
  type RegistryEntry,
} from '../election/layout.js';
import { Replicator, type HelloReply } from '../replication/replicator.js';
import { chooseContinuation } from '../replication/rules.js';
import type { EpochStart } from '../replication/epoch-history.js';
import { fetchImage, uploadImage } from '../replication/image-server.js';
import { concatRecordsUpTo, fetchEdits, fetchTailOverRpc, readEditsFrom, warmUpHttpClient } from '../replication/edits-transfer.js';
import { decodeRecordBatch, encodeRecord } from '../replication/record-codec.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { publishRegistryEntry } from '../election/registry-entry.js';
import type { MonitorInfo } from '../monitor/monitor.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplicationEngine } from '../replication/engine.js';
import type { EditRecord } from '../replication/state-machine.js';
import { runVerify, type VerifyReport } from './verify.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyEngine = ReplicationEngine<any, any, any>;

/** What the member needs from the master process that hosts it. */
export interface MemberHost {
  engine(): AnyEngine;
  /** Closes the engine, cuts the storage after `txid`, and opens it again as a follower. */
  truncateAndReopen(txid: number): Promise<void>;
  /** Replaces the storage with an image from the active (a standby too far behind) and reopens. */
  installImage(bytes: Buffer, txid: number, epochs: readonly EpochStart[]): Promise<void>;
}

export interface HaMemberOptions {
  shard: string;
  self: MemberInfo;
  limits: Limits;
  log: Logger;
  /** Makes a new ZooKeeper session (again after an expiry). */
  connect: () => Promise<Coordinator>;
  /** Synchronous commit (default) or Peta2's async mode: ack after the local fsync only. */
  commitMode?: 'sync' | 'async';
  /** The cluster secret: proved to standbys (replication), the active's image server and monitors. */
  secret?: ClusterSecret | null;
}

export type MemberRole = 'joining' | 'standby' | 'taking-over' | 'active' | 'stopped';

const REQUEUE_DELAY_MS = 1_000;
/** A takeover waits at most this long for the dead active's tail from its monitor (async mode: acknowledged writes may be there)... */
const TAIL_FETCH_TIMEOUT_MS = 1_000;
/** ...and this long in sync mode, where the tail holds only records nobody acknowledged: worth keeping, not worth a long wait. */
const TAIL_FETCH_TIMEOUT_SYNC_MS = 200;

/**
 * When each step of a takeover ended, in ms since the election watch that started it fired
 * (or since the takeover began, when no watch did: a first start). For the takeover's log line.
 */
class TakeoverPhases {
  private readonly startedAt: number;
  readonly ms: Record<string, number> = {};

  constructor(watchFiredAt: number | null) {
    const now = performance.now();
    // A watch that fired long ago (a retry after a failure) says nothing about this takeover.
    this.startedAt = watchFiredAt !== null && now - watchFiredAt < 60_000 ? watchFiredAt : now;
    this.ms.started = Math.round(now - this.startedAt);
  }

  /** Wall-clock ms (Date.now() scale) of the start, to read the phases against other processes' logs. */
  get startedAtMs(): number {
    return Math.round(performance.timeOrigin + this.startedAt);
  }

  mark(step: string): void {
    this.ms[step] = Math.round(performance.now() - this.startedAt);
  }

  describe(): string {
    return Object.entries(this.ms)
      .map(([step, ms]) => `${step} ${ms}`)
      .join(', ');
  }
}

export class HaMember {
  private coordinator: Coordinator | null = null;
  private electionNode: string | null = null;
  private role: MemberRole = 'joining';
  private replicator: Replicator | null = null;
  private isrVersion = -1;
  private isrMembers: string[] = [];
  private isrWrite: Promise<void> = Promise.resolve();
  /** ISR changes queued on isrWrite ("add m2#…"), so a slow ZooKeeper does not grow the queue. */
  private readonly isrChangesQueued = new Set<string>();
  /** performance.now() of the last message from an active: a takeover waits out its read lease from here. */
  // Starts at process start: a standby restarted within a lease of its last acknowledgement
  // to an active must still wait that lease out before it takes over.
  private lastHeardFromActiveAt = performance.now();
  /** Some active has reached this member since it started (else lastHeardFromActiveAt is only the start). */
  private heardFromActive = false;
  /** The active released this standby from the lease wait (graceful hand-over). */
  private leaseReleased = false;
  /** The epoch whose active this standby follows; records from others are refused by the engine. */
  private followingEpoch = 0;
  /** The image server of the active this standby follows (checkpoints go there). */
  private activeHttp: string | null = null;
  private firstStandby = false;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private verifyTimer: NodeJS.Timeout | null = null;
  private verifying: Promise<VerifyReport> | null = null;
  private checkpointing = false;
  private lastCheckpointAt = performance.now();
  private truncating: Promise<void> | null = null;
  private evaluating = false;
  private evaluateFailures = 0;
  private zkSilenceTimer: NodeJS.Timeout | null = null;
  /** Set while a graceful hand-over drains: the master refuses new calls with NOT_ACTIVE. */
  handingOver = false;
  private evaluateAgain = false;
  /** performance.now() when a watch on the election last fired (null: none yet). */
  private electionChangedAt: number | null = null;
  private stopped = false;
  private readonly paths: ReturnType<typeof shardPaths>;
  private readonly log: Logger;

  constructor(
    private readonly host: MemberHost,
    private readonly opts: HaMemberOptions,
  ) {
    this.paths = shardPaths(opts.shard);
    this.log = opts.log;
  }

  get currentRole(): MemberRole {
    return this.role;
  }

  get member(): string {
    return this.opts.self.member;
  }

  /** This member's identity in the ISR (name and storage id). */
  private get replica(): string {
    return replicaId(this.opts.self);
  }

  /** Connects to ZooKeeper and joins the election. */
  async start(): Promise<void> {
    if (this.opts.self.http) warmUpHttpClient(this.opts.self.http);
    await this.newSession();
    const every = Math.max(1_000, Math.min(10_000, Math.floor(this.opts.limits.checkpointIntervalMs / 6)));
    this.checkpointTimer = setInterval(() => void this.maybeCheckpoint(), every);
    this.checkpointTimer.unref();
    if (this.opts.limits.verifyIntervalMs > 0) {
      this.verifyTimer = setInterval(() => {
        if (this.role !== 'active' || this.handingOver) return;
        this.verifyNow('schedule').catch((err: unknown) => this.log.warn({ err: (err as Error).message }, `scheduled verify failed: ${(err as Error).message}`));
      }, this.opts.limits.verifyIntervalMs);
      this.verifyTimer.unref();
    }
  }

  /**
   * On the active: journals a @verify marker and compares every standby's digest at it with
   * this member's; a standby that disagrees re-bootstraps from this active's image (verify.ts).
   * One run at a time: a second call joins the running one.
   */
  verifyNow(by: string): Promise<VerifyReport> {
    const replicator = this.replicator;
    if (this.role !== 'active' || !replicator) return Promise.reject(new TandemError('NOT_ACTIVE', `${this.member} is not active`));
    this.verifying ??= runVerify(
      {
        shard: this.opts.shard,
        member: this.member,
        engine: () => this.host.engine(),
        followers: () => replicator.progress().map((p) => ({ ...p, member: memberOfReplica(p.member) })),
        epoch: replicator.epoch,
        http: this.opts.self.http ?? '',
        limits: this.opts.limits,
        log: this.log,
        secret: this.opts.secret ?? null,
      },
      by,
    ).finally(() => {
      this.verifying = null;
    });
    return this.verifying;
  }

  /**
   * The first standby checkpoints (DESIGN §3): an image every checkpointIntervalMs or
   * checkpointTxids, saved here and uploaded to the active, so the active never pauses.
   */
  private async maybeCheckpoint(): Promise<void> {
    if (this.checkpointing || this.role !== 'standby' || !this.firstStandby || !this.activeHttp || this.truncating) return;
    const engine = this.host.engine();
    const { appliedTxid, imageTxid } = engine.status();
    const due =
      appliedTxid - imageTxid >= this.opts.limits.checkpointTxids ||
      (appliedTxid > imageTxid && performance.now() - this.lastCheckpointAt >= this.opts.limits.checkpointIntervalMs);
    if (!due) return;
    this.checkpointing = true;
    try {
      await this.checkpointNow();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, `checkpoint failed: ${(err as Error).message}`);
    } finally {
      this.checkpointing = false;
    }
  }

  /** Saves an image here and uploads it to the active. */
  async checkpointNow(): Promise<{ txid: number; bytes: number; uploaded: boolean }> {
    const engine = this.host.engine();
    const http = this.activeHttp;
    if (this.role !== 'standby' || !http) throw new TandemError('NOT_ACTIVE', `${this.member} is not a standby following an active`);
    const saved = await engine.saveImage();
    this.lastCheckpointAt = performance.now();
    const bytes = await readFile(join(engine.dir, saved.file));
    const { stored } = await uploadImage(http, saved.txid, this.followingEpoch, bytes, this.opts.secret ?? null);
    this.log.info(
      { txid: saved.txid, bytes: saved.bytes, stored },
      `checkpoint at txid ${saved.txid} (${saved.bytes} bytes) ${stored ? 'uploaded to' : 'already at'} the active`,
    );
    return { txid: saved.txid, bytes: saved.bytes, uploaded: stored };
  }

  private async newSession(): Promise<void> {
    const coordinator = await this.opts.connect();
    this.coordinator = coordinator;
    coordinator.onSessionEvent((event) => {
      if (coordinator !== this.coordinator) return;
      if (event === 'expired') void this.onSessionExpired();
      if (event === 'disconnected' && this.role === 'active') {
        if (this.opts.commitMode === 'async') {
          // Async mode has no standby acknowledgements to fence it: without ZooKeeper for most
          // of the session timeout, a new active may exist, so this one stops (DESIGN §3).
          const limitMs = Math.floor((coordinator.sessionTimeoutMs * 2) / 3);
          this.log.warn(`lost ZooKeeper; async mode: stops serving in ${limitMs} ms unless it comes back`);
          this.zkSilenceTimer = setTimeout(() => void this.depose(`no ZooKeeper for ${limitMs} ms in async mode`), limitMs);
          this.zkSilenceTimer.unref();
        } else {
          this.log.warn('lost ZooKeeper; still active while the in-sync standbys confirm the epoch');
        }
      }
      if (event === 'connected' && this.zkSilenceTimer) {
        clearTimeout(this.zkSilenceTimer);
        this.zkSilenceTimer = null;
      }
    });
    for (const path of [this.paths.election, this.paths.root]) await coordinator.ensurePath(path);
    await this.join();
  }

  private async join(): Promise<void> {
    const coordinator = this.coordinator!;
    // A create that timed out may still have made a node, and a node of ours left behind
    // would sit in line forever (its session lives): remove every node this session owns.
    for (const node of await coordinator.children(this.paths.election)) {
      const info = await coordinator.get(`${this.paths.election}/${node}`).catch(() => null);
      if (info && info.ephemeralOwner === coordinator.sessionId) await coordinator.delete(`${this.paths.election}/${node}`, -1).catch(() => undefined);
    }
    const created = await coordinator.create(`${this.paths.election}/n_`, this.opts.self, 'ephemeral-sequential');
    this.electionNode = created.slice(created.lastIndexOf('/') + 1);
    this.role = 'standby';
    this.log.info({ node: this.electionNode }, `joined election of shard ${this.opts.shard} as ${this.electionNode}`);
    await this.evaluate();
  }

  /** A watch on the election fired: note when (a takeover's log says how long it took from here), and look again. */
  private onElectionChanged(): void {
    this.electionChangedAt = performance.now();
    void this.evaluate();
  }

  /** Re-reads the election and acts on this member's place in it. Serialized; a call during a run reruns it. */
  private async evaluate(): Promise<void> {
    if (this.evaluating) {
      this.evaluateAgain = true;
      return;
    }
    this.evaluating = true;
    try {
      do {
        this.evaluateAgain = false;
        await this.evaluateOnce();
      } while (this.evaluateAgain && !this.stopped);
      this.evaluateFailures = 0;
    } catch (err) {
      const error = err as TandemError;
      // Backs off while ZooKeeper is away (200 ms doubling to 5 s), and says so once in a while, not 5 times a second.
      const delayMs = Math.min(5_000, 200 * 2 ** Math.min(this.evaluateFailures, 5));
      if (this.evaluateFailures % 10 === 0) {
        this.log.warn({ err: error.message, code: error.code, failures: this.evaluateFailures + 1 }, `election step failed: ${error.message}; retrying in ${delayMs} ms`);
      }
      this.evaluateFailures++;
      if (this.role === 'taking-over') this.role = 'standby';
      setTimeout(() => void this.evaluate(), delayMs).unref();
    } finally {
      this.evaluating = false;
    }
  }

  private async evaluateOnce(): Promise<void> {
    if (this.stopped || this.role === 'active' || !this.coordinator) return;
    if (!this.electionNode) {
      // Not in line (requeued, or a join that failed): join now.
      await this.join();
      return;
    }
    const coordinator = this.coordinator;
    const children = await coordinator.children(this.paths.election, () => this.onElectionChanged());
    const position = electionPosition(children, this.electionNode);
    if (!position) {
      // Our node is gone (a monitor removed it, or the session changed): join again.
      this.log.warn({ node: this.electionNode }, `election node ${this.electionNode} is gone; joining again`);
      this.electionNode = null;
      await this.join();
      return;
    }
    if (position.rank === 0) {
      await this.takeOver(position.sorted);
      return;
    }
    const predecessor = position.predecessor!;
    const exists = await coordinator.get(`${this.paths.election}/${predecessor}`, () => this.onElectionChanged());
    if (!exists) {
      this.evaluateAgain = true;
      return;
    }
    const first = position.rank === 1;
    this.firstStandby = first;
    this.log.info(
      { node: this.electionNode, rank: position.rank, watching: predecessor },
      `election: ${this.electionNode} is ${first ? 'first standby' : `standby #${position.rank}`}, watching ${predecessor}`,
    );
    if (first) await this.publish('standby', this.opts.self);
  }

  private async takeOver(sorted: string[]): Promise<void> {
    const coordinator = this.coordinator!;
    // How long each step took, for the log line that ends the takeover (ms since the watch fired).
    const phases = new TakeoverPhases(this.electionChangedAt);
    // A truncation or image install ordered by the old active finishes first: it swaps the engine.
    if (this.truncating) await this.truncating.catch(() => undefined);
    const engine = this.host.engine();
    const me = this.replica;
    this.role = 'taking-over';
    // 1. Only an in-sync member may take over: it holds every committed record. Everything
    //    the takeover reads, it reads at once (each read is a round trip to ZooKeeper).
    const electionNode = (node: string): Promise<NodeData<MemberInfo> | null> => coordinator.get<MemberInfo>(`${this.paths.election}/${node}`);
    const [isrRead, counter, hint, fenced, monitor, lastActive, electionInfos] = await Promise.all([
      coordinator.get<IsrData>(this.paths.isr),
      coordinator.get<number>(this.paths.epoch),
      coordinator.get<HandoverHint>(this.paths.handover),
      coordinator.get<FencedActive>(this.paths.fenced),
      coordinator.get<MonitorInfo>(this.paths.monitor).catch(() => null),
      coordinator.get<ActiveInfo>(this.paths.lastNotNull('active')).catch(() => null),
      Promise.all(sorted.map(electionNode)),
    ]);
    let isr = isrRead;
    if (!isr) {
      try {
        await coordinator.create(this.paths.isr, { epoch: 0, members: [me] } satisfies IsrData, 'persistent');
        this.log.info(`no in-sync set yet: a new shard; ${me} is its first member`);
      } catch (err) {
        if ((err as TandemError).code !== 'COORDINATOR_NODE_EXISTS') throw err;
      }
      isr = await coordinator.get<IsrData>(this.paths.isr);
      if (!isr) throw new TandemError('COORDINATOR_NO_NODE', `${this.paths.isr} vanished`);
    }
    const electionMembers = new Set<string>();
    for (const info of electionInfos) if (info) electionMembers.add(replicaId(info.data));
    const decision = decideTakeover({
      me,
      isr: isr.data,
      epochCounter: counter?.data ?? 0,
      promisedEpoch: engine.epochHistory().promisedEpoch,
      electionMembers,
      handoverTo: hint && Date.now() - hint.data.atMs < HANDOVER_HINT_TTL_MS ? hint.data.to : null,
    });
    if (decision.kind === 'step-back') {
      this.role = 'standby';
      this.log.warn({ isr: isr.data.members, handover: hint?.data.to }, decision.reason);
      // Not in sync: wait before rejoining, so a lone out-of-sync member does not spin.
      await this.requeue(decision.catchUpFirst ? REQUEUE_DELAY_MS : 0);
      return;
    }
    const { epoch, isr: members, releasedByHandover: released } = decision;
    // The active being replaced is dead, as its monitor saw: it can answer no read under its lease.
    const oldActiveDead = activeFenced(isr.data, fenced?.data ?? null);
    phases.mark('decided');
    // 2. The new epoch, fenced by version checks on the ISR (the active's own node) and the
    //    counter; both must succeed. Sent together: ZooKeeper applies them in order.
    // 3. Meanwhile, what the dead active wrote and this member lacks, from its monitor (sealed
    //    tail) or the other in-sync members. It only appends records of the old epochs here:
    //    whatever the writes' outcome, this member is then a standby with a longer tail, which
    //    an active may cut.
    const isrWritten = coordinator.set(this.paths.isr, { epoch, members } satisfies IsrData, isr.version);
    const counterWritten = counter ? coordinator.set(this.paths.epoch, epoch, counter.version) : coordinator.create(this.paths.epoch, epoch, 'persistent');
    const peers = electionInfos.filter((info): info is NodeData<MemberInfo> => info !== null && replicaId(info.data) !== me && members.includes(replicaId(info.data)));
    const tailFetched = this.takeMissingTail(engine, monitor, lastActive, peers.map((p) => p.data)).finally(() => phases.mark('tailFetched'));
    const [isrOutcome, counterOutcome] = await Promise.allSettled([isrWritten, counterWritten]);
    phases.mark('epochWritten');
    await tailFetched;
    if (isrOutcome.status === 'rejected') throw isrOutcome.reason;
    if (counterOutcome.status === 'rejected') throw counterOutcome.reason;
    this.isrVersion = isrOutcome.value;
    this.isrMembers = members;
    // 4. From here on this member refuses the old active's records.
    await engine.promiseEpoch(epoch);
    phases.mark('promised');
    // 5. Wait out the old active's read lease: it may still answer reads until then. Not after
    //    a graceful hand-over (that active stopped answering before it released us), nor when
    //    its monitor saw its process die (fenced: a process that is gone answers nothing).
    const leaseLeftMs =
      (released && this.leaseReleased) || oldActiveDead ? 0 : this.lastHeardFromActiveAt + this.opts.limits.readLeaseMs - performance.now();
    if (leaseLeftMs > 0) await new Promise((r) => setTimeout(r, leaseLeftMs));
    phases.mark('leaseWaited');
    // Anything may have happened during the waits: the session expired, a newer active spoke.
    if (this.stopped || this.coordinator !== coordinator || this.role !== 'taking-over' || this.host.engine() !== engine) {
      this.log.warn(`takeover of epoch ${epoch} abandoned: the situation changed while it waited`);
      if (this.role === 'taking-over') this.role = 'standby';
      return;
    }
    // 6. Start the epoch: replicator first, so the epoch-start record is streamed too.
    const replicator = new Replicator(engine, {
      epoch,
      member: me,
      commitMode: this.opts.commitMode ?? 'sync',
      ...(this.opts.self.http ? { http: this.opts.self.http } : {}),
      limits: this.opts.limits,
      logger: this.log,
      secret: this.opts.secret ?? null,
      events: {
        onDeposed: (reason) => void this.depose(reason),
        onLagging: (member, lagMs) => this.changeIsr(member, 'remove', lagMs),
        onCaughtUp: (member) => this.changeIsr(member, 'add', 0),
      },
    });
    this.replicator = replicator;
    replicator.setIsr(members);
    const recent = engine.recentRecords();
    if (recent.encoded.length > 0) replicator.preload(recent.firstTxid, recent.encoded);
    engine.onAppended = (record: EditRecord, encoded: Buffer) => replicator.onAppended(record, encoded);
    engine.setCommitLimit(() => replicator.commitLimit());
    const fromTxid = engine.appliedTxidNow;
    try {
      engine.becomeActive(epoch, me);
    } catch (err) {
      // Undo the wiring: a replicator with no links would hold every commit at 0.
      replicator.close();
      this.replicator = null;
      engine.detachReplication();
      this.role = 'standby';
      throw err;
    }
    this.role = 'active';
    // The standbys read at the decision are streamed to at once (a client's first write waits
    // for them: the commit); watchFollowers then reads the election again and keeps a watch on it.
    replicator.setFollowers(this.followersAmong(electionInfos));
    phases.mark('epochStarted');
    // From here on this member is the active: ZooKeeper trouble must not leave it unpublished.
    // The standbys are found again while `active` is published; neither needs the other.
    const followersFound = this.watchFollowers()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, `cannot stream to the standbys yet: ${(err as Error).message}`))
      .finally(() => phases.mark('followersFound'));
    for (let attempt = 0; this.role === 'active' && this.replicator === replicator; attempt++) {
      try {
        await this.publish('active', { ...this.opts.self, epoch } satisfies ActiveInfo);
        phases.mark('published');
        break;
      } catch (err) {
        this.log.warn({ err: (err as Error).message, attempt }, `cannot publish active yet: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
      }
    }
    await followersFound;
    await this.deleteIfOurs(this.paths.standby);
    if (hint) await coordinator.delete(this.paths.handover, hint.version).catch(() => undefined);
    this.leaseReleased = false;
    this.log.info(
      { epoch, txid: fromTxid, isr: members, phasesMs: phases.ms, phasesFromMs: phases.startedAtMs, leaseWaitMs: Math.max(0, Math.round(leaseLeftMs)), oldActiveDead },
      `epoch ${epoch - 1} → ${epoch}: ${me} is active of shard ${this.opts.shard} from txid ${fromTxid}, in-sync set [${members.join(', ')}]; ` +
        `published ${phases.ms.published ?? '?'} ms after the election changed (${phases.describe()})`,
    );
  }

  private async inElection(sorted: readonly string[], member: string): Promise<boolean> {
    for (const node of sorted) {
      const info = await this.coordinator!.get<MemberInfo>(`${this.paths.election}/${node}`).catch(() => null);
      if (info && replicaId(info.data) === member) return true;
    }
    return false;
  }

  /**
   * Graceful hand-over (`tandem admin failover`): stop taking calls, drain, wait until the
   * target holds everything, name it in the hand-over hint, release its lease wait,
   * deregister, and rejoin as a standby. The target is `to`, or the in-sync standby least behind.
   */
  async handOver(to: string | undefined): Promise<{ from: string; to: string; txid: number; ms: number }> {
    const started = performance.now();
    const replicator = this.replicator;
    const coordinator = this.coordinator;
    if (this.role !== 'active' || !replicator || !coordinator) throw new TandemError('NOT_ACTIVE', `${this.member} is not active`);
    const candidates = replicator.progress().filter((p) => p.inSync && p.connected).sort((a, b) => a.lagTxids - b.lagTxids);
    const target = to === undefined ? candidates[0] : candidates.find((c) => c.member === to || memberOfReplica(c.member) === to);
    if (!target) {
      throw new TandemError('NOT_IN_SYNC', to === undefined ? 'no in-sync standby is connected' : `${to} is not a connected in-sync standby`);
    }
    const engine = this.host.engine();
    this.handingOver = true;
    try {
      const deadline = performance.now() + this.opts.limits.drainTimeoutMs;
      for (;;) {
        const applied = engine.appliedTxidNow;
        if (engine.committedTxid >= applied && replicator.durableOf(target.member) >= applied) break;
        if (performance.now() > deadline) throw new TandemError('DEADLINE_EXCEEDED', `${target.member} did not catch up within ${this.opts.limits.drainTimeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 2));
      }
      const txid = engine.appliedTxidNow;
      const hint: HandoverHint = { to: target.member, fromEpoch: replicator.epoch, atMs: Date.now() };
      const existing = await coordinator.get(this.paths.handover);
      if (existing) await coordinator.set(this.paths.handover, hint, existing.version);
      else await coordinator.create(this.paths.handover, hint, 'persistent');
      this.log.info({ to: target.member, txid }, `handing over to ${target.member} at txid ${txid}`);
      this.stopActing(`handing over to ${target.member}`);
      await replicator.releaseLease(target.member).catch(() => undefined);
      await this.deleteIfOurs(this.paths.active);
      await this.requeue(0);
      return { from: this.member, to: memberOfReplica(target.member), txid, ms: Math.round(performance.now() - started) };
    } finally {
      this.handingOver = false;
    }
  }

  /**
   * DESIGN §4 step 3: the records this member lacks that another copy of the log holds past
   * its last one, appended before it starts its epoch. The sources, asked at once:
   * - in async mode, the previous active's monitor, if that active is dead: it serves the
   *   dead active's edits up to the last valid record, writes it acknowledged alone among them;
   * - the other in-sync members (`repl.tail`): the dead active streamed to each of them what
   *   it had, and one may have got records this member did not. Taken, they spare that member
   *   the cut (and the reopening of its storage) the new epoch would otherwise order it.
   * Every source answers from our last record on, which must be the same record there (same
   * txid and epoch): the logs then agree up to it, and what follows is a continuation of ours.
   * Of the continuations, the most recent one (last epoch, then last txid) is taken. Records
   * past our last one were never committed (we hold every committed record), so taking any
   * of them — or none — loses nothing; in sync mode they were never acknowledged either.
   * Best effort and bounded (1 s in async mode, 200 ms in sync mode): without them the
   * takeover goes on with what it has.
   */
  private async takeMissingTail(
    engine: AnyEngine,
    monitor: NodeData<MonitorInfo> | null,
    lastActive: NodeData<ActiveInfo> | null,
    peers: readonly MemberInfo[],
  ): Promise<void> {
    const applied = engine.appliedTxidNow;
    const lastEpoch = engine.lastRecordEpoch;
    const from = Math.max(1, applied);
    const timeoutMs = this.opts.commitMode === 'async' ? TAIL_FETCH_TIMEOUT_MS : TAIL_FETCH_TIMEOUT_SYNC_MS;
    const secret = this.opts.secret ?? null;
    const sources: { name: string; fetch: () => Promise<EditRecord[]> }[] = [];
    // In sync mode the dead active's own tail adds only records no live member holds, which
    // nobody acknowledged: not worth the wait for its monitor (~30-80 ms here: it reads the
    // dead active's whole in-progress segment back). Async mode needs it.
    const monitorServes =
      this.opts.commitMode === 'async' &&
      monitor &&
      !monitor.data.masterAlive &&
      monitor.data.http &&
      monitor.data.member !== this.member &&
      lastActive?.data.member === monitor.data.member;
    if (monitorServes) sources.push({ name: `the monitor of dead active ${monitor.data.member}`, fetch: () => fetchEdits(monitor.data.http, from, timeoutMs, secret) });
    for (const peer of peers) {
      sources.push({
        name: `in-sync member ${peer.member}`,
        fetch: () => fetchTailOverRpc(peer.rpc, from, timeoutMs, { limits: this.opts.limits, clientName: `member ${this.member} taking over`, secret }),
      });
    }
    if (sources.length === 0) return;
    const answers: string[] = [];
    const offers = await Promise.all(
      sources.map(async (source) => {
        const startedAt = performance.now();
        try {
          const records = await source.fetch();
          answers.push(`${source.name}: ${records.length} in ${Math.round(performance.now() - startedAt)} ms`);
          return records;
        } catch (err) {
          answers.push(`${source.name}: ${(err as Error).message}`);
          return [];
        }
      }),
    );
    const records = chooseContinuation({ lastTxid: applied, lastEpoch }, offers);
    const source = sources[offers.findIndex((offer) => offer.at(-1) === records.at(-1))]?.name ?? '?';
    this.log.info({ answers }, `asked for the records after txid ${applied}: ${answers.join('; ')}`);
    if (records.length === 0) return;
    try {
      await engine.appendReplicated(records.at(-1)!.epoch, records);
    } catch (err) {
      // E.g. a newer epoch promised here meanwhile: the records are not ours to take.
      this.log.warn({ err: (err as Error).message }, `could not append the records of ${source}: ${(err as Error).message}`);
      return;
    }
    this.log.warn(
      { from: records[0]!.txid, to: records.at(-1)!.txid, source },
      `took txids ${records[0]!.txid}..${records.at(-1)!.txid} from ${source} before taking over`,
    );
  }

  /** The other members among election nodes read, named by replica (as the ISR names them). */
  private followersAmong(infos: readonly (NodeData<MemberInfo> | null)[]): MemberInfo[] {
    return infos.flatMap((info) => (info && info.data.member !== this.opts.self.member ? [{ ...info.data, member: replicaId(info.data) }] : []));
  }

  /** Streams to every other member of the election; re-read whenever it changes. */
  private async watchFollowers(): Promise<void> {
    const coordinator = this.coordinator;
    const replicator = this.replicator;
    if (!coordinator || !replicator || replicator.isClosed) return;
    let children: string[];
    try {
      children = await coordinator.children(this.paths.election, () => void this.watchFollowers());
    } catch (err) {
      // ZooKeeper down: keep streaming to the standbys already known; retry later.
      this.log.warn({ err: (err as Error).message }, 'cannot read the election to find standbys; retrying');
      setTimeout(() => void this.watchFollowers(), 1_000).unref();
      return;
    }
    let infos: (NodeData<MemberInfo> | null)[];
    try {
      infos = await Promise.all(children.map((node) => coordinator.get<MemberInfo>(`${this.paths.election}/${node}`)));
    } catch {
      // One unreadable node must not close a healthy link: keep the links as they are, retry.
      setTimeout(() => void this.watchFollowers(), 1_000).unref();
      return;
    }
    replicator.setFollowers(this.followersAmong(infos));
  }

  /** Version-checked ISR change by the active; serialized. A newer epoch there means this active is deposed. */
  /**
   * Version-checked ISR change by the active; serialized, at most one queued per member and
   * direction. The commit gate is always the larger of the two sets: an added member gates
   * commits *before* ZooKeeper names it (else it could take over without writes this active
   * acknowledged meanwhile); a removed one stops gating only *after* ZooKeeper dropped it.
   * A newer epoch in the ISR node means this active is deposed.
   */
  private changeIsr(member: string, change: 'add' | 'remove', lagMs: number): void {
    const want = change === 'add' ? !this.isrMembers.includes(member) : this.isrMembers.includes(member);
    const key = `${change} ${member}`;
    if (!want || this.isrChangesQueued.has(key)) return;
    this.isrChangesQueued.add(key);
    this.isrWrite = this.isrWrite.then(async () => {
      this.isrChangesQueued.delete(key);
      const replicator = this.replicator;
      const coordinator = this.coordinator;
      if (!replicator || replicator.isClosed || !coordinator) return;
      const current = change === 'add' ? this.isrMembers.includes(member) : !this.isrMembers.includes(member);
      if (current) return;
      const members = change === 'add' ? [...this.isrMembers, member] : this.isrMembers.filter((m) => m !== member);
      if (change === 'add') {
        // Queued behind other writes: commits may have moved past the member since the tick.
        if (!replicator.mayJoinIsr(member)) return;
        replicator.setIsr(members);
      }
      try {
        this.isrVersion = await coordinator.set(this.paths.isr, { epoch: replicator.epoch, members } satisfies IsrData, this.isrVersion);
      } catch (err) {
        // The write may or may not have happened (a timeout): read back what ZooKeeper holds.
        const now = await coordinator.get<IsrData>(this.paths.isr).catch(() => null);
        if (now && now.data.epoch > replicator.epoch) {
          void this.depose(`the in-sync set was rewritten by epoch ${now.data.epoch}`);
          return;
        }
        if (now) {
          this.isrVersion = now.version;
          this.isrMembers = now.data.members;
        }
        // Gate on everyone either side may name.
        replicator.setIsr([...new Set([...this.isrMembers, ...(change === 'add' ? [member] : [])])]);
        this.log.warn({ member, change, err: (err as Error).message }, `could not ${change} ${member} in the in-sync set: ${(err as Error).message}`);
        return;
      }
      this.isrMembers = members;
      // Only after ZooKeeper has the smaller set may commits go on without the member.
      replicator.setIsr(members);
      if (change === 'remove') {
        this.log.warn({ member, lagMs: Math.round(lagMs), isr: members }, `removed ${member} from the in-sync set: it lags ${Math.round(lagMs)} ms`);
      } else {
        this.log.info({ member, isr: members }, `${member} caught up: added to the in-sync set [${members.join(', ')}]`);
      }
    });
  }

  /** Stops serving at once and rejoins as a standby at the back of the line. */
  private async depose(reason: string): Promise<void> {
    if (this.role !== 'active' && this.role !== 'taking-over') return;
    this.log.error({ reason }, `deposed: ${reason}; stops serving and rejoins as a standby`);
    this.stopActing(reason);
    const coordinator = this.coordinator;
    if (coordinator) {
      await this.deleteIfOurs(this.paths.active);
      await this.requeue(0).catch(() => undefined);
    }
  }

  private stopActing(reason: string): void {
    if (this.zkSilenceTimer) {
      clearTimeout(this.zkSilenceTimer);
      this.zkSilenceTimer = null;
    }
    const replicator = this.replicator;
    replicator?.rejectLeaseWaiters();
    // Closed after the hand-over's release message had its chance; the links close with it.
    if (replicator && this.handingOver) setTimeout(() => replicator.close(), 1_000).unref();
    else replicator?.close();
    this.replicator = null;
    const engine = this.host.engine();
    engine.onAppended = null;
    engine.demote(reason);
    this.role = 'standby';
  }

  private async requeue(delayMs: number): Promise<void> {
    const coordinator = this.coordinator;
    if (!coordinator) return;
    const old = this.electionNode;
    this.electionNode = null;
    if (old) await coordinator.delete(`${this.paths.election}/${old}`, -1).catch(() => undefined);
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    if (this.stopped || this.coordinator !== coordinator) return;
    // Joining goes through evaluate, so it never runs twice at once.
    await this.evaluate();
  }

  private async onSessionExpired(): Promise<void> {
    this.log.error('ZooKeeper session expired: our election node is gone');
    if (this.role === 'active' || this.role === 'taking-over') this.stopActing('the ZooKeeper session expired');
    this.coordinator = null;
    this.electionNode = null;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.newSession();
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message, attempt }, 'cannot open a new ZooKeeper session yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  }

  /** Deletes an ephemeral registry node only if this session owns it (never a successor's). */
  private async deleteIfOurs(path: string): Promise<void> {
    const coordinator = this.coordinator;
    if (!coordinator) return;
    try {
      const node = await coordinator.get(path);
      if (node && node.ephemeralOwner === coordinator.sessionId) await coordinator.delete(path, node.version);
    } catch {
      // Best effort: an ephemeral goes with the session anyway.
    }
  }

  /** Writes an ephemeral registry entry (`active`, `standby`) and its persistent last-not-null copy. */
  private publish(entry: RegistryEntry, data: unknown): Promise<void> {
    return publishRegistryEntry(this.coordinator!, this.opts.shard, entry, data);
  }

  // --- the standby's end of the stream (repl.* RPC methods)

  async handleReplication(method: string, args: unknown): Promise<unknown> {
    const a = (args ?? {}) as {
      epoch?: unknown;
      member?: unknown;
      edits?: unknown;
      afterTxid?: unknown;
      http?: unknown;
      txid?: unknown;
      epochs?: unknown;
      fromTxid?: unknown;
    };
    if (method === 'repl.tail') return this.tailFrom(a.fromTxid);
    if (!Number.isSafeInteger(a.epoch)) throw new TandemError('INVALID_ARGUMENT', `${method} needs an integer epoch`);
    const epoch = a.epoch as number;
    if (this.role === 'active' || this.role === 'taking-over') {
      const mine = this.replicator?.epoch ?? 0;
      if (epoch <= mine || this.role === 'taking-over') {
        throw new TandemError('STALE_EPOCH', `${this.opts.self.member} is taking over or active in epoch ${mine}; refuses epoch ${epoch}`);
      }
      // A newer active exists: this one is deposed.
      await this.depose(`a member of epoch ${epoch} contacted us`);
    }
    if (this.truncating) await this.truncating;
    const engine = this.host.engine();
    if (!(await engine.promiseEpoch(epoch))) {
      throw new TandemError('STALE_EPOCH', `${this.opts.self.member} follows epoch ${engine.epochHistory().promisedEpoch}; refuses epoch ${epoch}`);
    }
    this.lastHeardFromActiveAt = performance.now();
    this.heardFromActive = true;
    switch (method) {
      case 'repl.hello': {
        if (epoch !== this.followingEpoch) {
          this.log.info({ epoch, active: a.member }, `following ${String(a.member)}, active of epoch ${epoch}`);
          this.followingEpoch = epoch;
        }
        this.activeHttp = typeof a.http === 'string' ? a.http : null;
        return this.helloReply();
      }
      case 'repl.install': {
        if (typeof a.http !== 'string' || !Number.isSafeInteger(a.txid) || !Array.isArray(a.epochs)) {
          throw new TandemError('INVALID_ARGUMENT', 'repl.install needs http, txid and epochs');
        }
        this.log.warn({ txid: a.txid, from: a.http }, `downloading image ${String(a.txid)} from the active (${a.http}) to start over from it`);
        const http = a.http;
        // Set before the download starts: a takeover meanwhile must wait for the new engine.
        return this.replaceStorage(fetchImage(http, a.txid as number, this.opts.secret ?? null).then((bytes) => this.host.installImage(bytes, a.txid as number, a.epochs as EpochStart[])));
      }
      case 'repl.truncate': {
        if (!Number.isSafeInteger(a.afterTxid) || (a.afterTxid as number) < 0) throw new TandemError('INVALID_ARGUMENT', 'repl.truncate needs afterTxid ≥ 0');
        return this.replaceStorage(this.host.truncateAndReopen(a.afterTxid as number));
      }
      case 'repl.release': {
        this.leaseReleased = true;
        this.log.info({ epoch }, `the active of epoch ${epoch} stopped serving and released its lease`);
        return { ok: true };
      }
      case 'repl.append': {
        if (!(a.edits instanceof Uint8Array)) throw new TandemError('INVALID_ARGUMENT', 'repl.append needs edits (msgpack bin: encoded records)');
        const edits = Buffer.isBuffer(a.edits) ? a.edits : Buffer.from(a.edits.buffer, a.edits.byteOffset, a.edits.byteLength);
        const batch = decodeRecordBatch(edits, this.opts.limits.frameBytesMax);
        if (!batch.ok) {
          throw new TandemError('INVALID_ARGUMENT', `repl.append: the record at byte ${batch.offset} of the batch is bad (${batch.reason}: ${batch.detail})`);
        }
        const durableTxid = await engine.appendReplicated(epoch, batch.records, batch.encoded);
        this.lastHeardFromActiveAt = performance.now();
        return { durableTxid };
      }
      default:
        throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
    }
  }

  /**
   * `repl.tail {fromTxid}`: the records this member's journal holds from `fromTxid` on, for a
   * member taking over that lacks them (see takeMissingTail). Read-only: no epoch is promised
   * and nothing changes here, so it needs none (the cluster secret guards it, as every repl.*).
   */
  private async tailFrom(fromTxid: unknown): Promise<{ edits: Buffer }> {
    if (!Number.isSafeInteger(fromTxid) || (fromTxid as number) < 1) throw new TandemError('INVALID_ARGUMENT', 'repl.tail needs fromTxid ≥ 1');
    if (this.truncating) await this.truncating.catch(() => undefined);
    const engine = this.host.engine();
    const bytesMax = Math.floor(this.opts.limits.frameBytesMax / 2);
    // Half a frame, as a repl.append: the reply must fit in one. From memory if it can.
    const recent = engine.recentEncoded(fromTxid as number);
    if (recent) return { edits: concatRecordsUpTo(recent, bytesMax) };
    const records = await readEditsFrom(engine.dir, fromTxid as number, { includeInProgress: true, recordsMax: this.opts.limits.replicationBatchRecordsMax });
    return { edits: concatRecordsUpTo(records.map(encodeRecord), bytesMax) };
  }

  /** Waits for a truncation or image install (which swaps the engine; a takeover waits for it too), then says where the log ends now. */
  private async replaceStorage(work: Promise<void>): Promise<HelloReply> {
    this.truncating = work;
    try {
      await work;
    } finally {
      this.truncating = null;
    }
    return this.helloReply();
  }

  private helloReply(): HelloReply {
    const engine = this.host.engine();
    return {
      member: this.opts.self.member,
      appliedTxid: engine.appliedTxidNow,
      lastEpoch: engine.lastRecordEpoch,
      durableTxid: engine.durableTxid,
      epochs: [...engine.epochHistory().entries()],
    };
  }

  /** ms since an active last reached this member (a standby's health); null if none has yet. */
  sinceActiveMs(): number | null {
    return this.heardFromActive ? performance.now() - this.lastHeardFromActiveAt : null;
  }

  /** A truncation or image install ordered by the active is running (the engine is being replaced). */
  get replacingStorage(): boolean {
    return this.truncating !== null;
  }

  /** For reads on the active: resolves when the epoch is confirmed by the in-sync standbys (the lease). */
  confirmEpoch(): Promise<void> | null {
    const replicator = this.replicator;
    if (!replicator) return Promise.reject(new TandemError('NOT_ACTIVE', `${this.opts.self.member} is not active`));
    return replicator.leaseValid() ? null : replicator.confirmLease();
  }

  status(): { role: MemberRole; electionNode: string | null; epoch: number; isr: string[]; followers: ReturnType<Replicator['progress']> } {
    return {
      role: this.role,
      electionNode: this.electionNode,
      epoch: this.host.engine().currentEpoch,
      isr: this.role === 'active' ? this.isrMembers : [],
      followers: this.replicator?.progress() ?? [],
    };
  }

  /**
   * Leaves the election and ZooKeeper. An active deregisters first, so a standby takes over
   * at once instead of waiting for the session to expire.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    const coordinator = this.coordinator;
    if (this.role === 'active') this.stopActing('stopping');
    this.role = 'stopped';
    if (coordinator) {
      await this.deleteIfOurs(this.paths.active);
      await coordinator.close().catch(() => undefined);
    }
    this.coordinator = null;
  }
}
