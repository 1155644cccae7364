// Capped exponential backoff with full jitter (delay drawn uniformly from [0, cap]):
// clients that lost the same master must not come back in lockstep.

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export function backoffDelayMs(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
