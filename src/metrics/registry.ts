// Prometheus metrics of one Tandem process (DESIGN §7, docs/metrics.md): a prom-client
// Registry of its own, never prom-client's global one, so that several masters, datanodes
// and monitors started in one test process do not collide on metric names.
//
// The Node.js process metrics (CPU, memory, event-loop lag, GC, file descriptors) are
// collected once per OS process, on a registry of their own: prom-client's collectors
// install a GC observer and an event-loop histogram that are never removed, so one set
// per OS process, not one per component. `/metrics` serves both registries' text.
//
// Gauges that mirror state (txids, roles, usage) are set by refresh hooks run at each
// scrape, so a scrape reads one consistent snapshot and nothing runs between scrapes.

import { collectDefaultMetrics, Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';

let processRegistry: Registry | null = null;

/** The OS process's Node.js metrics (made on first use). */
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class ProcessMetrics {
  readonly registry = new Registry();
  private readonly refreshers: Array<() => void | Promise<void>> = [];

  /** `labels` go on every Tandem metric of this component (e.g. {shard, member} or {datanode}). */
  constructor(labels: Record<string, string>) {
    this.registry.setDefaultLabels(labels);
    processMetrics();
  }

  /** Runs before every scrape: sets the gauges that mirror state. */
  onScrape(refresh: () => void | Promise<void>): void {
    this.refreshers.push(refresh);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition: this component's metrics, then the process's. */
  async text(): Promise<string> {
    for (const refresh of this.refreshers) await refresh();
    const own = await this.registry.metrics();
    return `${own}\n${await processMetrics().metrics()}`;
  }
}

/**
 * `GET /metrics` on a fastify instance (Prometheus text format). Exported for every HTTP
 * server of Tandem: masters' image servers, monitors, datanodes, and the adapter.
 */
export function metricsRoutes(metrics: ProcessMetrics): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/metrics', async (_req, reply) => reply.header('content-type', metrics.contentType).send(await metrics.text()));
  };
}

/** What `GET /health` answers: 200 `{status: 'ok', …}` or 503 `{status: 'unavailable', reason, …}`. */
export interface HealthVerdict {
  ok: boolean;
  reason?: string;
  /** Extra fields for the JSON answer (a master's role, say). */
  detail?: Record<string, unknown>;
}

/** `GET /health` for load balancers: 200 when the process can do its job, 503 with a reason when not. */
export function healthRoutes(check: () => HealthVerdict | Promise<HealthVerdict>): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/health', async (_req, reply) => {
      const verdict = await check();
      return reply
        .code(verdict.ok ? 200 : 503)
        .header('cache-control', 'no-store')
        .send({ status: verdict.ok ? 'ok' : 'unavailable', ...(verdict.reason ? { reason: verdict.reason } : {}), ...verdict.detail });
    });
  };
}
