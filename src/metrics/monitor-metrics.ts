// The metrics of a monitor (docs/metrics.md): whether the master it watches lives, and
// whether it holds a ZooKeeper session. Labels: {shard, member} (the watched master's).

import { Gauge } from 'prom-client';
import { roleGauge, setOrRemove } from './common.js';
import { ProcessMetrics } from './registry.js';

export interface MonitorFigures {
  /** The watched master's process lives (null: no PID known yet). */
  masterAlive: boolean | null;
  zooKeeperSession: boolean;
  /** Times this monitor saw its master die. */
  masterDeaths: number;
}

export function monitorMetrics(labels: { shard: string; member: string }, figures: () => MonitorFigures): ProcessMetrics {
  const metrics = new ProcessMetrics(labels);
  const registers = [metrics.registry];
  const setRole = roleGauge(metrics.registry, ['monitor']);
  const alive = new Gauge({ name: 'tandem_monitor_master_alive', help: '1 while the watched master\'s process lives (absent before its PID is known)', registers });
  const session = new Gauge({ name: 'tandem_monitor_zookeeper_session', help: '1 while the monitor holds a ZooKeeper session', registers });
  const deaths = new Gauge({ name: 'tandem_monitor_master_deaths', help: 'Deaths of the watched master seen by this monitor since it started', registers });
  metrics.onScrape(() => {
    const f = figures();
    setRole('monitor');
    setOrRemove(alive, f.masterAlive === null ? null : f.masterAlive ? 1 : 0);
    session.set(f.zooKeeperSession ? 1 : 0);
    deaths.set(f.masterDeaths);
  });
  return metrics;
}
