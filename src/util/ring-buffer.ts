// A fixed-capacity buffer that forgets its oldest item to take a new one: how the dashboard
// keeps its chart series and failover history bounded however long it runs.

export class RingBuffer<T> {
  private readonly items: T[] = [];
  /** Index of the oldest item once full. Invariant: 0 ≤ head < capacity; items.length ≤ capacity. */
  private head = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`a ring buffer needs a capacity ≥ 1, got ${capacity}`);
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return;
    }
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
  }

  /** The newest item, if any. */
  last(): T | undefined {
    if (this.items.length === 0) return undefined;
    return this.items[(this.head + this.items.length - 1) % this.items.length];
  }

  /** Oldest first (a copy). */
  toArray(): T[] {
    return [...this.items.slice(this.head), ...this.items.slice(0, this.head)];
  }
}
