// What a shard plugs into a master process. NS and FMS masters share everything — the
// engine, the journal, images, election, replication, fencing, the image server, admin
// methods (src/master/master.ts) — and differ only in the state machine and the RPC
// methods on top of it, which a ShardService supplies.
//
// Every method has a kind, and the master checks it before the service sees the call:
//   write  — journaled through the engine; only the active takes it (engine.submit refuses
//            on a standby with NOT_ACTIVE).
//   read   — answered by the active only, and only while its read lease holds
//            (linearizable reads, docs/architecture.md).
//   member — answered by every member, active or standby, from its own soft state
//            (datanode heartbeats and block reports go to all members of an FMS shard).

import type { Logger } from '../util/log.js';
import type { ReplicationEngine } from '../replication/engine.js';
import type { StateMachine } from '../replication/state-machine.js';
import type { ShardGauges } from '../metrics/master-metrics.js';

export type MethodKind = 'write' | 'read' | 'member';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyEngine = ReplicationEngine<any, any, any>;

/** The master as a service sees it. */
export interface ServiceHost {
  /** The engine now (it is replaced when a standby truncates or installs an image). */
  engine(): AnyEngine;
  /** True while this member is the shard's active (and not handing over). */
  isActive(): boolean;
  readonly member: string;
  readonly log: Logger;
}

export interface ShardService {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly machine: StateMachine<any, any, any>;
  /** RPC method → kind. */
  readonly methods: ReadonlyMap<string, MethodKind>;
  handle(method: string, args: unknown, host: ServiceHost): unknown;
  /** Shard-specific fields of `admin.status`. */
  status(host: ServiceHost): Record<string, unknown>;
  /** Shard-specific metrics (an FMS shard's safe mode and deferred queue), read at each scrape. */
  gauges?(host: ServiceHost): ShardGauges;
  /** Why this member cannot do its job now though its role is fine (an FMS active in safe mode), or null. */
  healthProblem?(host: ServiceHost): string | null;
  /** Called once the master serves (timers start here). */
  start?(host: ServiceHost): void;
  /**
   * The shard's own, automatic safe mode (an FMS active waiting for block reports), beside
   * the engine's manual one: null when the shard has none or this member is not active.
   */
  automaticSafeMode?(host: ServiceHost): { on: boolean; progress: string } | null;
  /** `admin safemode leave` ends the automatic safe mode too; answers whether it was on. */
  leaveAutomaticSafeMode?(host: ServiceHost): boolean;
  stop?(): Promise<void>;
}

/** Unwraps a state machine's Outcome into its value or a thrown TandemError. */
export { unwrap } from './unwrap.js';
