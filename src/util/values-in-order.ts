// An object as the values of its fields in a fixed order, and back: the compact journal
// records (replication/record-codec.ts) and RPC args by position (master/positional-args.ts)
// both write a known set of fields this way, nil standing for an absent one.

/**
 * Appends the values of `object`'s fields order[from..] to `out` (nil for an absent field,
 * trailing absent ones left off) and returns `out`; or null when the object does not fit:
 * a field set to null (nil means absent), or a key the order does not name. `counted` is how
 * many of the object's keys the caller accounts for itself (an op's `type`, say).
 */
export function appendValuesInOrder(out: unknown[], object: Record<string, unknown>, order: readonly string[], from: number, counted: number): unknown[] | null {
  let last = order.length - 1;
  while (last >= from && object[order[last]!] === undefined) last--;
  let present = counted;
  for (let i = from; i <= last; i++) {
    const value = object[order[i]!];
    if (value === null) return null;
    if (value !== undefined) present++;
    out.push(value === undefined ? null : value);
  }
  // A key the order does not name (or one set to undefined) is left uncounted.
  return Object.keys(object).length === present ? out : null;
}

/** Sets on `target` the field order[at + i] to values[from + i] for each non-nil value; returns `target`. */
export function assignValuesInOrder(target: Record<string, unknown>, values: readonly unknown[], from: number, order: readonly string[], at: number): Record<string, unknown> {
  for (let i = from; i < values.length; i++) {
    const value = values[i];
    if (value !== null) target[order[at + i - from]!] = value;
  }
  return target;
}
