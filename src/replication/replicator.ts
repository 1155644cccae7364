// The active's side of the replication stream (DESIGN §3, "Standbys", "In-sync set").
//
// The active pushes: for every standby it opens one RPC connection and sends
//   repl.hello    {epoch, member}                 → {appliedTxid, lastEpoch, durableTxid}
//   repl.truncate {epoch, afterTxid}              → the same, after the standby cut its tail
//   repl.append   {epoch, edits, commitTxid}      → {durableTxid}, once fsynced there
//   repl.release  {epoch}                         → a graceful hand-over: this active no longer serves
// `edits` is msgpack bin: records back to back, each exactly as the active journaled it
// (record-codec.ts), so a record is encoded once; the standby checks every CRC and journals
// the same bytes. Appends are pipelined (replicationBatchesInFlightMax per standby) on the
// one connection, which keeps them in order; an append with no records is the heartbeat.
//
// Commit: a reply is released at min(durable here, durable on every in-sync standby) — the
// engine asks commitLimit(). A standby whose oldest unacknowledged record is older than
// isrLagMaxMs is reported (onLagging) so the owner removes it from the ISR in ZooKeeper
// *before* commits go on without it; one that has caught up is reported (onCaughtUp).
//
// Fencing: a standby that has promised a newer epoch answers STALE_EPOCH, and the active
// is deposed (onDeposed). Reads are served under a lease: while every in-sync standby
// acknowledged a message sent less than readLeaseMs ago (see leaseValid).

import { performance } from 'node:perf_hooks';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import { RpcConnection } from '../rpc/connection.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { parseHostPort } from '../util/address.js';
import { backoffDelayMs } from '../client/backoff.js';
import type { EditRecord } from './state-machine.js';
import { encodeRecord, recordsFitting } from './record-codec.js';
import type { EpochHistory, EpochStart } from './epoch-history.js';
import { commitPoint, isrAdjustments, leaseHolds, mayJoinIsr, type FollowerView } from './rules.js';

/** What the replicator needs of the engine (an interface, so the simulation can drive it too). */
export interface ReplicatedLog {
  readonly appliedTxidNow: number;
  readonly durableTxid: number;
  /** Durable here and on every in-sync standby: what replies have been released up to. */
  readonly committedTxid: number;
  epochHistory(): EpochHistory;
  editsFrom(fromTxid: number): AsyncGenerator<EditRecord>;
  advanceCommit(): void;
  oldestEditTxid(): Promise<number | null>;
  newestImageTxid(): Promise<number | null>;
}

export interface FollowerAddress {
  member: string;
  /** host:port of its RPC server */
  rpc: string;
}

export interface ReplicatorEvents {
  /** A standby refused this active's epoch: another active exists. Stop serving at once. */
  onDeposed(reason: string): void;
  /** An in-sync standby lags past isrLagMaxMs: remove it from the ISR. */
  onLagging(member: string, lagMs: number): void;
  /** A standby outside the ISR holds everything: add it. */
  onCaughtUp(member: string): void;
}

export interface HelloReply {
  member: string;
  appliedTxid: number;
  lastEpoch: number;
  durableTxid: number;
  /** The standby's epoch starts (EpochHistory entries), to find where the logs agree. */
  epochs: EpochStart[];
}

export interface FollowerProgress {
  member: string;
  rpc: string;
  inSync: boolean;
  connected: boolean;
  durableTxid: number;
  /** Records the standby still lacks (applied here − durable there). */
  lagTxids: number;
  /**
   * Standby lag, ms from the append here to the standby's durable acknowledgement, over the
   * last LAG_SAMPLES_MAX acknowledged batches (p50/p99). It bounds the apply lag from above:
   * a standby applies a record before it fsyncs it.
   */
  lagMsP50: number | null;
  lagMsP99: number | null;
}

/** Acknowledgement-lag samples kept per standby for the percentiles in progress(). */
const LAG_SAMPLES_MAX = 10_000;

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 100) / 100;
}

const RECONNECT_BACKOFF = { baseMs: 50, capMs: 1_000 };

/** Bytes of records in one repl.append: half a frame, so the frame never exceeds frameBytesMax. */
function batchBytesMax(limits: Limits): number {
  return Math.floor(limits.frameBytesMax / 2);
}
const HELLO_ROUNDS_MAX = 4;

