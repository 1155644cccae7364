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

/** One client's entries, by callId. */
class ClientCalls<Value> extends Map<number, RetryEntry<Value>> {
  constructor(readonly clientId: string) {
    super();
  }
}

export class RetryCache<Value> {
  /**
   * clientId → callId → entry: nested maps, so no per-entry key string is built (a
   * million entries would otherwise carry a million keys). Invariant: holds exactly the
   * live entries of `order`; inner maps are never empty.
   */
  private readonly byClient = new Map<string, ClientCalls<Value>>();
  /**
   * Entries in the order they were stored, which is the order eviction drops them in,
   * from index `head` on. An entry that was replaced (stored again after it expired) stays
   * here until it reaches the head but is dead: byClient no longer points to it. A queue
   * rather than Map iteration order because V8 keeps deleted Map entries as holes that
   * iteration from the front must step over, which made eviction O(entries) per op.
   */
  private order: RetryEntry<Value>[] = [];
  private head = 0;
  private liveCount = 0;
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

  /** Live entries. Invariant: ≤ retryCacheEntriesMax after every record(). */
  get size(): number {
    return this.liveCount;
  }

  /**
   * The stored answer for this call, or undefined. An entry that has aged out by `now` is
   * a miss even if it has not been evicted yet: op times are only nearly monotonic, so an
   * entry stored out of order can outlive its age until it reaches the front, and it must
   * not be served in the meantime.
   */
  lookup(clientId: string, callId: number, now: number): RetryEntry<Value> | undefined {
    const entry = this.byClient.get(clientId)?.get(callId);
    if (entry === undefined || this.isExpired(entry, now)) return undefined;
    return entry;
  }

  /** Stores the answer to a call applied at `now`, then evicts by age and by count. */
  record(clientId: string, callId: number, value: Value, now: number): void {
    this.insert({ clientId, callId, value, time: now });
    this.evict(now);
  }

  /** Live entries in storage (eviction) order. For images and canonical dumps. */
  list(): RetryEntry<Value>[] {
    const live: RetryEntry<Value>[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const entry = this.order[i]!;
      if (this.isLive(entry)) live.push(entry);
    }
    return live;
  }

  /**
   * Rebuilds the cache from entries in storage order (an image). Does not evict: the
   * image holds exactly what the saving replica held, and the next record() evicts.
   */
  restore(entries: Iterable<RetryEntry<Value>>): void {
    this.byClient.clear();
    this.order = [];
    this.head = 0;
    this.liveCount = 0;
    for (const entry of entries) {
      if (this.byClient.get(entry.clientId)?.has(entry.callId)) {
        throw new Error(`retry cache image holds (clientId ${JSON.stringify(entry.clientId)}, callId ${entry.callId}) twice`);
      }
      this.insert({ clientId: entry.clientId, callId: entry.callId, value: entry.value, time: entry.time });
    }
  }

  private insert(entry: RetryEntry<Value>): void {
    let calls = this.byClient.get(entry.clientId);
    if (calls === undefined) {
      calls = new ClientCalls(entry.clientId);
      this.byClient.set(entry.clientId, calls);
    }
    // Share one clientId string, the map's own key, among a client's entries: each op
    // brings its own copy. (Not read from a sibling entry: finding the first entry of a
    // Map steps over the holes that eviction leaves at its front.)
    entry.clientId = calls.clientId;
    // Present only if lookup() called it expired: the old entry goes dead in `order`.
    if (!calls.has(entry.callId)) this.liveCount++;
    calls.set(entry.callId, entry);
    this.order.push(entry);
  }

  private isLive(entry: RetryEntry<Value>): boolean {
    return this.byClient.get(entry.clientId)?.get(entry.callId) === entry;
  }

  private isExpired(entry: RetryEntry<Value>, now: number): boolean {
    return entry.time < now - this.ageMs;
  }

  /** Drops from the front: the oldest stored entries, while dead, too old or too many. */
  private evict(now: number): void {
    while (this.head < this.order.length) {
      const entry = this.order[this.head]!;
      const live = this.isLive(entry);
      if (live && this.liveCount <= this.entriesMax && !this.isExpired(entry, now)) break;
      this.head++;
      if (!live) continue;
      const calls = this.byClient.get(entry.clientId)!;
      calls.delete(entry.callId);
      if (calls.size === 0) this.byClient.delete(entry.clientId);
      this.liveCount--;
    }
    // Compact once the dropped prefix outweighs the rest: amortized O(1) per entry.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }
}
