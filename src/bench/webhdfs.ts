// `tandem bench webhdfs`: WebHDFS GETFILESTATUS calls per second over N concurrent
// keep-alive connections (an undici Pool, one request in flight per connection), with p50
// and p99 latency. Each connection runs a closed loop for the given seconds.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { TandemError } from '../errors.js';

export interface WebHdfsBenchOptions {
  /** The server's base URL, e.g. http://127.0.0.1:9870 (its /webhdfs/v1 is used). */
  url: string;
  connections: number;
  seconds: number;
  /** The path stat-ed (default '/', which always exists). */
  path?: string;
  user?: string;
  progress?: (line: string) => void;
}

export interface WebHdfsBenchResult {
  connections: number;
  seconds: number;
  calls: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError: string | null;
}

export const BENCH_CONNECTIONS_MAX = 1_024;
export const BENCH_SECONDS_MAX = 3_600;

/**
 * Latencies in logarithmic buckets 1% wide (from 1 µs), so a long run keeps a fixed-size
 * histogram instead of one sample per call; percentiles are exact to within 1%.
 */
class LatencyHistogram {
  private static readonly RATIO_LOG = Math.log(1.01);
  private readonly counts = new Float64Array(2_400); // 1.01^2400 µs ≈ 23 h
  private total = 0;

  record(ms: number): void {
    const us = Math.max(1, ms * 1000);
    const bucket = Math.min(this.counts.length - 1, Math.ceil(Math.log(us) / LatencyHistogram.RATIO_LOG));
    this.counts[bucket]!++;
    this.total++;
  }

  percentileMs(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let bucket = 0; bucket < this.counts.length; bucket++) {
      seen += this.counts[bucket]!;
      if (seen >= rank) return Math.round(1.01 ** bucket) / 1000;
    }
    return NaN;
  }
}

export async function runWebHdfsBench(opts: WebHdfsBenchOptions): Promise<WebHdfsBenchResult> {
  if (!Number.isInteger(opts.connections) || opts.connections < 1 || opts.connections > BENCH_CONNECTIONS_MAX) {
    throw new TandemError('INVALID_ARGUMENT', `connections must be an integer in 1..${BENCH_CONNECTIONS_MAX}`);
  }
  if (!(opts.seconds > 0 && opts.seconds <= BENCH_SECONDS_MAX)) throw new TandemError('INVALID_ARGUMENT', `seconds must be in (0, ${BENCH_SECONDS_MAX}]`);
  let origin: URL;
  try {
    origin = new URL(opts.url);
  } catch {
    throw new TandemError('INVALID_ARGUMENT', `--url is not a URL: "${opts.url}"`);
  }
  const path = opts.path ?? '/';
  const requestPath = `/webhdfs/v1${path.split('/').map(encodeURIComponent).join('/')}?op=GETFILESTATUS&user.name=${encodeURIComponent(opts.user ?? 'bench')}`;
  const pool = new Pool(origin.origin, { connections: opts.connections, pipelining: 1 });
  const histogram = new LatencyHistogram();
  let calls = 0;
  let errors = 0;
  let firstError: string | null = null;

  const call = async (): Promise<void> => {
    const { statusCode, body } = await pool.request({ method: 'GET', path: requestPath });
    const text = await body.text();
    if (statusCode !== 200) throw new Error(`HTTP ${statusCode}: ${text.slice(0, 200)}`);
  };

  try {
    // One untimed call per connection: connections open and the server's JIT warms.
    await Promise.all(Array.from({ length: opts.connections }, call));
    opts.progress?.(`${opts.connections} connections open to ${origin.origin}; GETFILESTATUS ${path} for ${opts.seconds} s`);
    const started = performance.now();
    const endAt = started + opts.seconds * 1000;
    const loop = async (): Promise<void> => {
      while (performance.now() < endAt) {
        const t0 = performance.now();
        try {
          await call();
          histogram.record(performance.now() - t0);
          calls++;
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.connections }, loop));
    const elapsedMs = performance.now() - started;
    return {
      connections: opts.connections,
      seconds: Math.round(elapsedMs) / 1000,
      calls,
      callsPerSec: Math.round((calls / elapsedMs) * 1000),
      p50Ms: histogram.percentileMs(50),
      p99Ms: histogram.percentileMs(99),
      errors,
      firstError,
    };
  } finally {
    await pool.close();
  }
}
