// An FMS member's view of the datanodes registered in ZooKeeper (`/datanodes/<id>`, each
// an ephemeral node of the datanode's session): read with a watch, read again whenever the
// set changes, and handed to the block map, which counts a datanode whose node is gone as
// dead after a short silence instead of the full heartbeat deadline
// (src/filemeta/datanodes.ts says why both signals are needed).
//
// Its own session, so the master's election session is never shared with it. A session
// that expires is replaced; while ZooKeeper is unreachable the last list is kept (a stale
// list only matters for datanodes that are also silent).

import type { Coordinator } from '../election/coordinator.js';
import { DATANODES_PATH } from '../election/layout.js';
import type { Logger } from '../util/log.js';

/** A failed read is tried again after this long (the watch is gone with the failure). */
const RETRY_MS = 1_000;

export class RegisteredDatanodes {
  private coordinator: Coordinator | null = null;
  private stopped = false;
  private reading = false;
  private readAgain = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failing = false;

  constructor(
    private readonly connect: () => Promise<Coordinator>,
    private readonly onChange: (ids: string[]) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.read();
  }

  private async read(): Promise<void> {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        const coordinator = await this.session();
        await coordinator.ensurePath(DATANODES_PATH);
        // One watch per read: it fires once, for the next change, and the read sets the next.
        const ids = await coordinator.children(DATANODES_PATH, () => void this.read());
        if (this.stopped) return;
        this.onChange(ids.sort());
        if (this.failing) this.log.info(`reading ${DATANODES_PATH} in ZooKeeper again: ${ids.length} datanodes registered`);
        this.failing = false;
      } while (this.readAgain && !this.stopped);
    } catch (err) {
      if (!this.failing) this.log.warn({ err }, `cannot read ${DATANODES_PATH} in ZooKeeper (datanodes are judged by heartbeats alone meanwhile): ${(err as Error).message}`);
      this.failing = true;
      this.retryTimer = setTimeout(() => void this.read(), RETRY_MS);
      this.retryTimer.unref();
    } finally {
      this.reading = false;
    }
  }

  private async session(): Promise<Coordinator> {
    if (this.coordinator) return this.coordinator;
    const coordinator = await this.connect();
    coordinator.onSessionEvent((event) => {
      if (event !== 'expired' || this.coordinator !== coordinator) return;
      // The watch died with the session: a new session reads (and watches) again.
      this.coordinator = null;
      void this.read();
    });
    if (this.stopped) {
      await coordinator.close();
      throw new Error('stopped');
    }
    this.coordinator = coordinator;
    return coordinator;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.coordinator?.close().catch(() => undefined);
    this.coordinator = null;
  }
}
