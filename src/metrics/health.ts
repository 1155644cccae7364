// What a master's `GET /health` answers (pure): healthy when it can do its job in its role
// — the active serving, or a standby the active keeps feeding — and why not otherwise. A
// load balancer in front of a shard's members sends traffic to the one answering
// `{status: 'ok', role: 'active'}`; a standby answering 200 is a good takeover candidate.

import type { HealthVerdict } from './registry.js';

export interface MasterHealthInput {
  /** stop() was called: draining, then gone. */
  stopping: boolean;
  /** The journal failed: the process stops serving and exits. */
  fatal: string | null;
  /** The HA role, or 'active' for a single master without ZooKeeper. */
  role: string;
  /** A graceful hand-over is draining this active. */
  handingOver: boolean;
  /** A standby replacing its storage (truncating its tail, installing the active's image). */
  replacingStorage: boolean;
  /** ms since the active last reached this standby; null if no active ever did. */
  sinceActiveMs: number | null;
  /** A standby silent from its active longer than this is not healthy. */
  activeSilenceMaxMs: number;
  /** The shard's own reason not to serve (an FMS active in safe mode), or null. */
  shardProblem: string | null;
}

export function masterHealth(h: MasterHealthInput): HealthVerdict {
  const detail = { role: h.role };
  const no = (reason: string): HealthVerdict => ({ ok: false, reason, detail });
  if (h.stopping) return no('stopping');
  if (h.fatal !== null) return no(`journal failed: ${h.fatal}`);
  switch (h.role) {
    case 'active':
      if (h.handingOver) return no('handing over to a standby');
      if (h.shardProblem !== null) return no(h.shardProblem);
      return { ok: true, detail };
    case 'standby':
      if (h.replacingStorage) return no('replacing its storage from the active');
      if (h.sinceActiveMs === null) return no('no active has reached this standby yet');
      if (h.sinceActiveMs > h.activeSilenceMaxMs) return no(`no word from the active for ${Math.round(h.sinceActiveMs)} ms`);
      return { ok: true, detail };
    case 'taking-over':
      return no('taking over as active');
    case 'joining':
      return no('joining the election');
    default:
      return no(`role ${h.role}`);
  }
}
