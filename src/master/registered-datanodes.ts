// An FMS member's view of the datanodes registered in ZooKeeper (`/datanodes/<id>`, each
// an ephemeral node of the datanode's session): read with a watch, read again whenever the
// set changes, and handed to the block map, which counts a datanode whose node is gone as
// dead after a short silence instead of the full heartbeat deadline
// (src/filemeta/datanodes.ts says why both signals are needed).
//
// Its own session, so the master's election session is never shared with it. A session
// that expires is replaced; while ZooKeeper is unreachable the last list is kept (a stale
// list only matters for datanodes that are also silent).
//
// The same reads follow the decommission list (`/config/decommission`, written by `tandem
// admin decommission`): which datanodes are leaving, so the active moves their replicas.

import type { Coordinator } from '../election/coordinator.js';
import { DATANODES_PATH, DECOMMISSION_PATH, type DecommissionList } from '../election/layout.js';
import type { Logger } from '../util/log.js';
import { LazySession } from '../election/lazy-session.js';
import { SerialTask } from '../util/serial-task.js';

/** A failed read is tried again after this long (the watch is gone with the failure). */
const RETRY_MS = 1_000;

export class RegisteredDatanodes {
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failing = false;
  /** Its own session; the watch died with an expired one, so a new session reads (and watches) again. */
  private readonly session: LazySession;
  private readonly reads: SerialTask;

  constructor(
    connect: () => Promise<Coordinator>,
    private readonly onChange: (ids: string[]) => void,
    private readonly log: Logger,
    private readonly onDecommission: (ids: string[]) => void = () => undefined,
  ) {
    this.session = new LazySession(connect, () => void this.reads.run());
    this.reads = new SerialTask(
      () => this.read(),
      (err) => {
        if (this.stopped) return;
        if (!this.failing) this.log.warn({ err }, `cannot read ${DATANODES_PATH} in ZooKeeper (datanodes are judged by heartbeats alone meanwhile): ${(err as Error).message}`);
        this.failing = true;
        this.retryTimer = setTimeout(() => void this.reads.run(), RETRY_MS);
        this.retryTimer.unref();
      },
    );
  }

  start(): void {
    void this.reads.run();
  }

  private async read(): Promise<void> {
    if (this.stopped) return;
    const coordinator = await this.session.get();
    await coordinator.ensurePath(DATANODES_PATH);
    // One watch per read: it fires once, for the next change, and the read sets the next.
    const ids = await coordinator.children(DATANODES_PATH, () => void this.reads.run());
    const leaving = await coordinator.get<DecommissionList>(DECOMMISSION_PATH, () => void this.reads.run());
    if (this.stopped) return;
    this.onChange(ids.sort());
    this.onDecommission(Array.isArray(leaving?.data?.datanodes) ? leaving.data.datanodes.filter((id) => typeof id === 'string').sort() : []);
    if (this.failing) this.log.info(`reading ${DATANODES_PATH} in ZooKeeper again: ${ids.length} datanodes registered`);
    this.failing = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.session.close();
  }
}
