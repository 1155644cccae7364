// The checkpoint alert (DESIGN §1, Peta2's "newest edit and newest image more than 100
// versions apart"): pure judgement over figures the master gathers from its storage. It
// fires when
//   - image-edit-distance: the shard's newest edit is more than `segmentsMax` edit segments
//     past its newest image (a restart would replay them all; retention cannot purge them);
//   - checkpoint-overdue: edits have waited for a checkpoint more than twice the checkpoint
//     period (checkpointIntervalMs): the checkpointing standby is gone, or its images do
//     not reach the active.
// Only the shard's active (or a single master) judges: the checkpoints land on the active,
// and a standby other than the first never takes one, so its own storage says nothing
// about the shard.

export const ALERT_NAMES = ['image-edit-distance', 'checkpoint-overdue'] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

export interface Alert {
  alert: AlertName;
  message: string;
}

export interface CheckpointFigures {
  /** Edit segments holding txids past the newest image (the in-progress one counted if it holds any). */
  segmentsSinceImage: number;
  /** Alert when segmentsSinceImage exceeds this (Limits.alertSegmentsSinceImageMax). */
  segmentsMax: number;
  /** How long the oldest edit past the newest image has waited for a checkpoint; null when there is none. */
  checkpointPendingMs: number | null;
  checkpointIntervalMs: number;
  newestImageTxid: number | null;
  newestEditTxid: number;
}

/** The alerts that fire now (empty when all is well). */
export function checkpointAlerts(f: CheckpointFigures): Alert[] {
  const alerts: Alert[] = [];
  const image = f.newestImageTxid === null ? 'no image' : `image ${f.newestImageTxid}`;
  if (f.segmentsSinceImage > f.segmentsMax) {
    alerts.push({
      alert: 'image-edit-distance',
      message: `newest edit (txid ${f.newestEditTxid}) is ${f.segmentsSinceImage} segments past the newest image (${image}), over ${f.segmentsMax}: checkpoints are not reaching this member`,
    });
  }
  if (f.checkpointPendingMs !== null && f.checkpointPendingMs > 2 * f.checkpointIntervalMs) {
    alerts.push({
      alert: 'checkpoint-overdue',
      message: `no checkpoint for ${Math.round(f.checkpointPendingMs / 1000)} s with edits past the newest image (${image}), over twice the checkpoint period of ${Math.round(f.checkpointIntervalMs / 1000)} s`,
    });
  }
  return alerts;
}
