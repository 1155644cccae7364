// Which epoch wrote which txids, and the highest epoch this member has promised to follow.
//
// An active starts its epoch with an epoch-start record at txid `firstTxid`; every record up
// to the next start carries that epoch. When a standby rejoins after a failover, it sends
// its whole history (a few entries) and the active finds the first txid where the two
// epoch sequences differ (agreementWith): everything before it is the same in both logs;
// from there on the standby holds an uncommitted tail from a deposed active and truncates
// it. (Kafka's leader-epoch cache serves the same purpose. A single (lastTxid, lastEpoch)
// is not enough: a standby whose last records come from an epoch the active never saw
// could not tell where those records begin — the seeded simulation found that case.)
//
// `promisedEpoch` is the highest epoch seen from any active. A standby refuses messages from
// lower epochs, so a deposed active can never again get an acknowledgement. It is persisted
// (file `epochs.json`, written temp → fsync → rename) before the standby acknowledges the
// new epoch, so a restart cannot forget the promise.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invariant, TandemError } from '../errors.js';
import { writeFileDurably } from './storage-layout.js';

export const EPOCH_HISTORY_FILE = 'epochs.json';

export interface EpochStart {
  epoch: number;
  firstTxid: number;
}

export class EpochHistory {
  /** Sorted by epoch and by firstTxid, both strictly increasing. */
  private readonly starts: EpochStart[];
  private promised: number;

  constructor(starts: readonly EpochStart[] = [], promisedEpoch = 0) {
    this.starts = [...starts];
    this.promised = promisedEpoch;
    for (let i = 1; i < this.starts.length; i++) {
      invariant(this.starts[i]!.epoch > this.starts[i - 1]!.epoch, 'epoch history epochs increase');
      invariant(this.starts[i]!.firstTxid > this.starts[i - 1]!.firstTxid, 'epoch history txids increase');
    }
    this.promised = Math.max(this.promised, this.lastEpoch);
  }

  get promisedEpoch(): number {
    return this.promised;
  }

  /** Epoch of the newest record, 0 with no history. */
  get lastEpoch(): number {
    return this.starts.at(-1)?.epoch ?? 0;
  }

  entries(): readonly EpochStart[] {
    return this.starts;
  }

  /** Records that txids from `firstTxid` on carry `epoch` (called for every record whose epoch differs from the previous one). */
  noteRecord(txid: number, epoch: number): boolean {
    const last = this.starts.at(-1);
    if (last && last.epoch === epoch) return false;
    invariant(!last || (epoch > last.epoch && txid > last.firstTxid), `epoch ${epoch} at txid ${txid} after epoch ${last?.epoch} at ${last?.firstTxid}`);
    this.starts.push({ epoch, firstTxid: txid });
    if (epoch > this.promised) this.promised = epoch;
    return true;
  }

  /** Raises the promise; returns false (and changes nothing) if `epoch` is below it. */
  promise(epoch: number): boolean {
    if (epoch < this.promised) return false;
    this.promised = epoch;
    return true;
  }

  /** The epoch of the record at `txid`, or null if the history does not reach back that far. */
  epochAt(txid: number): number | null {
    for (let i = this.starts.length - 1; i >= 0; i--) {
      if (this.starts[i]!.firstTxid <= txid) return this.starts[i]!.epoch;
    }
    return null;
  }

  /**
   * The last txid on which this log (ending at `appliedTxid`) and another one (ending at
   * `otherLastTxid`, with epoch starts `other`) agree. Two records with the same txid and
   * epoch are the same record, with the same records before them (one active per epoch
   * writes one sequence), so the logs agree up to the first txid where their epochs differ.
   * Both epoch sequences are step functions, so comparing them at every start suffices.
   * A history that does not reach back far enough compares as unknown (null) and makes the
   * answer conservative: an earlier cut, never a wrong agreement.
   */
  agreementWith(other: readonly EpochStart[], otherLastTxid: number, appliedTxid: number): number {
    const theirs = new EpochHistory(other);
    const limit = Math.min(otherLastTxid, appliedTxid);
    const points = [...new Set([...this.starts, ...other].map((s) => s.firstTxid))].filter((t) => t <= limit).sort((a, b) => a - b);
    for (const t of points) {
      if (this.epochAt(t) !== theirs.epochAt(t)) return t - 1;
    }
    return limit;
  }

  /** Forgets every start after `txid` (a truncated tail). */
  truncateAfter(txid: number): void {
    while (this.starts.length > 0 && this.starts.at(-1)!.firstTxid > txid) this.starts.pop();
  }

  toJSON(): { promisedEpoch: number; starts: EpochStart[] } {
    return { promisedEpoch: this.promised, starts: [...this.starts] };
  }
}

export async function loadEpochHistory(dir: string): Promise<EpochHistory> {
  const file = join(dir, EPOCH_HISTORY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new EpochHistory();
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as { promisedEpoch?: unknown; starts?: unknown };
    const starts = Array.isArray(parsed.starts) ? (parsed.starts as EpochStart[]) : [];
    for (const s of starts) {
      if (!Number.isSafeInteger(s.epoch) || !Number.isSafeInteger(s.firstTxid)) throw new Error('bad entry');
    }
    return new EpochHistory(starts, Number.isSafeInteger(parsed.promisedEpoch) ? (parsed.promisedEpoch as number) : 0);
  } catch (err) {
    throw new TandemError('JOURNAL_CORRUPT', `${file}: not a valid epoch history (${(err as Error).message})`);
  }
}

export async function saveEpochHistory(dir: string, history: EpochHistory): Promise<void> {
  await writeFileDurably(dir, EPOCH_HISTORY_FILE, Buffer.from(JSON.stringify(history.toJSON())));
}
