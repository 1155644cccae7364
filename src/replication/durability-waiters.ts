// Replies waiting for a txid to become durable. Both writes and reads wait here: a write
// for its own record, a read for every record it could have observed (DESIGN §3: "a read
// never returns state that could still be lost").
//
// Waiters are enqueued in non-decreasing txid order (the applied txid only grows), so a
// FIFO suffices: release pops from the head while head.txid <= durable.

import { invariant } from '../errors.js';

interface Waiter {
  txid: number;
  /** What the promise resolves with: the answer held back until `txid` is durable. */
  value: unknown;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class DurabilityWaiters {
  private queue: Waiter[] = [];
  /** Index of the first live waiter in `queue`; the prefix is garbage, compacted in bulk. */
  private head = 0;
  /** Highest txid seen enqueued; enforces the FIFO ordering invariant. */
  private lastEnqueuedTxid = 0;

  get size(): number {
    return this.queue.length - this.head;
  }

  /**
   * Resolves with `value` once `txid` is durable. (The value rides in the waiter rather than
   * in a `.then` after it: one promise per reply instead of two, on every write's path.)
   */
  wait<T>(txid: number, value: T): Promise<T> {
    invariant(txid >= this.lastEnqueuedTxid, `durability waiters must arrive in txid order (${txid} < ${this.lastEnqueuedTxid})`);
    this.lastEnqueuedTxid = txid;
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ txid, value, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Releases every waiter whose txid is now durable. */
  release(durableTxid: number): void {
    const q = this.queue;
    let i = this.head;
    while (i < q.length && q[i]!.txid <= durableTxid) {
      const waiter = q[i]!;
      waiter.resolve(waiter.value);
      i++;
    }
    this.head = i;
    if (this.head > 1024 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  /** Fails every waiter: the records they wait for will never be acknowledged by this process. */
  rejectAll(err: Error): void {
    const q = this.queue;
    for (let i = this.head; i < q.length; i++) q[i]!.reject(err);
    this.queue = [];
    this.head = 0;
  }
}
