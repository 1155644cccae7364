// A one-line progress bar on stderr for long transfers (only on a terminal: scripts and
// logs get no carriage returns). Redrawn at most every 200 ms.

import { performance } from 'node:perf_hooks';
import { Transform } from 'node:stream';

const REDRAW_MS = 200;

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export class Progress {
  private done = 0;
  private lastDrawAt = 0;
  private readonly startedAt = performance.now();
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly totalBytes: number | null,
    stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = stream.isTTY === true;
    this.stream = stream;
  }

  private readonly stream: NodeJS.WriteStream;

  /** A pass-through stage for a pipeline that counts what flows through it. */
  meter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.add(chunk.length);
        done(null, chunk);
      },
    });
  }

  add(bytes: number): void {
    this.done += bytes;
    const now = performance.now();
    if (this.enabled && now - this.lastDrawAt >= REDRAW_MS) {
      this.lastDrawAt = now;
      this.draw(now);
    }
  }

  private draw(now: number): void {
    const seconds = Math.max(0.001, (now - this.startedAt) / 1000);
    const rate = `${formatBytes(this.done / seconds)}/s`;
    if (this.totalBytes === null || this.totalBytes === 0) {
      this.stream.write(`\r${this.label}: ${formatBytes(this.done)} ${rate}   `);
      return;
    }
    const fraction = Math.min(1, this.done / this.totalBytes);
    const width = 30;
    const filled = Math.round(fraction * width);
    this.stream.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0)}% ${formatBytes(this.done)}/${formatBytes(this.totalBytes)} ${rate}   `);
  }

  /** The final line (also on a terminal only) and the throughput, for callers that print a summary. */
  finish(): { bytes: number; seconds: number } {
    const now = performance.now();
    if (this.enabled) {
      this.draw(now);
      this.stream.write('\n');
    }
    return { bytes: this.done, seconds: (now - this.startedAt) / 1000 };
  }
}
