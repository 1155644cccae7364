// The metrics of one master (docs/metrics.md): its role, epoch and txids, the standbys' lag
// and the ISR (on the active), the journal's group-commit latency, RPC latency by method,
// the FMS shard's safe mode and deferred queue, and the checkpoint figures and alerts.
// Labels: {shard, member} on every series (the registry's default labels).
//
// The master hands in a snapshot function (src/master/master.ts, metricsSnapshot); the
// gauges are set from one snapshot per scrape.

import { Gauge, Histogram } from 'prom-client';
import type { GroupCommitObserver } from '../replication/journal-writer.js';
import type { CallObserver } from '../rpc/server.js';
import { ALERT_NAMES, type Alert, type CheckpointFigures } from './alerts.js';
import { ProcessMetrics } from './registry.js';
import { rpcLatency, roleGauge, setOrRemove } from './common.js';

/** Roles a master reports in `tandem_role` (MemberRole of src/master/ha-member.ts). */
export const MASTER_ROLES = ['active', 'standby', 'joining', 'taking-over', 'stopped'] as const;

/** Journal group commits: write + fdatasync, from 100 µs (NVMe) to seconds (a sick disk). */
const FSYNC_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What an FMS shard adds (src/master/shard-service.ts, ShardService.gauges). */
export interface ShardGauges {
  /** Complete blocks with a reported replica, over all complete blocks (1 with none). */
  safeModeReportedFraction?: number;
  /** The active is in safe mode; absent on a standby. */
  safeMode?: boolean;
  /** Block reports a standby parked until its journal reaches their blocks. */
  deferredReports?: number;
}

export interface StandbyProgress {
  member: string;
  inSync: boolean;
  lagTxids: number;
  lagMsP50: number | null;
  lagMsP99: number | null;
}

export interface MasterSnapshot {
  role: string;
  epoch: number;
  appliedTxid: number;
  durableTxid: number;
  committedTxid: number;
  /** Members of the ISR, the active included; null when not the active. */
  isrSize: number | null;
  /** The active's standbys; empty elsewhere. */
  standbys: StandbyProgress[];
  checkpoint: CheckpointFigures & { newestImageAgeMs: number | null };
  /** Firing alerts (judged on the active only). */
  alerts: Alert[];
  shard: ShardGauges;
}

export class MasterMetrics {
  readonly metrics: ProcessMetrics;
  readonly onGroupCommit: GroupCommitObserver;
  readonly onCallDone: CallObserver;

  constructor(labels: { shard: string; member: string }, snapshot: () => Promise<MasterSnapshot>) {
    const metrics = new ProcessMetrics(labels);
    this.metrics = metrics;
    const registers = [metrics.registry];
    const gauge = (name: string, help: string, labelNames: string[] = []): Gauge => new Gauge({ name, help, labelNames, registers });

    const fsync = new Histogram({
      name: 'tandem_journal_fsync_seconds',
      help: 'Journal group commits: one write + fdatasync of a batch of edit records, seconds',
      buckets: FSYNC_BUCKETS_SECONDS,
      registers,
    });
    const fsyncRecords = new Histogram({
      name: 'tandem_journal_group_commit_records',
      help: 'Edit records made durable by one group commit',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384],
      registers,
    });
    this.onGroupCommit = ({ ms, records }) => {
      fsync.observe(ms / 1000);
      fsyncRecords.observe(records);
    };
    this.onCallDone = rpcLatency(metrics.registry);

    const setRole = roleGauge(metrics.registry, MASTER_ROLES);
    const epoch = gauge('tandem_epoch', 'Epoch of the newest record here (the active\'s epoch on a standby that follows it)');
    const applied = gauge('tandem_applied_txid', 'Highest txid applied to memory');
    const durable = gauge('tandem_durable_txid', 'Highest txid fsynced to the local journal');
    const committed = gauge('tandem_committed_txid', 'Highest txid durable here and on every in-sync member (replies released up to it)');
    const isr = gauge('tandem_isr_size', 'Members of the shard\'s in-sync set, the active included (reported by the active)');
    const lagTxids = gauge('tandem_standby_lag_txids', 'Records a standby lacks: applied on the active minus durable on the standby (reported by the active)', ['standby']);
    const lagSeconds = gauge('tandem_standby_lag_seconds', 'Standby lag: append on the active to the standby\'s durable acknowledgement, over recent batches (reported by the active)', ['standby', 'quantile']);
    const inSync = gauge('tandem_standby_in_sync', '1 if the standby is in the in-sync set (reported by the active)', ['standby']);
    const safeMode = gauge('tandem_safe_mode', 'FMS active: 1 while in safe mode (refuses writes until enough blocks are reported)');
    const reported = gauge('tandem_safe_mode_reported_fraction', 'FMS: complete blocks with at least one reported replica, over all complete blocks');
    const deferred = gauge('tandem_deferred_reports', 'FMS: block reports parked until this member\'s journal reaches their blocks (a standby\'s deferred queue)');
    const imageTxid = gauge('tandem_checkpoint_txid', 'Txid of the newest image (checkpoint) in this member\'s storage');
    const imageAge = gauge('tandem_checkpoint_age_seconds', 'Seconds since the newest image was written to this member\'s storage');
    const pending = gauge('tandem_checkpoint_pending_seconds', 'Seconds the oldest edit past the newest image has waited for a checkpoint (0 when none waits)');
    const segments = gauge('tandem_segments_since_image', 'Edit segments holding txids past the newest image (newest image to newest edit distance)');
    const alert = gauge('tandem_alert', '1 while the alert fires (judged by the shard\'s active; docs/metrics.md)', ['alert']);

    metrics.onScrape(async () => {
      const s = await snapshot();
      setRole(s.role);
      epoch.set(s.epoch);
      applied.set(s.appliedTxid);
      durable.set(s.durableTxid);
      committed.set(s.committedTxid);
      setOrRemove(isr, s.isrSize);
      // Standbys come and go: only the current ones have series.
      for (const g of [lagTxids, lagSeconds, inSync]) g.reset();
      for (const standby of s.standbys) {
        lagTxids.set({ standby: standby.member }, standby.lagTxids);
        inSync.set({ standby: standby.member }, standby.inSync ? 1 : 0);
        if (standby.lagMsP50 !== null) lagSeconds.set({ standby: standby.member, quantile: '0.5' }, standby.lagMsP50 / 1000);
        if (standby.lagMsP99 !== null) lagSeconds.set({ standby: standby.member, quantile: '0.99' }, standby.lagMsP99 / 1000);
      }
      setOrRemove(safeMode, s.shard.safeMode === undefined ? null : s.shard.safeMode ? 1 : 0);
      setOrRemove(reported, s.shard.safeModeReportedFraction);
      setOrRemove(deferred, s.shard.deferredReports);
      setOrRemove(imageTxid, s.checkpoint.newestImageTxid);
      setOrRemove(imageAge, s.checkpoint.newestImageAgeMs === null ? null : s.checkpoint.newestImageAgeMs / 1000);
      pending.set((s.checkpoint.checkpointPendingMs ?? 0) / 1000);
      segments.set(s.checkpoint.segmentsSinceImage);
      for (const name of ALERT_NAMES) alert.set({ alert: name }, s.alerts.some((a) => a.alert === name) ? 1 : 0);
    });
  }
}
