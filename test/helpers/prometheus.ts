// Reads a process's `/metrics` (Prometheus text format) and `/health` over HTTP, as a
// Prometheus server or a load balancer would.
import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Scrape {
  readonly samples: Sample[];

  constructor(readonly text: string) {
    this.samples = [];
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      assert.ok(m, `not a Prometheus sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      this.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
    }
  }

  /** Every sample of `name` whose labels include `labels`. */
  all(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** The one value of `name` with `labels`, or undefined when there is no such series. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const found = this.all(name, labels);
    assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} names ${found.length} series`);
    return found[0]?.value;
  }

  /** Like value(), but the series must exist. */
  must(name: string, labels: Record<string, string> = {}): number {
    const v = this.value(name, labels);
    assert.notEqual(v, undefined, `no series ${name} ${JSON.stringify(labels)} in the scrape`);
    return v!;
  }

  /** The role whose `tandem_role` gauge is 1. */
  role(): string | undefined {
    return this.all('tandem_role').find((s) => s.value === 1)?.labels.role;
  }
}

export async function scrape(http: string): Promise<Scrape> {
  const response = await fetch(`http://${http}/metrics`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return new Scrape(await response.text());
}

export async function health(http: string): Promise<{ code: number; body: { status: string; role?: string; reason?: string } }> {
  const response = await fetch(`http://${http}/health`, { signal: AbortSignal.timeout(10_000) });
  return { code: response.status, body: (await response.json()) as { status: string; role?: string; reason?: string } };
}
