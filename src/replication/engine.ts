// The replication engine's driver for one shard member (DESIGN §3). It owns the state, the
// journal and the storage directory, and performs effects in one documented order:
//
//   validate → assign txid → apply in memory → append to the journal → (group commit:
//   write + fdatasync) → release the reply.
//
// A reply — for a write or a read — is released only once every record it could have
// observed is committed: durable locally and, when the member is an active with standbys,
// acknowledged by every member of the in-sync set (the commit limit set by the replicator).
//
// Roles: 'standalone' (one master, no ZooKeeper: commit = local durability), 'active'
// (after becomeActive: writes an epoch-start record, then takes writes) and 'follower'
// (a standby: takes only records streamed from the active, through appendReplicated).
//
// The state machine is pure (src/replication/state-machine.ts); this file is the only
// place its state meets the disk.

import { mkdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { MANUAL_SAFE_MODE_MARK, TandemError, invariant } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import { DurabilityWaiters } from './durability-waiters.js';
import { EpochHistory, loadEpochHistory, saveEpochHistory } from './epoch-history.js';
import { loadNewestValidImage, writeImage } from './image-store.js';
import { readEdits, recoverJournal } from './journal-recovery.js';
import { JournalWriter, type GroupCommitObserver } from './journal-writer.js';
import { encodeRecord } from './record-codec.js';
import { purgeOldStorage } from './retention.js';
import { listImages, listSegments } from './storage-layout.js';
import { checkAppend } from './rules.js';
import type { EditRecord, Outcome, StateMachine } from './state-machine.js';
import { acquireStorageLock } from './storage-lock.js';
import { applyEngineOp, initialAdminState, isEngineOp, unwrapImagePayload, wrapImagePayload, type EngineAdminState, type EngineOp, type ManualSafeMode } from './engine-ops.js';
import { stateDigest } from './digest.js';
import { RingBuffer } from '../util/ring-buffer.js';

export interface EngineOptions<S, Op, I> {
  dir: string;
  machine: StateMachine<S, Op, I>;
  limits: Limits;
  log: Logger;
  /** Wall clock, injected so tests control time-based rolling and retention. */
  now?: () => number;
  /** Called once when the journal fails; the owning process should exit (a standby takes over). */
  onFatal?: (err: Error) => void;
  /** 'standalone' (default) serves at once; 'follower' waits for records from an active. */
  role?: 'standalone' | 'follower';
  /** Told of every group commit of the journal (the fsync-latency histogram). */
  onGroupCommit?: GroupCommitObserver;
}

export type EngineRole = 'standalone' | 'active' | 'follower';

/**
 * The op of an epoch-start record: the first record a new active writes. It changes no
 * state; it fixes where the new epoch begins, so standbys can find where their logs agree.
 */
export interface EpochStartOp {
  type: '@epoch-start';
  member: string;
}

export function isEpochStartOp(op: unknown): op is EpochStartOp {
  return typeof op === 'object' && op !== null && (op as { type?: unknown }).type === '@epoch-start';
}

export interface EngineStatus {
  role: EngineRole;
  epoch: number;
  appliedTxid: number;
  durableTxid: number;
  /** Durable here and on every in-sync member: what replies have been released up to. */
  committedTxid: number;
  imageTxid: number;
  /** How long the oldest edit past the newest image has waited for a checkpoint (null: none waits). */
  checkpointPendingMs: number | null;
  pendingReplies: number;
  journal: JournalWriter['stats'];
  /** Manual safe mode (`admin safemode enter`), replicated: null when off. */
  safeMode: ManualSafeMode | null;
}

/** Digests this member computed at @verify markers, newest kept; older ones are dropped. */
const VERIFY_DIGESTS_KEPT = 16;

export interface SavedImage {
  txid: number;
  file: string;
  bytes: number;
  ms: number;
}

export class ReplicationEngine<S, Op, I> {
  readonly dir: string;
  private readonly machine: StateMachine<S, Op, I>;
  private readonly limits: Limits;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly onFatal: ((err: Error) => void) | undefined;
  private readonly waiters = new DurabilityWaiters();
  private readonly releaseLock: () => Promise<void>;
  private journal: JournalWriter;
  private readonly history: EpochHistory;
  private role: EngineRole;
  /**
   * Highest txid the in-sync standbys all hold durably (Infinity with none): set by the
   * replicator. A reply waits for min(local durable, this).
   */
  private commitLimit: () => number = () => Infinity;
  private committed: number;
  /**
   * Called with every record this member appends as active, in txid order, and its bytes as
   * journaled (the replicator's feed: standbys get the same bytes, see encodeRecord).
   */
  onAppended: ((record: EditRecord, encoded: Buffer) => void) | null = null;
  /**
   * The last records appended here (in either role), as journaled, oldest first; the newest is
   * txid appliedTxid. Kept for a takeover: the new active's replicator starts with them (a
   * standby a few records behind it is fed from memory, not from a rolled segment), and
   * `repl.tail` answers from them. Invariant: length ≤ recentRecordsMax; consecutive txids.
   */
  private readonly recent: RingBuffer<Buffer>;
  private state: S;
  /** Highest txid applied to `state`. Invariant: appliedTxid >= journal.durableTxid. */
  private appliedTxid: number;
  /** Epoch stamped on every record. Issue 3 takes it from ZooKeeper; here it is carried over from the journal. */
  private epoch: number;
  private imageTxid: number;
  /**
   * Wall time (this.now()) since when edits past the newest image exist here: when the first
   * one was applied, or when the image was taken if later edits were already applied. Null
   * while the newest image holds every applied edit. After a restart it counts from the
   * restart (an under-estimate). The checkpoint-overdue alert reads it (src/metrics/alerts.ts).
   */
  private editsPastImageSinceMs: number | null;
  private savingImage: Promise<SavedImage> | null = null;
  /** The engine's own replicated state (manual safe mode), from engine ops (engine-ops.ts). */
  private admin: EngineAdminState;
  /** txid of a @verify marker → digest of the state right after it. Invariant: size ≤ VERIFY_DIGESTS_KEPT. */
  private readonly verifyDigests = new Map<number, string>();
  private historyWrite: Promise<void> = Promise.resolve();
  private fatal: Error | null = null;
  private closed = false;

  private constructor(
    opts: EngineOptions<S, Op, I>,
    init: {
      state: S;
      appliedTxid: number;
      epoch: number;
      imageTxid: number;
      journal: JournalWriter;
      history: EpochHistory;
      releaseLock: () => Promise<void>;
      admin: EngineAdminState;
    },
  ) {
    this.dir = opts.dir;
    this.machine = opts.machine;
    this.limits = opts.limits;
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.onFatal = opts.onFatal;
    this.state = init.state;
    this.appliedTxid = init.appliedTxid;
    this.epoch = init.epoch;
    this.imageTxid = init.imageTxid;
    this.editsPastImageSinceMs = init.appliedTxid > init.imageTxid ? this.now() : null;
    this.journal = init.journal;
    this.history = init.history;
    this.role = opts.role ?? 'standalone';
    this.committed = init.appliedTxid;
    this.releaseLock = init.releaseLock;
    this.admin = init.admin;
    this.journal.onDurable = () => this.advanceCommit();
    this.journal.onFatal = (err) => this.onJournalFatal(err);
    // What one standby can have in flight: as far behind the others as it can be at a failover.
    this.recent = new RingBuffer(opts.limits.replicationBatchRecordsMax * opts.limits.replicationBatchesInFlightMax);
  }

  /** Start = newest valid image + every later edit, then a fresh in-progress segment. */
  static async open<S, Op, I>(opts: EngineOptions<S, Op, I>): Promise<ReplicationEngine<S, Op, I>> {
    const { dir, machine, log } = opts;
    const started = performance.now();
    await mkdir(dir, { recursive: true });
    const releaseLock = await acquireStorageLock(dir, log);
    try {
      const image = await loadNewestValidImage(dir, log);
      const imageTxid = image?.txid ?? 0;
      const unwrapped = image ? unwrapImagePayload(image.payload) : null;
      let admin = unwrapped?.admin ?? initialAdminState();
      const state = unwrapped ? machine.fromImage(unwrapped.machineImage as I) : machine.initial();
      const recovered = await recoverJournal(dir, log, { afterTxid: imageTxid });
      if (image === null && recovered.firstTxid !== null && recovered.firstTxid > 1) {
        throw new TandemError('NO_VALID_IMAGE', `no fsimage in ${dir} and the edits start at txid ${recovered.firstTxid}, not 1`);
      }
      const history = await loadEpochHistory(dir);
      let appliedTxid = imageTxid;
      let epoch = 1;
      for await (const record of readEdits(dir, imageTxid + 1)) {
        invariant(record.txid === appliedTxid + 1, `replay expects txid ${appliedTxid + 1}, read ${record.txid}`);
        // (Replay computes no @verify digests: only live members compare them.)
        if (isEngineOp(record.op)) admin = applyEngineOp(admin, record.op, record.txid);
        else {
          const outcome = machine.apply(state, record.op as Op);
          // A journaled op mutated the state when it was first applied; replay must do the same.
          invariant(outcome.ok && outcome.mutated, `replaying txid ${record.txid} did not reproduce its effect`);
        }
        if (record.epoch !== history.lastEpoch && record.epoch > history.lastEpoch) history.noteRecord(record.txid, record.epoch);
        appliedTxid = record.txid;
        epoch = record.epoch;
      }
      if (recovered.lastTxid > 0 && recovered.lastTxid < imageTxid) {
        log.info({ imageTxid, lastEditTxid: recovered.lastTxid }, 'image is newer than every kept edit; continuing after the image');
      }
      if (recovered.lastEpoch > epoch) epoch = recovered.lastEpoch;
      // A saved history may name starts whose records a crash took back (a torn tail).
      history.truncateAfter(appliedTxid);
      if (history.lastEpoch > epoch) epoch = history.lastEpoch;
      if (image === null && appliedTxid === 0) log.info('no image and no edits: starting a new namespace');
      const journal = await JournalWriter.open(dir, {
        firstTxid: appliedTxid + 1,
        limits: opts.limits,
        log,
        now: opts.now,
        ...(opts.onGroupCommit ? { onGroupCommit: opts.onGroupCommit } : {}),
      });
      log.info(
        { imageTxid, appliedTxid, replayed: appliedTxid - imageTxid, ms: Math.round(performance.now() - started) },
        `recovered to txid ${appliedTxid} (${appliedTxid - imageTxid} edits replayed after the image)`,
      );
      if (admin.safeMode) log.warn({ safeMode: admin.safeMode }, `in manual safe mode since txid ${admin.safeMode.txid} (entered by ${admin.safeMode.by}): mutations are refused until \`tandem admin safemode leave\``);
      return new ReplicationEngine(opts, { state, appliedTxid, epoch, imageTxid, journal, history, releaseLock, admin });
    } catch (err) {
      await releaseLock();
      throw err;
    }
  }

  /**
   * Applies a mutation and resolves once it is durable. An op that changed nothing (an
   * error, a retry-cache hit, a no-op) is not journaled, but its answer still waits for
   * everything it observed to be durable.
   */
  submit(op: Op): Promise<Outcome<unknown>> {
    // Not an async function: this is every write's path, and an async frame costs a promise
    // and an await. Its throws become rejections all the same.
    let outcome: Outcome<unknown>;
    try {
      this.checkServing();
      if (this.role === 'follower') throw new TandemError('NOT_ACTIVE', 'this member is a standby');
      if (this.admin.safeMode) {
        const { by, txid } = this.admin.safeMode;
        throw new TandemError('SAFE_MODE', `the shard is in ${MANUAL_SAFE_MODE_MARK} (entered by ${by} at txid ${txid}): reads are served, mutations refused until \`tandem admin safemode leave\``);
      }
      this.checkBackpressure();
      outcome = this.machine.apply(this.state, op);
      if (outcome.ok && outcome.mutated) {
        const txid = ++this.appliedTxid;
        this.appendLocally({ txid, epoch: this.epoch, op });
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.untilDurable(this.appliedTxid, outcome);
  }

  /**
   * Journals an engine op (manual safe mode, a @verify marker) on the active — allowed in
   * safe mode — and resolves with its txid once committed. A @verify answer carries the
   * digest of the state at that txid.
   */
  async submitEngineOp(op: EngineOp): Promise<{ txid: number; digest?: string }> {
    this.checkServing();
    if (this.role === 'follower') throw new TandemError('NOT_ACTIVE', 'this member is a standby');
    this.checkBackpressure();
    const txid = ++this.appliedTxid;
    const digest = this.applyEngineRecord(op, txid);
    this.appendLocally({ txid, epoch: this.epoch, op });
    await this.untilDurable(txid, undefined);
    return { txid, ...(digest !== undefined ? { digest } : {}) };
  }

  /** An engine op at `txid` (active or standby): changes the admin state, or digests a marker. */
  private applyEngineRecord(op: EngineOp, txid: number): string | undefined {
    this.admin = applyEngineOp(this.admin, op, txid);
    if (op.type === '@safe-mode') {
      this.log.warn({ txid, by: op.by }, op.on ? `entered manual safe mode at txid ${txid} (by ${op.by}): mutations refused, reads served` : `left manual safe mode at txid ${txid} (by ${op.by})`);
    }
    if (op.type !== '@verify') return undefined;
    // Synchronous, so it is exactly the state at `txid` (a pause as long as a dump of the state).
    const digest = stateDigest(this.machine as StateMachine<S, unknown, unknown>, this.state);
    this.verifyDigests.set(txid, digest);
    for (const old of this.verifyDigests.keys()) {
      if (this.verifyDigests.size <= VERIFY_DIGESTS_KEPT) break;
      this.verifyDigests.delete(old);
    }
    return digest;
  }

  /** The digest this member computed at the @verify marker `txid`, if it applied it live and still keeps it. */
  verifyDigestAt(txid: number): string | null {
    return this.verifyDigests.get(txid) ?? null;
  }

  get manualSafeMode(): ManualSafeMode | null {
    return this.admin.safeMode;
  }

  /** The state's digest now (with the txid it is at): for tests and `admin verify` on one member. */
  digestNow(): { txid: number; digest: string } {
    return { txid: this.appliedTxid, digest: stateDigest(this.machine as StateMachine<S, unknown, unknown>, this.state) };
  }

  /**
   * Finalizes the in-progress segment (if it holds records), so every record durable now is
   * in a finalized segment the image server can hand out (`admin backup`).
   */
  async rollEdits(): Promise<{ durableTxid: number; committedTxid: number }> {
    this.checkServing();
    await this.journal.roll();
    return { durableTxid: this.journal.durableTxid, committedTxid: this.committed };
  }

  private checkBackpressure(): void {
    // Backpressure before apply: once applied, a record must be appended.
    if (this.appliedTxid - this.journal.durableTxid >= this.limits.journalPendingRecordsMax) {
      throw new TandemError('TOO_MANY_IN_FLIGHT', `journal has ${this.appliedTxid - this.journal.durableTxid} records waiting for fsync`);
    }
    if (this.journal.pendingBytes >= this.limits.journalPendingBytesMax) {
      throw new TandemError('TOO_MANY_IN_FLIGHT', `journal has ${this.journal.pendingBytes} bytes waiting for a write`);
    }
  }

  /**
   * Runs a query against the live state now, and releases its answer once everything it
   * observed is durable. The query runs first and the wait comes after: running it after
   * the wait would let it see writes applied during the wait that are not durable yet.
   * (Query results are fresh objects or arrays the state replaces rather than changes, so
   * holding one across the wait is safe.) When nothing awaits fsync — a read-mostly load —
   * the answer is immediate, without a promise.
   */
  read<T>(query: (state: S) => T): T | Promise<T> {
    this.checkServing();
    const value = query(this.state);
    const observedTxid = this.appliedTxid;
    // Committed, not just durable here: with standbys, a record fsynced only on this member
    // can still be lost to a failover, and a read must not show it.
    if (observedTxid <= this.committed) return value;
    return this.untilDurable(observedTxid, value);
  }

  /**
   * Journals a record already applied in memory, then hands it to the replicator (if any).
   * `encoded` is the record's bytes when they came with it (a standby's stream); otherwise
   * it is encoded here, once.
   */
  private appendLocally(record: EditRecord, encoded?: Buffer): void {
    this.editsPastImageSinceMs ??= this.now();
    let bytes: Buffer;
    try {
      bytes = encoded ?? encodeRecord(record);
      this.journal.appendEncoded(record, bytes);
      this.recent.push(bytes);
    } catch (err) {
      // The op is applied in memory but can never be journaled: memory and disk now
      // disagree, so this process must stop serving (a broken invariant, STYLE §4).
      const error = err instanceof Error ? err : new Error(String(err));
      this.onJournalFatal(error);
      throw new TandemError('NOT_ACTIVE', `could not journal txid ${record.txid}: ${error.message}`);
    }
    this.onAppended?.(record, bytes);
  }

  /**
   * The records from `fromTxid` to the last one appended, as journaled, if they were all
   * appended since this engine opened and are still among the recent ones kept; else null.
   */
  recentEncoded(fromTxid: number): Buffer[] | null {
    const count = this.appliedTxid - fromTxid + 1;
    if (count <= 0) return [];
    if (count > this.recent.length) return null;
    return this.recent.toArray().slice(this.recent.length - count);
  }

  /** Every recent record kept (see `recent`), and the txid of the first. */
  recentRecords(): { firstTxid: number; encoded: Buffer[] } {
    return { firstTxid: this.appliedTxid - this.recent.length + 1, encoded: this.recent.toArray() };
  }

  /** Resolves with `value` once `txid` is committed (durable here and on every in-sync member). */
  private untilDurable<T>(txid: number, value: T): Promise<T> {
    if (txid <= this.committed) return Promise.resolve(value);
    return this.waiters.wait(txid, value);
  }

  /** The commit point moved (a local fsync, a standby's ack, an ISR change): release replies. */
  advanceCommit(): void {
    const committed = Math.min(this.journal.durableTxid, this.commitLimit());
    // (commitLimit is the replicator's commitPoint over the in-sync standbys, src/replication/rules.ts.)
    if (committed <= this.committed) return;
    this.committed = committed;
    this.waiters.release(committed);
  }

  /** The replicator's hook: replies also wait for `limit()` (the in-sync standbys' durable txid). */
  setCommitLimit(limit: () => number): void {
    this.commitLimit = limit;
    this.advanceCommit();
  }

  /** Why this engine stopped serving (its journal failed), or null. */
  get failure(): string | null {
    return this.fatal?.message ?? null;
  }

  get committedTxid(): number {
    return this.committed;
  }

  get appliedTxidNow(): number {
    return this.appliedTxid;
  }

  get currentRole(): EngineRole {
    return this.role;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  /** The epoch of the newest record: with appliedTxid, what a standby reports to an active. */
  get lastRecordEpoch(): number {
    return this.history.epochAt(this.appliedTxid) ?? this.epoch;
  }

  epochHistory(): EpochHistory {
    return this.history;
  }

  /**
   * Makes this member the active of `epoch`: appends the epoch-start record and takes
   * writes from now on. The epoch comes from ZooKeeper (a version-checked increment).
   * Returns the epoch-start record's txid.
   */
  becomeActive(epoch: number, member: string): number {
    this.checkServing();
    invariant(this.role !== 'active', 'becomeActive on an active engine');
    invariant(epoch > this.history.lastEpoch && epoch >= this.history.promisedEpoch, `new epoch ${epoch} must exceed every epoch seen (${this.history.promisedEpoch})`);
    this.history.promise(epoch);
    this.epoch = epoch;
    this.role = 'active';
    const txid = ++this.appliedTxid;
    this.history.noteRecord(txid, epoch);
    void this.persistHistory().catch(() => undefined);
    this.appendLocally({ txid, epoch, op: { type: '@epoch-start', member } satisfies EpochStartOp });
    this.log.info({ epoch, txid }, `epoch ${epoch} starts at txid ${txid}`);
    return txid;
  }

  /**
   * A standby's promise to follow `epoch` (an active's hello). Refuses (false) an epoch below
   * one already promised; persists a raised promise before returning, so a restart keeps it.
   */
  async promiseEpoch(epoch: number): Promise<boolean> {
    if (epoch < this.history.promisedEpoch) return false;
    if (epoch === this.history.promisedEpoch) return true;
    this.history.promise(epoch);
    await this.persistHistory();
    return true;
  }

  /**
   * Saves epochs.json (serialized: one write at a time). The journal holds the same starts;
   * the file keeps them past images and purges, so a standby's history still reaches back
   * when it is compared with an active's, and it keeps the promise.
   */
  private persistHistory(): Promise<void> {
    const snapshot = new EpochHistory(this.history.entries(), this.history.promisedEpoch);
    const write = this.historyWrite.then(() => saveEpochHistory(this.dir, snapshot));
    this.historyWrite = write.catch((err: unknown) => this.log.error({ err }, 'could not save the epoch history'));
    // A caller that awaits (promiseEpoch) sees a failure; the others are logged above.
    return write;
  }

  /**
   * A standby appends records streamed by the active of `epoch` and applies them to memory
   * at once; resolves with the durable txid once they are fsynced. The first record must
   * follow the last one here (else LOG_DIVERGED: the active resends from the right place).
   * `encoded[i]`, when given, is records[i] as the active journaled it (decodeRecordBatch):
   * those bytes are journaled here as they are.
   */
  async appendReplicated(epoch: number, records: readonly EditRecord<Op>[], encoded?: readonly Buffer[]): Promise<number> {
    this.checkServing();
    if (this.role !== 'follower') throw new TandemError('NOT_ACTIVE', `this member is ${this.role}, not a standby`);
    invariant(encoded === undefined || encoded.length === records.length, 'appendReplicated: one encoded form per record');
    if (records.length === 0) {
      const verdict = checkAppend(this.followerPosition(), epoch, undefined);
      if (!verdict.ok) throw new TandemError(verdict.code, verdict.message);
    }
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const verdict = checkAppend(this.followerPosition(), epoch, record);
      if (!verdict.ok) throw new TandemError(verdict.code, verdict.message);
      if (isEngineOp(record.op)) this.applyEngineRecord(record.op, record.txid);
      else {
        const outcome = this.machine.apply(this.state, record.op);
        // The active applied this op with this effect; a standby that cannot is corrupt.
        invariant(outcome.ok && outcome.mutated, `standby could not apply txid ${record.txid} as the active did`);
      }
      if (record.epoch !== this.history.lastEpoch) {
        this.history.noteRecord(record.txid, record.epoch);
        void this.persistHistory().catch(() => undefined);
      }
      this.appliedTxid = record.txid;
      this.epoch = record.epoch;
      this.appendLocally(record, encoded?.[i]);
    }
    await this.untilDurable(this.appliedTxid, undefined);
    return this.journal.durableTxid;
  }

  private followerPosition(): { promisedEpoch: number; lastTxid: number; lastEpoch: number } {
    return { promisedEpoch: this.history.promisedEpoch, lastTxid: this.appliedTxid, lastEpoch: this.history.lastEpoch };
  }

  /** Unhooks a replicator that never got to serve (a takeover that failed half-way). */
  detachReplication(): void {
    this.onAppended = null;
    this.commitLimit = () => Infinity;
  }

  /** Stops taking writes as active or standby (a deposed active, a standby told to truncate). */
  demote(reason: string): void {
    if (this.role === 'follower') return;
    this.log.warn({ reason }, `stops acting as active: ${reason}`);
    this.role = 'follower';
    this.commitLimit = () => Infinity;
    this.waiters.rejectAll(new TandemError('NOT_ACTIVE', `this member stopped being active: ${reason}`));
  }

  /** First txid of the oldest edit segment kept here (null with none): older ones were purged. */
  async oldestEditTxid(): Promise<number | null> {
    return (await listSegments(this.dir))[0]?.firstTxid ?? null;
  }

  /** The newest image here, or null. */
  async newestImageTxid(): Promise<number | null> {
    return (await listImages(this.dir)).at(-1)?.txid ?? null;
  }

  /** An image was stored here by someone else (a standby's uploaded checkpoint): note it, apply retention. */
  async imageStored(txid: number): Promise<void> {
    if (txid > this.imageTxid) this.noteImage(txid, this.now());
    await this.purge();
  }

  /** Durable here, for a standby's acknowledgement. */
  get durableTxid(): number {
    return this.journal.durableTxid;
  }

  /**
   * Every record from `fromTxid` on that is in finalized segments, in order; rolls the
   * in-progress segment first so that everything durable up to now can be read. For a
   * standby catching up from further back than the replicator keeps in memory.
   */
  async *editsFrom(fromTxid: number): AsyncGenerator<EditRecord> {
    await this.journal.roll();
    yield* readEdits(this.dir, fromTxid, { stepOverEarlier: true });
  }

  private checkServing(): void {
    if (this.fatal) throw new TandemError('NOT_ACTIVE', `this master stopped serving: ${this.fatal.message}`);
    if (this.closed) throw new TandemError('SHUTTING_DOWN');
  }

  /** Writes an fsimage of the state at the current applied txid (once that txid is durable). */
  saveImage(): Promise<SavedImage> {
    this.checkServing();
    if (this.savingImage) return this.savingImage;
    const txid = this.appliedTxid;
    // The image is taken synchronously so it is exactly the state at `txid`.
    const payload = wrapImagePayload(this.machine.toImage(this.state), this.admin);
    const takenAtMs = this.now();
    this.savingImage = (async () => {
      try {
        // Never persist an image ahead of the journal: a crash would leave state no edit explains.
        await this.untilDurable(txid, undefined);
        const saved = await writeImage(this.dir, txid, payload, this.log);
        this.noteImage(txid, takenAtMs);
        await this.purge();
        return { txid, ...saved };
      } finally {
        this.savingImage = null;
      }
    })();
    return this.savingImage;
  }

  /** The newest image is now at `txid`, taken at `takenAtMs`: edits applied since wait for the next one. */
  private noteImage(txid: number, takenAtMs: number): void {
    this.imageTxid = txid;
    this.editsPastImageSinceMs = this.appliedTxid > txid ? takenAtMs : null;
  }

  /** Applies the retention policy (DESIGN §3: by age and count, never breaking recovery). */
  async purge(): Promise<void> {
    await purgeOldStorage(
      this.dir,
      { retentionAgeMs: this.limits.retentionAgeMs, imagesRetainedMin: this.limits.imagesRetainedMin, now: this.now() },
      this.log,
    );
  }

  /** Rolls the in-progress segment if it is older than the roll interval (called on a timer). */
  async maybeRoll(): Promise<void> {
    if (this.closed || this.fatal) return;
    await this.journal.maybeRoll();
  }

  status(): EngineStatus {
    return {
      role: this.role,
      epoch: this.epoch,
      appliedTxid: this.appliedTxid,
      durableTxid: this.journal.durableTxid,
      committedTxid: this.committed,
      imageTxid: this.imageTxid,
      checkpointPendingMs: this.editsPastImageSinceMs === null ? null : Math.max(0, this.now() - this.editsPastImageSinceMs),
      pendingReplies: this.waiters.size,
      journal: this.journal.stats,
      safeMode: this.admin.safeMode,
    };
  }

  /** Direct access for the process that owns the engine (status pages, tests). Never mutate. */
  peekState(): S {
    return this.state;
  }

  /** Flushes and finalizes the journal, then releases the storage lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.savingImage) await this.savingImage.catch(() => undefined);
    await this.historyWrite;
    if (!this.fatal) await this.journal.close();
    this.waiters.rejectAll(new TandemError('SHUTTING_DOWN'));
    await this.releaseLock();
  }

  private onJournalFatal(err: Error): void {
    if (this.fatal) return;
    // After a failed write or fsync nothing in flight can be acknowledged (the kernel may have
    // dropped the dirty pages). Stop serving; the process owner exits and a standby takes over.
    this.fatal = err;
    this.log.fatal({ err }, 'journal write failed: this master stops serving');
    this.waiters.rejectAll(new TandemError('NOT_ACTIVE', `journal write failed: ${err.message}`));
    this.onFatal?.(err);
  }

}