export class Replicator {
  private readonly links = new Map<string, FollowerLink>();
  /** Members (never this one) whose acknowledgements gate commits. */
  private isr = new Set<string>();
  /**
   * Recent records (encoded, as journaled) and when each was appended, for standbys that are
   * close behind. tail[tailHead] holds txid tailFirstTxid, and the txids go up by one.
   */
  private tail: Buffer[] = [];
  private tailAppendedAt: number[] = [];
  private tailHead = 0;
  private tailFirstTxid = 0;
  private timer: NodeJS.Timeout;
  private closed = false;
  /** When this replicator (its epoch) started: ISR members with no link are judged from here. */
  private readonly startedAt = performance.now();
  /** When the link to a member closed (it left the election). */
  private readonly linkGoneAt = new Map<string, number>();
  private leaseWaiters: Array<{ resolve: () => void; reject: (err: Error) => void; timer: NodeJS.Timeout }> = [];

  constructor(
    readonly log: ReplicatedLog,
    readonly opts: {
      epoch: number;
      member: string;
      /**
       * 'sync': a reply waits for every in-sync standby, and reads need the lease. 'async'
       * (Peta2's behaviour): replies go after the local fsync, reads are served without a
       * lease; the ISR is still kept, so that only a caught-up standby takes over.
       */
      commitMode?: 'sync' | 'async';
      /** This active's image server (host:port), from which a far-behind standby bootstraps. */
      http?: string;
      limits: Limits;
      logger: Logger;
      events: ReplicatorEvents;
      /** The cluster secret: standbys must prove it before they are sent anything (and the active proves it to them). */
      secret?: ClusterSecret | null;
    },
  ) {
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.floor(opts.limits.heartbeatIntervalMs / 2)));
    this.timer.unref();
  }

  get epoch(): number {
    return this.opts.epoch;
  }

  /** The engine calls this for every record it appends as active, with its journaled bytes. */
  onAppended(record: EditRecord, encoded: Buffer): void {
    if (this.tail.length === this.tailHead) {
      this.tailFirstTxid = record.txid;
    } else if (record.txid !== this.tailFirstTxid + (this.tail.length - this.tailHead)) {
      throw new Error(`invariant broken: the replicator's tail ends before txid ${record.txid - 1}, appended ${record.txid}`);
    }
    this.tail.push(encoded);
    this.tailAppendedAt.push(performance.now());
    const excess = this.tail.length - this.tailHead - this.opts.limits.replicationTailRecordsMax;
    if (excess > 0) {
      this.tailHead += excess;
      this.tailFirstTxid += excess;
    }
    if (this.tailHead > 4096 && this.tailHead * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailHead);
      this.tailAppendedAt = this.tailAppendedAt.slice(this.tailHead);
      this.tailHead = 0;
    }
    for (const link of this.links.values()) link.schedulePump();
  }

  /**
   * Before the epoch starts: the records this member already holds just before it (`encoded`,
   * txids firstTxid, firstTxid+1, …), so that a standby a few records behind is fed from
   * memory rather than from disk (rolling the segment and reading it back cost the first
   * commit after a failover tens of ms). Counted as appended now.
   */
  preload(firstTxid: number, encoded: readonly Buffer[]): void {
    if (this.tail.length !== this.tailHead) throw new Error('invariant broken: preload after records were appended');
    const now = performance.now();
    for (const record of encoded.slice(-this.opts.limits.replicationTailRecordsMax)) {
      this.tail.push(record);
      this.tailAppendedAt.push(now);
    }
    this.tailFirstTxid = firstTxid + Math.max(0, encoded.length - this.opts.limits.replicationTailRecordsMax);
  }

  /** The standbys to stream to (from the election znodes); links to members no longer listed close. */
  setFollowers(followers: readonly FollowerAddress[]): void {
    const wanted = new Map(followers.filter((f) => f.member !== this.opts.member).map((f) => [f.member, f]));
    for (const [member, link] of this.links) {
      const want = wanted.get(member);
      if (!want || want.rpc !== link.address.rpc) {
        link.close();
        this.links.delete(member);
        this.linkGoneAt.set(member, performance.now());
      }
    }
    for (const [member, address] of wanted) {
      if (this.links.has(member) || this.closed) continue;
      const link = new FollowerLink(this, address);
      this.links.set(member, link);
      link.start();
    }
  }

  /** The in-sync set as written in ZooKeeper (this member is ignored: it is always in sync with itself). */
  setIsr(members: readonly string[]): void {
    this.isr = new Set(members.filter((m) => m !== this.opts.member));
    this.log.advanceCommit();
  }

  inSync(member: string): boolean {
    return this.isr.has(member);
  }

  /** The highest txid every in-sync standby holds durably. */
  commitLimit(): number {
    if (this.opts.commitMode === 'async') return Infinity;
    return commitPoint(Infinity, this.isr, (member) => this.links.get(member)?.durableTxid ?? 0);
  }

  /** True while every in-sync standby acknowledged a message sent within readLeaseMs. */
  leaseValid(now = performance.now()): boolean {
    if (this.opts.commitMode === 'async') return true;
    return leaseHolds(now, this.isr, (member) => this.links.get(member)?.lastAckedSentAt ?? -Infinity, this.opts.limits.readLeaseMs);
  }

  /** Resolves once the lease is valid (sending heartbeats now); NOT_ACTIVE if it cannot be within readLeaseMs. */
  confirmLease(): Promise<void> {
    if (this.leaseValid()) return Promise.resolve();
    for (const link of this.links.values()) link.heartbeatNow();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.leaseWaiters = this.leaseWaiters.filter((w) => w.timer !== timer);
        reject(new TandemError('NOT_ACTIVE', `cannot confirm epoch ${this.epoch}: the in-sync standbys did not answer within ${this.opts.limits.readLeaseMs} ms`));
      }, this.opts.limits.readLeaseMs);
      this.leaseWaiters.push({ resolve, reject, timer });
    });
  }

  progress(): FollowerProgress[] {
    const applied = this.log.appliedTxidNow;
    return [...this.links.values()].map((link) => {
      const sorted = [...link.lagSamplesMs].sort((x, y) => x - y);
      return {
        member: link.address.member,
        rpc: link.address.rpc,
        inSync: this.isr.has(link.address.member),
        connected: link.streaming,
        durableTxid: link.durableTxid,
        lagTxids: Math.max(0, applied - link.durableTxid),
        lagMsP50: percentile(sorted, 0.5),
        lagMsP99: percentile(sorted, 0.99),
      };
    });
  }

  /**
   * Encoded records from `txid` on that are still in memory: at most `max` of them and
   * `bytesMax` bytes (at least one); null if `txid` is older than the tail.
   */
  encodedFromTail(txid: number, max: number, bytesMax: number): Buffer[] | null {
    if (this.tail.length === this.tailHead) return txid > this.log.appliedTxidNow ? [] : null;
    if (txid < this.tailFirstTxid) return null;
    const start = this.tailHead + (txid - this.tailFirstTxid);
    const { count } = recordsFitting(this.tail, start, Math.min(this.tail.length, start + max), bytesMax);
    return this.tail.slice(start, start + count);
  }

  /** When the record at `txid` was appended here, if it is still in memory. */
  appendedAt(txid: number): number | undefined {
    if (this.tail.length === this.tailHead || txid < this.tailFirstTxid) return undefined;
    return this.tailAppendedAt[this.tailHead + (txid - this.tailFirstTxid)];
  }

  /** A link acknowledged something: the commit point or the lease may have moved. */
  onAck(): void {
    this.log.advanceCommit();
    if (this.leaseWaiters.length > 0 && this.leaseValid()) {
      const waiters = this.leaseWaiters;
      this.leaseWaiters = [];
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  /** Durable txid of one standby (0 if unknown). */
  durableOf(member: string): number {
    return this.links.get(member)?.durableTxid ?? 0;
  }

  /**
   * Whether `member` may be added to the in-sync set right now: streaming, and holding every
   * committed record (see isrAdjustments). Checked again when the add is carried out, in the
   * same turn as the gating starts, since commits may have moved on since the tick.
   */
  mayJoinIsr(member: string): boolean {
    const link = this.links.get(member);
    return link !== undefined && mayJoinIsr(link, this.log.committedTxid);
  }

  /**
   * Tells a standby this active has stopped serving, so it need not wait out the read lease
   * before taking over (a graceful hand-over). Call only after this active stopped answering.
   */
  async releaseLease(member: string): Promise<void> {
    await this.links.get(member)?.release();
  }

  deposed(reason: string): void {
    if (this.closed) return;
    this.opts.events.onDeposed(reason);
  }

  private tick(): void {
    const now = performance.now();
    const applied = this.log.appliedTxidNow;
    for (const link of this.links.values()) link.maybeHeartbeat(now);
    const followers: FollowerView[] = [...this.links.values()].map((link) => ({
      member: link.address.member,
      inSync: this.isr.has(link.address.member),
      streaming: link.streaming,
      durableTxid: link.durableTxid,
      missingSince: Math.max(this.appendedAt(link.durableTxid + 1) ?? -Infinity, link.startedAt),
      lastAckAt: link.lastAckAt,
    }));
    const withoutFollower = [...this.isr]
      .filter((member) => !this.links.has(member))
      .map((member) => ({ member, since: Math.max(this.startedAt, this.linkGoneAt.get(member) ?? -Infinity) }));
    const log = { appliedTxid: applied, committedTxid: this.log.committedTxid };
    for (const change of isrAdjustments(now, log, followers, withoutFollower, this.opts.limits.isrLagMaxMs)) {
      if (change.change === 'remove') this.opts.events.onLagging(change.member, change.lagMs);
      else this.opts.events.onCaughtUp(change.member);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.rejectLeaseWaiters();
  }

  /** Reads waiting for the lease fail: this member stopped (or is stopping) being active. */
  rejectLeaseWaiters(): void {
    for (const w of this.leaseWaiters) {
      clearTimeout(w.timer);
      w.reject(new TandemError('NOT_ACTIVE', 'this member stopped being active'));
    }
    this.leaseWaiters = [];
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** One standby: connect, agree on where the logs meet, then stream. */
class FollowerLink {
  durableTxid = 0;
  /** When the link was made: a standby is not judged lagging before it had a chance to connect. */
  readonly startedAt = performance.now();
  /** When it last acknowledged a message (startedAt before the first). */
  lastAckAt = this.startedAt;
  /** Ring of acknowledgement lags (ms), see FollowerProgress.lagMsP99. */
  readonly lagSamplesMs: number[] = [];
  private lagSampleNext = 0;
  /** performance.now() when the newest acknowledged message was sent (the lease is measured from sends). */
  lastAckedSentAt = -Infinity;
  streaming = false;
  private conn: RpcConnection | null = null;
  private nextTxid = 0;
  private inFlight = 0;
  private lastSentAt = 0;
  private pumpScheduled = false;
  private reading = false;
  private disk: AsyncGenerator<EditRecord> | null = null;
  private closed = false;
  private attempt = 0;

  constructor(
    private readonly replicator: Replicator,
    readonly address: FollowerAddress,
  ) {}

  private get logger(): Logger {
    return this.replicator.opts.logger;
  }

  start(): void {
    void this.connectLoop();
  }

  private async connectLoop(): Promise<void> {
    const { limits } = this.replicator.opts;
    while (!this.closed) {
      try {
        await this.connectOnce();
        this.attempt = 0;
        // Stream until the connection ends.
        await new Promise<void>((resolve) => this.conn!.once('close', () => resolve()));
      } catch (err) {
        const error = err as TandemError;
        if (error.code === 'STALE_EPOCH') {
          this.replicator.deposed(`standby ${this.address.member} refused epoch ${this.replicator.epoch}: ${error.message}`);
          return;
        }
        if (this.attempt === 0 || this.attempt % 20 === 0) {
          this.logger.warn({ follower: this.address.member, code: error.code, err: error.message }, `cannot stream to standby ${this.address.member}: ${error.message}`);
        }
      }
      this.streaming = false;
      this.conn?.close();
      this.conn = null;
      this.disk = null;
      this.inFlight = 0;
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, backoffDelayMs(this.attempt++, RECONNECT_BACKOFF) + 10));
      void limits;
    }
  }

  private async connectOnce(): Promise<void> {
    const { limits, epoch, member } = this.replicator.opts;
    const { host, port } = parseHostPort(this.address.rpc);
    const conn = await RpcConnection.connect(host, port, { limits, clientName: `active ${member} epoch ${epoch}`, secret: this.replicator.opts.secret ?? null });
    if (this.closed) {
      conn.close();
      return;
    }
    this.conn = conn;
    const http = this.replicator.opts.http;
    let reply = await conn.call<HelloReply>('repl.hello', { epoch, member, ...(http ? { http } : {}) }, { deadlineMs: 5_000 });
    const history = this.replicator.log.epochHistory();
    for (let round = 0; ; round++) {
      // Edits the standby needs that were purged here: it starts over from the newest image.
      const oldest = await this.replicator.log.oldestEditTxid();
      if (oldest !== null && reply.appliedTxid + 1 < oldest) {
        reply = await this.bootstrap(conn, reply, oldest);
        continue;
      }
      const applied = this.replicator.log.appliedTxidNow;
      const agreed = history.agreementWith(reply.epochs, reply.appliedTxid, applied);
      if (agreed === reply.appliedTxid) break;
      if (round >= HELLO_ROUNDS_MAX) throw new TandemError('LOG_DIVERGED', `standby ${this.address.member} still diverges after ${round} truncations`);
      this.logger.warn(
        { follower: this.address.member, theirTxid: reply.appliedTxid, theirEpoch: reply.lastEpoch, agreed },
        `standby ${this.address.member} holds txids ${agreed + 1}..${reply.appliedTxid} (epoch ${reply.lastEpoch}) that this active does not: telling it to truncate after ${agreed}`,
      );
      reply = await conn.call<HelloReply>('repl.truncate', { epoch, afterTxid: agreed }, { deadlineMs: 60_000 });
    }
    this.nextTxid = reply.appliedTxid + 1;
    this.durableTxid = reply.durableTxid;
    this.streaming = true;
    this.lastAckedSentAt = -Infinity;
    this.logger.info(
      { follower: this.address.member, fromTxid: this.nextTxid, lag: this.replicator.log.appliedTxidNow - reply.appliedTxid },
      `streaming to standby ${this.address.member} from txid ${this.nextTxid}`,
    );
    this.replicator.onAck();
    this.schedulePump();
  }

  private async bootstrap(conn: RpcConnection, reply: HelloReply, oldestEditTxid: number): Promise<HelloReply> {
    const { epoch, http } = this.replicator.opts;
    const txid = await this.replicator.log.newestImageTxid();
    const epochAtTxid = txid === null ? null : this.replicator.log.epochHistory().epochAt(txid);
    if (!http || txid === null || txid + 1 < oldestEditTxid || epochAtTxid === null) {
      throw new TandemError(
        'JOURNAL_GAP',
        `standby ${this.address.member} needs edits from txid ${reply.appliedTxid + 1}, purged here, and no usable image can replace them`,
      );
    }
    this.logger.info(
      { follower: this.address.member, theirTxid: reply.appliedTxid, imageTxid: txid },
      `standby ${this.address.member} is at txid ${reply.appliedTxid}, behind the oldest kept edit (${oldestEditTxid}): it bootstraps from image ${txid}`,
    );
    // The standby's history after the install: this one's, up to the image.
    const epochs = this.replicator.log.epochHistory().entries().filter((s) => s.firstTxid <= txid);
    return conn.call<HelloReply>('repl.install', { epoch, http, txid, epochs }, { deadlineMs: 600_000 });
  }

  schedulePump(): void {
    if (this.pumpScheduled || !this.streaming) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const { limits } = this.replicator.opts;
    while (this.streaming && this.inFlight < limits.replicationBatchesInFlightMax && this.nextTxid <= this.replicator.log.appliedTxidNow) {
      const encoded = this.replicator.encodedFromTail(this.nextTxid, limits.replicationBatchRecordsMax, batchBytesMax(limits));
      if (encoded === null) {
        void this.pumpFromDisk();
        break;
      }
      if (encoded.length === 0) break;
      this.send(encoded);
    }
    // The pump runs once a turn (setImmediate) and has batched already: write now. Left to
    // the connection's own end-of-turn write, the batch would wait for the next turn, a
    // whole round of client calls later (~1-2 ms of standby lag under load).
    this.conn?.flushNow();
  }

  /** A standby further behind than the in-memory tail is fed from the finalized segments. */
  private async pumpFromDisk(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    const { limits } = this.replicator.opts;
    try {
      this.disk ??= this.replicator.log.editsFrom(this.nextTxid);
      while (this.streaming && this.inFlight < limits.replicationBatchesInFlightMax) {
        if (this.replicator.encodedFromTail(this.nextTxid, 1, Infinity) !== null) break;
        // Records read back from disk are encoded again (this path is for catching up only).
        const batch: Buffer[] = [];
        let batchBytes = 0;
        while (batch.length < limits.replicationBatchRecordsMax && batchBytes < batchBytesMax(limits)) {
          const next = await this.disk.next();
          if (next.done) {
            this.disk = null;
            break;
          }
          if (next.value.txid < this.nextTxid + batch.length) continue;
          const encoded = encodeRecord(next.value);
          batch.push(encoded);
          batchBytes += encoded.length;
        }
        if (batch.length === 0) break;
        this.send(batch);
        if (this.disk === null) break;
      }
    } catch (err) {
      this.logger.error({ follower: this.address.member, err }, `cannot read edits from txid ${this.nextTxid} for standby ${this.address.member}`);
      this.conn?.close();
    } finally {
      this.reading = false;
    }
    this.schedulePump();
  }

  /** Sends records nextTxid, nextTxid+1, … (encoded; none: a heartbeat). */
  private send(encoded: Buffer[]): void {
    const conn = this.conn;
    if (!conn) return;
    const sentAt = performance.now();
    this.lastSentAt = sentAt;
    this.inFlight++;
    const lastTxid = this.nextTxid + encoded.length - 1;
    this.nextTxid += encoded.length;
    const { epoch } = this.replicator.opts;
    const edits = encoded.length === 1 ? encoded[0]! : Buffer.concat(encoded);
    conn
      .call<{ durableTxid: number }>('repl.append', { epoch, edits, commitTxid: this.replicator.log.durableTxid }, { deadlineMs: 30_000 })
      .then(
        (reply) => {
          this.inFlight--;
          this.lastAckAt = performance.now();
          if (encoded.length > 0) this.sampleLag(lastTxid);
          if (reply.durableTxid > this.durableTxid) this.durableTxid = reply.durableTxid;
          if (sentAt > this.lastAckedSentAt) this.lastAckedSentAt = sentAt;
          this.replicator.onAck();
          this.schedulePump();
        },
        (err: TandemError) => {
          this.inFlight--;
          if (conn !== this.conn) return;
          if (err.code === 'STALE_EPOCH') {
            this.closed = true;
            this.replicator.deposed(`standby ${this.address.member} refused epoch ${epoch}: ${err.message}`);
          } else if (err.code !== 'CONNECTION_LOST') {
            this.logger.warn({ follower: this.address.member, err: err.message }, `standby ${this.address.member} refused records: ${err.message}; reconnecting`);
          }
          this.streaming = false;
          conn.close();
        },
      );
  }

  async release(): Promise<void> {
    await this.conn?.call('repl.release', { epoch: this.replicator.opts.epoch }, { deadlineMs: 1_000 });
  }

  private sampleLag(txid: number): void {
    const appendedAt = this.replicator.appendedAt(txid);
    if (appendedAt === undefined) return;
    const lag = performance.now() - appendedAt;
    if (this.lagSamplesMs.length < LAG_SAMPLES_MAX) this.lagSamplesMs.push(lag);
    else this.lagSamplesMs[this.lagSampleNext] = lag;
    this.lagSampleNext = (this.lagSampleNext + 1) % LAG_SAMPLES_MAX;
  }

  maybeHeartbeat(now: number): void {
    if (this.streaming && now - this.lastSentAt >= this.replicator.opts.limits.heartbeatIntervalMs) this.heartbeatNow();
  }

  heartbeatNow(): void {
    if (!this.streaming || this.inFlight >= this.replicator.opts.limits.replicationBatchesInFlightMax + 1) return;
    this.send([]);
  }

  close(): void {
    this.closed = true;
    this.streaming = false;
    this.conn?.close();
    this.conn = null;
  }
}
