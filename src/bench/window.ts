// A closed-loop load generator: at most `window` calls in flight, N calls in all, with a
// latency per call. The same shape as ../shared/peers/bench-peers.mjs, so ratios against
// the peers are fair.
import { performance } from 'node:perf_hooks';

export interface WindowResult {
  n: number;
  window: number;
  elapsedMs: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | null;
}

export async function runWindow(n: number, window: number, call: (i: number) => Promise<void>): Promise<WindowResult> {
  const latencyMs = new Float64Array(n);
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const t0 = performance.now();
      try {
        await call(i);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
      }
      latencyMs[i] = performance.now() - t0;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  const elapsedMs = performance.now() - started;
  latencyMs.sort();
  return {
    n,
    window,
    elapsedMs,
    opsPerSec: Math.round((n / elapsedMs) * 1000),
    p50Ms: round3(percentile(latencyMs, 50)),
    p99Ms: round3(percentile(latencyMs, 99)),
    errors,
    firstError,
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** A deterministic shuffle of 0..n-1 (xorshift32, the same as the peers' benchmark). */
export function permutation(n: number, seed = 12345): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let x = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const j = x % (i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
