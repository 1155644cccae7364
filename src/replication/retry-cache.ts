// The retry cache (DESIGN §3): (clientId, callId) → the first answer to a mutating call.
// It is part of the replicated state, so a create/rename/delete retried after a failover
// gets the answer the first attempt got instead of running twice.
//
// Pure and deterministic like the state machines that hold it: "now" is always the time
// of the op being applied, never a clock. Eviction happens only in record(), i.e. only
// while applying an op that is journaled, so a replica replaying the journal evicts
// exactly what the active evicted. lookup() never changes anything.

export interface RetryEntry<Value> {
  clientId: string;
  callId: number;
  /** The answer the first attempt got. Never mutated after it is stored. */
  value: Value;
  /** Time of the op that stored it (ms since the epoch, from the op). */
  time: number;
}

export interface RetryCacheLimits {
  /** Entries older than this, measured against the time of the op being applied, are dropped. */
  retryCacheAgeMs: number;
  /** At most this many entries; the oldest (first stored) go first. */
  retryCacheEntriesMax: number;
}

/** A key that cannot collide: callId is a number, so its text never contains NUL. */
function keyOf(clientId: string, callId: number): string {
  return `${clientId}\u0000${callId}`;
}

export class RetryCache<Value> {
  /**
   * Invariant: iteration order is the order in which entries were stored, which is the
   * order eviction drops them in; size ≤ retryCacheEntriesMax after every record().
   */
  private readonly entries = new Map<string, RetryEntry<Value>>();
  private readonly ageMs: number;
  private readonly entriesMax: number;

  constructor(limits: RetryCacheLimits) {
    if (!(Number.isSafeInteger(limits.retryCacheAgeMs) && limits.retryCacheAgeMs >= 0)) {
      throw new Error(`retryCacheAgeMs must be a non-negative integer, got ${limits.retryCacheAgeMs}`);
    }
    if (!(Number.isSafeInteger(limits.retryCacheEntriesMax) && limits.retryCacheEntriesMax >= 0)) {
      throw new Error(`retryCacheEntriesMax must be a non-negative integer, got ${limits.retryCacheEntriesMax}`);
    }
    this.ageMs = limits.retryCacheAgeMs;
    this.entriesMax = limits.retryCacheEntriesMax;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The stored answer for this call, or undefined. An entry that has aged out by `now` is
   * a miss even if it has not been evicted yet: op times are only nearly monotonic, so an
   * entry stored out of order can outlive its age until it reaches the front, and it must
   * not be served in the meantime.
   */
  lookup(clientId: string, callId: number, now: number): RetryEntry<Value> | undefined {
    const entry = this.entries.get(keyOf(clientId, callId));
    if (entry === undefined || this.isExpired(entry, now)) return undefined;
    return entry;
  }

  /** Stores the answer to a call applied at `now`, then evicts by age and by count. */
  record(clientId: string, callId: number, value: Value, now: number): void {
    const key = keyOf(clientId, callId);
    // A key can only be present here if lookup() called it expired; delete first so the
    // fresh entry moves to the back of the eviction order.
    this.entries.delete(key);
    this.entries.set(key, { clientId, callId, value, time: now });
    this.evict(now);
  }

  /** Entries in storage (eviction) order. For images and canonical dumps. */
  list(): RetryEntry<Value>[] {
    return [...this.entries.values()];
  }

  /**
   * Rebuilds the cache from entries in storage order (an image). Does not evict: the
   * image holds exactly what the saving replica held, and the next record() evicts.
   */
  restore(entries: Iterable<RetryEntry<Value>>): void {
    this.entries.clear();
    for (const entry of entries) {
      const key = keyOf(entry.clientId, entry.callId);
      if (this.entries.has(key)) {
        throw new Error(`retry cache image holds (clientId ${JSON.stringify(entry.clientId)}, callId ${entry.callId}) twice`);
      }
      this.entries.set(key, { clientId: entry.clientId, callId: entry.callId, value: entry.value, time: entry.time });
    }
  }

  private isExpired(entry: RetryEntry<Value>, now: number): boolean {
    return entry.time < now - this.ageMs;
  }

  /** Drops from the front: the oldest stored entries, while too old or too many. */
  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size > this.entriesMax || this.isExpired(entry, now)) {
        this.entries.delete(key);
      } else {
        break;
      }
    }
  }
}
