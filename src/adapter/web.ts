// What the adapter's HTTP port serves besides /status, /health and /shards (http.ts): the
// WebHDFS namenode side (src/webhdfs/), the dashboard at `/` (src/dashboard/) and the
// adapter's Prometheus `/metrics` (src/metrics/). Each reads the adapter's cache, so none of
// them opens a ZooKeeper session of its own, and WebHDFS calls go to the actives through
// `adapter.client(user)` — the same cached actives, one set of connections for all users.

import { Gauge } from 'prom-client';
import { ClusterWatch } from '../dashboard/cluster-watch.js';
import { registerDashboard } from '../dashboard/routes.js';
import { metricsRoutes, ProcessMetrics } from '../metrics/registry.js';
import type { Logger } from '../util/log.js';
import { registerWebHdfs } from '../webhdfs/namenode-routes.js';
import type { Adapter } from './adapter.js';
import type { AdapterHttpRoutes } from './http.js';
import type { AdapterSnapshot } from './snapshot.js';

/** The routes of a full adapter: WebHDFS, the dashboard and /metrics. */
export function adapterWebRoutes(log: Logger): Array<AdapterHttpRoutes<Adapter>> {
  return [webHdfsRoutes(log), dashboardRoutes(log), adapterMetricsRoutes()];
}

/** Live datanodes with an HTTP address (the data side of WebHDFS), from the cache. */
export function webHdfsDatanodes(snapshot: AdapterSnapshot): Array<{ id: string; http: string }> {
  return snapshot.datanodes.filter((d) => typeof d.http === 'string' && d.http !== '').map((d) => ({ id: d.id, http: d.http }));
}

function webHdfsRoutes(log: Logger): AdapterHttpRoutes<Adapter> {
  return (app, adapter) => registerWebHdfs(app, { clientFor: (user) => adapter.client(user), datanodes: () => webHdfsDatanodes(adapter.snapshot()), log });
}

function dashboardRoutes(log: Logger): AdapterHttpRoutes<Adapter> {
  return (app, adapter) => {
    const watch = new ClusterWatch({
      source: {
        registry: () => {
          const s = adapter.snapshot();
          return { registry: s.readAt === '' ? null : { readAt: s.readAt, shards: s.shards }, stale: s.stale, ageMs: s.ageMs, datanodes: s.datanodes };
        },
      },
      log,
    });
    watch.start();
    app.addHook('onClose', async () => watch.stop());
    registerDashboard(app, watch);
  };
}

function adapterMetricsRoutes(): AdapterHttpRoutes<Adapter> {
  return (app, adapter) => {
    const metrics = new ProcessMetrics({ adapter: adapter.id });
    const registers = [metrics.registry];
    const stale = new Gauge({ name: 'tandem_adapter_cache_stale', help: '1 while the registry cache is stale (ZooKeeper unreachable), else 0', registers });
    const age = new Gauge({ name: 'tandem_adapter_cache_age_seconds', help: 'age of the registry cache: time since the last successful read of ZooKeeper', registers });
    const datanodes = new Gauge({ name: 'tandem_adapter_datanodes', help: 'datanodes registered in ZooKeeper, as the cache has them', registers });
    metrics.onScrape(() => {
      const s = adapter.snapshot();
      stale.set(s.stale ? 1 : 0);
      age.set(s.ageMs / 1000);
      datanodes.set(s.datanodes.length);
    });
    metricsRoutes(metrics)(app);
  };
}
