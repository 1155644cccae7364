// WebHDFS clients in `tandem bench chaos` (--webhdfs-workers N): what a user of the HTTP API
// sees while masters die. Each probe worker, alone in `<dir>/web<k>/`, makes directory d<i>,
// d<i+1>, … with `PUT …?op=MKDIRS` through the adapters (one keep-alive connection pool per
// adapter; the next adapter after a transport error or a 5xx), one call at a time, and keeps
// the completion time of every success and the names it was told were made.
//
// What it measures, per namespace kill: the longest stretch in which no WebHDFS call
// succeeded, from the last success before the kill until the next kill, over all probe
// workers together (gapsAroundKills, pure). The
// adapter's own client retries through the failover, so a call held there shows up as this
// gap, not as an error; errors are counted by HTTP status. At the check, every directory a
// probe was told was made must exist: WebHDFS acknowledgements are held to the same rule as
// the SDK's.

import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { sleep } from '../client/backoff.js';

/** Calls one probe worker records: bounds the memory of a long run (a number per success). */
const SUCCESSES_PER_WORKER_MAX = 2_000_000;
/** A WebHDFS call that takes longer is given up (and counted as an error); it rides through a failover well within this. */
const CALL_TIMEOUT_MS = 35_000;
/** After an error the worker pauses this long before trying the next adapter, so a dead adapter is not hammered. */
const ERROR_PAUSE_MS = 20;

export interface WebHdfsProbeOptions {
  /** Adapters' HTTP addresses (HOST:PORT). */
  adapters: readonly string[];
  workers: number;
  /** Tandem path under which each worker makes its own directory (`<dir>/web<k>`). */
  dir: string;
  user: string;
}

export interface WebHdfsProbeResult {
  acked: number;
  /** Calls answered with an error or not at all, by HTTP status ("transport" for no answer). */
  errors: Record<string, number>;
  /** Per worker: the directories it was told were made, to check at the end. */
  made: string[][];
}

interface ProbeWorker {
  dir: string;
  next: number;
  adapter: number;
  successes: number[];
  made: string[];
}

export class WebHdfsProbes {
  private readonly pools: Pool[];
  private readonly workers: ProbeWorker[];
  private readonly errors: Record<string, number> = {};
  private running: Promise<void>[] = [];
  private stopping = false;

  constructor(private readonly opts: WebHdfsProbeOptions) {
    if (opts.adapters.length === 0) throw new Error('WebHdfsProbes needs at least one adapter');
    this.pools = opts.adapters.map((a) => new Pool(`http://${a}`, { connections: Math.max(1, opts.workers), pipelining: 1, keepAliveTimeout: 30_000 }));
    this.workers = Array.from({ length: opts.workers }, (_, k) => ({ dir: `${opts.dir}/web${k}`, next: 0, adapter: k % opts.adapters.length, successes: [], made: [] }));
  }

  /** Makes every worker's directory (untimed; each adapter tried once), then starts the load. */
  async start(): Promise<void> {
    for (const w of this.workers) {
      const answers: string[] = [];
      for (let tried = 0; tried < this.pools.length; tried++) {
        const status = await this.mkdirs(w, w.dir);
        if (status === 200) break;
        answers.push(`${this.opts.adapters[w.adapter]} answered ${status}`);
        w.adapter = (w.adapter + 1) % this.pools.length;
      }
      if (answers.length === this.pools.length) throw new Error(`WebHDFS MKDIRS ${w.dir} failed on every adapter: ${answers.join('; ')}`);
    }
    this.running = this.workers.map((w) => this.loop(w));
  }

  /** Stops issuing calls, lets the ones in flight end, and says what happened. */
  async stop(): Promise<WebHdfsProbeResult> {
    this.stopping = true;
    await Promise.all(this.running);
    await Promise.all(this.pools.map((p) => p.close()));
    return {
      acked: this.workers.reduce((sum, w) => sum + w.successes.length, 0),
      errors: { ...this.errors },
      made: this.workers.map((w) => w.made),
    };
  }

  /** Completion times (performance.now()) of every success, all workers together, sorted. */
  successTimes(): number[] {
    return this.workers.flatMap((w) => w.successes).sort((a, b) => a - b);
  }

  private async loop(w: ProbeWorker): Promise<void> {
    while (!this.stopping && w.successes.length < SUCCESSES_PER_WORKER_MAX) {
      const path = `${w.dir}/d${w.next++}`;
      const status = await this.mkdirs(w, path);
      if (status === 200) {
        w.successes.push(performance.now());
        w.made.push(path);
        continue;
      }
      this.errors[status] = (this.errors[status] ?? 0) + 1;
      w.adapter = (w.adapter + 1) % this.pools.length;
      await sleep(ERROR_PAUSE_MS);
    }
  }

  /** 200 when the directory is there (`{"boolean": true}`), else the HTTP status or "transport". */
  private async mkdirs(w: ProbeWorker, path: string): Promise<number | 'transport'> {
    const query = `op=MKDIRS&user.name=${encodeURIComponent(this.opts.user)}`;
    try {
      const { statusCode, body } = await this.pools[w.adapter]!.request({
        method: 'PUT',
        path: `/webhdfs/v1${path.split('/').map(encodeURIComponent).join('/')}?${query}`,
        headersTimeout: CALL_TIMEOUT_MS,
        bodyTimeout: CALL_TIMEOUT_MS,
      });
      const text = await body.text();
      if (statusCode !== 200) return statusCode;
      return (JSON.parse(text) as { boolean?: unknown }).boolean === true ? 200 : 500;
    } catch {
      return 'transport';
    }
  }
}

/**
 * For each kill: the longest stretch without a success, from the last success at or before
 * the kill (the kill itself when none) through every success until the next kill (or
 * `endTime`) — and at least to the first success after the kill, even past the next kill (an
 * outage longer than the kill interval is measured whole). A reply the old active had
 * already sent can complete just after the kill; the silence that follows it is the outage,
 * so the whole window counts, not only the first gap. Null when no success came after the kill.
 */
export function gapsAroundKills(successTimes: readonly number[], killTimes: readonly number[], endTime = Infinity): Array<number | null> {
  return killTimes.map((killedAt, k) => {
    const windowEnd = killTimes[k + 1] ?? endTime;
    let i = firstIndexAfter(successTimes, killedAt);
    if (i === successTimes.length) return null;
    let previous = i > 0 ? successTimes[i - 1]! : killedAt;
    let longest = 0;
    do {
      longest = Math.max(longest, successTimes[i]! - previous);
      previous = successTimes[i]!;
      i++;
    } while (i < successTimes.length && successTimes[i]! <= windowEnd);
    return longest;
  });
}

/** The index of the first time strictly after `t` in sorted `times` (binary search). */
function firstIndexAfter(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
