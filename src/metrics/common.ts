// Metrics every kind of Tandem process has: its role, and the latency of its RPC server.

import { Gauge, type Registry } from 'prom-client';
import type { CallObserver } from '../rpc/server.js';
import { TwoLabelHistogram } from './fast-histogram.js';

/** RPC calls from 50 µs (a cached read) to the default 30 s deadline. */
const RPC_BUCKETS_SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** `tandem_rpc_duration_seconds{method, outcome}`: handed to the RpcServer as its onCallDone. */
export function rpcLatency(registry: Registry): CallObserver {
  const histogram = new TwoLabelHistogram(
    'tandem_rpc_duration_seconds',
    'RPC calls served, from the request to the reply (a write includes its commit), by method and outcome (ok or error)',
    ['method', 'outcome'],
    RPC_BUCKETS_SECONDS,
    registry,
  );
  return (method, ms, outcome) => histogram.observe(method, outcome, ms / 1000);
}

/**
 * `tandem_role{role}`: 1 for the process's role now, 0 for each other role it can take, so
 * a query like `tandem_role{role="active"} == 1` finds the actives. Returns the setter.
 */
export function roleGauge(registry: Registry, roles: readonly string[]): (role: string) => void {
  const gauge = new Gauge({ name: 'tandem_role', help: 'Role of the process: 1 for the role it has now, 0 for the others', labelNames: ['role'], registers: [registry] });
  return (now) => {
    for (const role of roles) gauge.set({ role }, role === now ? 1 : 0);
    if (!roles.includes(now)) gauge.set({ role: now }, 1);
  };
}

/**
 * Sets an unlabelled gauge, or removes its series when the figure does not apply here (the
 * ISR size on a standby): absent, not 0, so that a query over the shard sees only real figures.
 */
export function setOrRemove(gauge: Gauge, value: number | null | undefined): void {
  if (value === null || value === undefined) gauge.remove({});
  else gauge.set(value);
}
