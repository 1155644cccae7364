// The metrics of one datanode (docs/metrics.md): its usage and the commands it runs, and
// its RPC latency. Labels: {datanode} on every series.

import { Gauge } from 'prom-client';
import type { CallObserver } from '../rpc/server.js';
import { rpcLatency, roleGauge } from './common.js';
import { ProcessMetrics } from './registry.js';

export interface DatanodeUsage {
  capacityBytes: number;
  usedBytes: number;
  replicas: number;
  copiesInProgress: number;
  deletesInProgress: number;
}

export class DatanodeMetrics {
  readonly metrics: ProcessMetrics;
  readonly onCallDone: CallObserver;

  constructor(datanode: string, usage: () => DatanodeUsage) {
    const metrics = new ProcessMetrics({ datanode });
    this.metrics = metrics;
    const registers = [metrics.registry];
    this.onCallDone = rpcLatency(metrics.registry);
    const setRole = roleGauge(metrics.registry, ['datanode']);
    const capacity = new Gauge({ name: 'tandem_datanode_capacity_bytes', help: 'Size of the file system holding the datanode\'s blocks', registers });
    const used = new Gauge({ name: 'tandem_datanode_used_bytes', help: 'Bytes of block data stored (replicas and their checksums)', registers });
    const replicas = new Gauge({ name: 'tandem_datanode_replicas', help: 'Replicas stored (finalized and being written)', registers });
    const copies = new Gauge({ name: 'tandem_datanode_copies_in_progress', help: 'Block copies to other datanodes running or queued (FMS replication commands)', registers });
    const deletes = new Gauge({ name: 'tandem_datanode_deletes_in_progress', help: 'Replica deletions running or queued (FMS delete commands)', registers });
    metrics.onScrape(() => {
      const u = usage();
      setRole('datanode');
      capacity.set(u.capacityBytes);
      used.set(u.usedBytes);
      replicas.set(u.replicas);
      copies.set(u.copiesInProgress);
      deletes.set(u.deletesInProgress);
    });
  }
}
