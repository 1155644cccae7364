// The replication engine's driver for one shard member (DESIGN §3). It owns the state, the
// journal and the storage directory, and performs effects in one documented order:
//
//   validate → assign txid → apply in memory → append to the journal → (group commit:
//   write + fdatasync) → release the reply.
//
// A reply — for a write or a read — is released only once every record it could have
// observed is durable. Issue 3 adds the replication stream and the in-sync set between
// "durable locally" and "release"; nothing else in this order changes.
//
// The state machine is pure (src/replication/state-machine.ts); this file is the only
// place its state meets the disk.

import { mkdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { TandemError, invariant } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import { DurabilityWaiters } from './durability-waiters.js';
import { loadNewestValidImage, writeImage } from './image-store.js';
import { readEdits, recoverJournal } from './journal-recovery.js';
import { JournalWriter } from './journal-writer.js';
import { purgeOldStorage } from './retention.js';
import type { Outcome, StateMachine } from './state-machine.js';
import { acquireStorageLock } from './storage-lock.js';

export interface EngineOptions<S, Op, I> {
  dir: string;
  machine: StateMachine<S, Op, I>;
  limits: Limits;
  log: Logger;
  /** Wall clock, injected so tests control time-based rolling and retention. */
  now?: () => number;
  /** Called once when the journal fails; the owning process should exit (a standby takes over). */
  onFatal?: (err: Error) => void;
}

export interface EngineStatus {
  epoch: number;
  appliedTxid: number;
  durableTxid: number;
  imageTxid: number;
  pendingReplies: number;
  journal: JournalWriter['stats'];
}

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
  private state: S;
  /** Highest txid applied to `state`. Invariant: appliedTxid >= journal.durableTxid. */
  private appliedTxid: number;
  /** Epoch stamped on every record. Issue 3 takes it from ZooKeeper; here it is carried over from the journal. */
  private epoch: number;
  private imageTxid: number;
  private savingImage: Promise<SavedImage> | null = null;
  private fatal: Error | null = null;
  private closed = false;

  private constructor(
    opts: EngineOptions<S, Op, I>,
    init: { state: S; appliedTxid: number; epoch: number; imageTxid: number; journal: JournalWriter; releaseLock: () => Promise<void> },
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
    this.journal = init.journal;
    this.releaseLock = init.releaseLock;
    this.journal.onDurable = (txid) => this.waiters.release(txid);
    this.journal.onFatal = (err) => this.onJournalFatal(err);
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
      const state = image ? machine.fromImage(image.payload as I) : machine.initial();
      const recovered = await recoverJournal(dir, log, { afterTxid: imageTxid });
      if (image === null && recovered.firstTxid !== null && recovered.firstTxid > 1) {
        throw new TandemError('NO_VALID_IMAGE', `no fsimage in ${dir} and the edits start at txid ${recovered.firstTxid}, not 1`);
      }
      let appliedTxid = imageTxid;
      let epoch = 1;
      for await (const record of readEdits(dir, imageTxid + 1)) {
        invariant(record.txid === appliedTxid + 1, `replay expects txid ${appliedTxid + 1}, read ${record.txid}`);
        const outcome = machine.apply(state, record.op as Op);
        // A journaled op mutated the state when it was first applied; replay must do the same.
        invariant(outcome.ok && outcome.mutated, `replaying txid ${record.txid} did not reproduce its effect`);
        appliedTxid = record.txid;
        epoch = record.epoch;
      }
      if (recovered.lastTxid > 0 && recovered.lastTxid < imageTxid) {
        log.info({ imageTxid, lastEditTxid: recovered.lastTxid }, 'image is newer than every kept edit; continuing after the image');
      }
      if (recovered.lastEpoch > epoch) epoch = recovered.lastEpoch;
      if (image === null && appliedTxid === 0) log.info('no image and no edits: starting a new namespace');
      const journal = await JournalWriter.open(dir, { firstTxid: appliedTxid + 1, limits: opts.limits, log, now: opts.now });
      log.info(
        { imageTxid, appliedTxid, replayed: appliedTxid - imageTxid, ms: Math.round(performance.now() - started) },
        `recovered to txid ${appliedTxid} (${appliedTxid - imageTxid} edits replayed after the image)`,
      );
      return new ReplicationEngine(opts, { state, appliedTxid, epoch, imageTxid, journal, releaseLock });
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
  async submit(op: Op): Promise<Outcome<unknown>> {
    this.checkServing();
    // Backpressure before apply: once applied, a record must be appended.
    if (this.appliedTxid - this.journal.durableTxid >= this.limits.journalPendingRecordsMax) {
      throw new TandemError('TOO_MANY_IN_FLIGHT', `journal has ${this.appliedTxid - this.journal.durableTxid} records waiting for fsync`);
    }
    if (this.journal.pendingBytes >= this.limits.journalPendingBytesMax) {
      throw new TandemError('TOO_MANY_IN_FLIGHT', `journal has ${this.journal.pendingBytes} bytes waiting for a write`);
    }
    const outcome = this.machine.apply(this.state, op);
    if (outcome.ok && outcome.mutated) {
      const txid = ++this.appliedTxid;
      try {
        this.journal.append({ txid, epoch: this.epoch, op });
      } catch (err) {
        // The op is applied in memory but can never be journaled: memory and disk now
        // disagree, so this process must stop serving (a broken invariant, STYLE §4).
        const error = err instanceof Error ? err : new Error(String(err));
        this.onJournalFatal(error);
        throw new TandemError('NOT_ACTIVE', `could not journal txid ${txid}: ${error.message}`);
      }
    }
    await this.untilDurable(this.appliedTxid);
    return outcome;
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
    if (observedTxid <= this.journal.durableTxid) return value;
    return this.untilDurable(observedTxid).then(() => value);
  }

  private untilDurable(txid: number): Promise<void> {
    if (txid <= this.journal.durableTxid) return Promise.resolve();
    return this.waiters.wait(txid);
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
    const payload = this.machine.toImage(this.state);
    this.savingImage = (async () => {
      try {
        // Never persist an image ahead of the journal: a crash would leave state no edit explains.
        await this.untilDurable(txid);
        const saved = await writeImage(this.dir, txid, payload, this.log);
        this.imageTxid = txid;
        await this.purge();
        return { txid, ...saved };
      } finally {
        this.savingImage = null;
      }
    })();
    return this.savingImage;
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
      epoch: this.epoch,
      appliedTxid: this.appliedTxid,
      durableTxid: this.journal.durableTxid,
      imageTxid: this.imageTxid,
      pendingReplies: this.waiters.size,
      journal: this.journal.stats,
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
