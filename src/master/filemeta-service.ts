// A file-metadata shard (FMS) as a ShardService (docs/data-path.md): the pure FMS state
// machine (src/filemeta/), journaled by the same engine as the namespace, plus this
// member's soft state — the block map built from datanode reports.
//
// Every member, active or standby, takes datanode heartbeats and block reports (method
// kind 'member'), so a standby knows where the replicas are before it ever takes over. A
// standby parks reports for blocks its journal has not reached in the block map's
// deferred queue and replays them as it applies. Only the active hands out commands
// (delete, replicate), stamped with its epoch, and only out of safe mode: a new active
// waits until the fraction of complete blocks with a reported replica reaches the
// threshold (0.999), and says so in its log and status.

import { randomUUID } from 'node:crypto';
import { TandemError } from '../errors.js';
import { sleep } from '../client/backoff.js';
import type { Limits } from '../config/limits.js';
import { BlockMap, type DatanodeCommand } from '../filemeta/block-map.js';
import { LeaseTable } from '../filemeta/leases.js';
import { createFileMetaMachine, type FileMetaMachine, type FileMetaState } from '../filemeta/machine.js';
import type { FileMetaMutation, PipelineAnswer, DeleteFilesAnswer, DatanodeRef } from '../filemeta/ops.js';
import { poolsOfShard, type PoolMap } from '../election/pool-map.js';
import { FILEMETA_SCHEMAS, parseFileMetaArgs, type ArgsOf, type FileMetaMethod } from './filemeta-methods.js';
import type { MethodKind, ServiceHost, ShardService } from './shard-service.js';
import { unwrap } from './unwrap.js';

export interface FileMetaServiceOptions {
  shard: string;
  poolMap: PoolMap;
  limits: Limits;
  superuser?: string;
  supergroup?: string;
  /** Overrides of the FMS config (tests shorten deadlines). */
  config?: Partial<Parameters<typeof createFileMetaMachine>[0]>;
}

const KINDS: Record<FileMetaMethod, MethodKind> = {
  'fms.addBlock': 'write',
  'fms.updatePipeline': 'write',
  'fms.complete': 'write',
  'fms.deleteFiles': 'write',
  'fms.getBlockLocations': 'read',
  'fms.reportBadBlock': 'read',
  'fms.renewLease': 'read',
  'dn.heartbeat': 'member',
  'dn.blockReport': 'member',
  'dn.incrementalReport': 'member',
};

/** How often the active computes replication work and checks leases, and a standby replays deferred reports. */
const TICK_MS = 500;
/** Commands waiting for one datanode's next heartbeat, at most. */
const COMMANDS_QUEUED_PER_DATANODE_MAX = 64;
/** How long a writer's complete (or next addBlock) waits for a datanode to report its finished block, and how often it looks. */
const REPORTED_WAIT_MS_MAX = 2_000;
const REPORTED_POLL_MS = 5;
/** Full reports being assembled from pages at once (one per datanode). */
const REPORTS_IN_ASSEMBLY_MAX = 1_024;

export function createFileMetaService(opts: FileMetaServiceOptions): ShardService {
  return new FileMetaService(opts);
}

class FileMetaService implements ShardService {
  readonly machine: FileMetaMachine;
  readonly methods: ReadonlyMap<string, MethodKind> = new Map(Object.entries(KINDS));
  private readonly blockMap: BlockMap;
  private readonly leases: LeaseTable;
  /** Pages of full reports being assembled, by datanode. */
  private readonly reportPages = new Map<string, { reportId: string; next: number; replicas: ArgsOf<'dn.blockReport'>['replicas'] }>();
  /** Commands waiting for each datanode's next heartbeat (active only). */
  private readonly commands = new Map<string, DatanodeCommand[]>();
  /** Datanodes whose full report this member has (since it started). */
  private readonly reported = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** When this member's safe mode began (for the log line that ends it). */
  private safeModeSince: number | null = null;
  private readonly clientId = `fms-${randomUUID()}`;
  private callId = 1;

  constructor(private readonly opts: FileMetaServiceOptions) {
    this.machine = createFileMetaMachine({
      shard: opts.shard,
      pools: opts.poolMap.pools,
      ownedPools: poolsOfShard(opts.poolMap, opts.shard),
      retryCacheAgeMs: opts.limits.retryCacheAgeMs,
      retryCacheEntriesMax: opts.limits.retryCacheEntriesMax,
      ...opts.config,
    });
    this.blockMap = new BlockMap(this.machine.config, Math.random);
    this.leases = new LeaseTable(this.machine.config.leaseHardLimitMs);
  }

  handle(method: string, args: unknown, host: ServiceHost): unknown {
    const m = method as FileMetaMethod;
    if (!Object.hasOwn(FILEMETA_SCHEMAS, m)) throw new TandemError('UNKNOWN_METHOD', `no method ${method}`);
    const now = Date.now();
    const state = (): FileMetaState => host.engine().peekState() as FileMetaState;
    switch (m) {
      case 'fms.addBlock': {
        const a = parseFileMetaArgs(m, args);
        this.checkOutOfSafeMode(host);
        this.leases.renew(a.clientId, now);
        const targets = unwrap(this.blockMap.chooseTargets(a.replication, a.excluded, now));
        return this.awaitReported(host, a.previous).then(() => this.submit(host, { type: 'addBlock', fileId: a.fileId, pool: a.pool, replication: a.replication, blockSize: a.blockSize, holder: a.clientId, previous: a.previous, targets, ...envelope(a, now) }));
      }
      case 'fms.updatePipeline': {
        const a = parseFileMetaArgs(m, args);
        this.checkOutOfSafeMode(host);
        this.leases.renew(a.clientId, now);
        const block = state().blocks.get(a.blockId);
        const file = block ? state().files.get(block.fileId) : undefined;
        const live = new Map(this.blockMap.liveDatanodes(now).map((dn) => [dn.id, dn]));
        const survivors: DatanodeRef[] = a.survivors.flatMap((id) => (live.has(id) ? [{ id, data: live.get(id)!.data }] : []));
        const wanted = (file?.replication ?? survivors.length) - survivors.length;
        let replacements: DatanodeRef[] = [];
        if (wanted > 0) {
          // No spare datanode: go on with the survivors (the block is re-replicated once complete).
          const chosen = this.blockMap.chooseTargets(wanted, [...a.survivors, ...a.failed], now);
          if (chosen.ok) replacements = chosen.value;
        }
        return this.submit(host, { type: 'updatePipeline', blockId: a.blockId, holder: a.clientId, length: a.length, targets: [...survivors, ...replacements], ...envelope(a, now) });
      }
      case 'fms.complete': {
        const a = parseFileMetaArgs(m, args);
        this.leases.renew(a.clientId, now);
        return this.awaitReported(host, a.last).then(() => this.submit(host, { type: 'complete', fileId: a.fileId, holder: a.clientId, last: a.last, ...envelope(a, now) }));
      }
      case 'fms.deleteFiles': {
        const a = parseFileMetaArgs(m, args);
        return (this.submit(host, { type: 'deleteFiles', fileIds: a.fileIds, ...envelope(a, now) }) as Promise<DeleteFilesAnswer>).then((answer) => {
          // Their replicas go on every datanode that reports them (computeWork hands out the deletes).
          this.blockMap.forgetBlocks(answer.blocks);
          return { deleted: answer.deleted, blocks: answer.blocks.length };
        });
      }
      case 'fms.getBlockLocations': {
        const a = parseFileMetaArgs(m, args);
        return host.engine().read((s: FileMetaState) => unwrap(this.blockMap.blockLocations(s, a.fileId, now)));
      }
      case 'fms.reportBadBlock': {
        const a = parseFileMetaArgs(m, args);
        host.log.warn({ blockId: a.blockId, datanode: a.datanode, by: a.user }, `corrupt replica of ${a.blockId} on ${a.datanode} reported: it will be replaced`);
        this.blockMap.markCorrupt(a.blockId, a.datanode);
        return null;
      }
      case 'fms.renewLease': {
        const a = parseFileMetaArgs(m, args);
        this.leases.renew(a.holder, now);
        return null;
      }
      case 'dn.heartbeat': {
        const a = parseFileMetaArgs(m, args);
        const { epoch: _seen, ...datanode } = a;
        this.blockMap.heartbeat(datanode, now);
        const active = host.isActive();
        const epoch = host.engine().currentEpoch as number;
        const commands = active && !this.blockMap.inSafeMode && this.blockMap.mode === 'active' ? this.takeCommands(a.id) : [];
        return { epoch, active, needFullReport: !this.reported.has(a.id), commands };
      }
      case 'dn.blockReport': {
        const a = parseFileMetaArgs(m, args);
        let assembly = this.reportPages.get(a.id);
        if (a.page === 0) {
          if (!assembly && this.reportPages.size >= REPORTS_IN_ASSEMBLY_MAX) throw new TandemError('TOO_MANY_IN_FLIGHT', 'too many block reports in progress');
          assembly = { reportId: a.reportId, next: 0, replicas: [] };
          this.reportPages.set(a.id, assembly);
        }
        if (!assembly || assembly.reportId !== a.reportId || assembly.next !== a.page) {
          this.reportPages.delete(a.id);
          throw new TandemError('INVALID_ARGUMENT', `dn.blockReport: page ${a.page} of report ${a.reportId} from ${a.id} is out of order; start again from page 0`);
        }
        for (const replica of a.replicas) assembly.replicas.push(replica);
        assembly.next++;
        if (!a.last) return { pages: assembly.next };
        this.reportPages.delete(a.id);
        this.blockMap.fullReport(a.id, assembly.replicas, state(), now);
        this.reported.add(a.id);
        host.log.info({ datanode: a.id, replicas: assembly.replicas.length }, `full block report from ${a.id}: ${assembly.replicas.length} replicas`);
        this.checkSafeMode(host);
        return { pages: assembly.next };
      }
      case 'dn.incrementalReport': {
        const a = parseFileMetaArgs(m, args);
        this.blockMap.incrementalReport(a.id, { received: a.received, deleted: a.deleted }, state(), now);
        return null;
      }
    }
  }

  private submit(host: ServiceHost, op: FileMetaMutation): Promise<unknown> {
    return host.engine().submit(op).then(unwrap) as Promise<PipelineAnswer | unknown>;
  }

  /**
   * Read after write: a finished block is closed only once some datanode reported a whole
   * replica of it (HDFS's complete waits for its minimum replication the same way), so a
   * reader right after the writer finds it. Datanodes report a finished block at once; after
   * REPORTED_WAIT_MS_MAX the write goes on all the same (readers then retry their lookup).
   * A block of length 0 has nothing to read and may have no replica at all (a writer that
   * wrote nothing into it, as `bench fms` does): it is closed at once.
   */
  private async awaitReported(host: ServiceHost, extent: { blockId: string; length: number } | null): Promise<void> {
    if (extent === null || extent.length === 0) return;
    const deadline = Date.now() + REPORTED_WAIT_MS_MAX;
    for (;;) {
      const genStamp = this.state(host).blocks.get(extent.blockId)?.genStamp;
      const reported = this.blockMap.replicasOf(extent.blockId).some((r) => r.finalized && r.genStamp === genStamp && r.length === extent.length);
      if (reported || genStamp === undefined) return;
      if (Date.now() >= deadline) {
        host.log.warn({ blockId: extent.blockId }, `no datanode reported ${extent.blockId} within ${REPORTED_WAIT_MS_MAX} ms of its writer finishing it; closing it all the same`);
        return;
      }
      await sleep(REPORTED_POLL_MS);
    }
  }

  private takeCommands(datanode: string): DatanodeCommand[] {
    const queued = this.commands.get(datanode) ?? [];
    this.commands.delete(datanode);
    return queued;
  }

  private checkOutOfSafeMode(host: ServiceHost): void {
    this.checkSafeMode(host);
    if (this.blockMap.inSafeMode) {
      const fraction = this.blockMap.safeModeFraction(this.state(host), Date.now());
      throw new TandemError('SAFE_MODE', `${this.opts.shard} is in safe mode: ${(fraction * 100).toFixed(2)}% of blocks reported, waiting for ${(this.machine.config.safeModeThreshold * 100).toFixed(1)}%`);
    }
  }

  /**
   * Follows this member's role: on becoming active the block map enters safe mode (and
   * re-judges its deferred reports as an active would); it leaves once enough blocks are
   * reported. On losing the role it goes back to standby and drops queued commands.
   */
  private checkSafeMode(host: ServiceHost): void {
    const state = this.state(host);
    const now = Date.now();
    if (!host.isActive()) {
      if (this.blockMap.mode === 'active') {
        this.blockMap.becomeStandby();
        this.commands.clear();
        this.safeModeSince = null;
      }
      return;
    }
    if (this.blockMap.mode !== 'active') {
      this.blockMap.becomeActive(state);
      this.commands.clear();
      this.safeModeSince = now;
      host.log.info({ fraction: this.blockMap.safeModeFraction(state, now) }, `active of ${this.opts.shard}: in safe mode until ${(this.machine.config.safeModeThreshold * 100).toFixed(1)}% of blocks are reported`);
    }
    if (this.blockMap.inSafeMode && !this.blockMap.checkSafeMode(state, now)) {
      host.log.info({ fraction: this.blockMap.safeModeFraction(state, now), ms: now - (this.safeModeSince ?? now) }, `left safe mode: enough blocks have a reported replica`);
    }
  }

  private state(host: ServiceHost): FileMetaState {
    return host.engine().peekState() as FileMetaState;
  }

  start(host: ServiceHost): void {
    this.timer = setInterval(() => this.tick(host), TICK_MS);
    this.timer.unref();
  }

  private tick(host: ServiceHost): void {
    const state = this.state(host);
    // Standby (and active alike): reports that waited for the journal may place now.
    if (this.blockMap.deferredCount() > 0) this.blockMap.replayDeferred(state);
    this.checkSafeMode(host);
    if (this.blockMap.mode !== 'active' || this.blockMap.inSafeMode) return;
    const now = Date.now();
    for (const [datanode, work] of this.blockMap.computeWork(state, now)) {
      const queued = this.commands.get(datanode) ?? [];
      for (const command of work) if (queued.length < COMMANDS_QUEUED_PER_DATANODE_MAX) queued.push(command);
      this.commands.set(datanode, queued);
    }
    this.recoverExpiredLeases(host, state, now);
  }

  /** Closes files whose writer stopped renewing its lease, at the length their replicas agree on. */
  private recoverExpiredLeases(host: ServiceHost, state: FileMetaState, now: number): void {
    for (const open of this.leases.expired(state, now)) {
      // The length every replica of the current genStamp holds (the shortest), else what FMS recorded.
      const replicas = open.last ? this.blockMap.replicasOf(open.last.blockId).filter((r) => r.genStamp === open.last!.genStamp) : [];
      const agreed = replicas.length > 0 ? Math.min(...replicas.map((r) => r.length)) : null;
      const last = open.last ? { blockId: open.last.blockId, length: Math.max(agreed ?? open.last.length, open.last.length) } : null;
      host.log.warn({ fileId: open.fileId, holder: open.holder, last }, `lease of ${open.holder} on file ${open.fileId} expired: closing it`);
      const op: FileMetaMutation = { type: 'recoverLease', fileId: open.fileId, last, clientId: this.clientId, callId: this.callId++, time: now, user: this.opts.superuser ?? 'tandem' };
      host.engine().submit(op).catch((err: unknown) => host.log.warn({ err, fileId: open.fileId }, 'lease recovery failed; retried next round'));
    }
  }

  status(host: ServiceHost): Record<string, unknown> {
    const state = this.state(host);
    return {
      files: this.machine.fileCount(state),
      blocks: this.machine.blockCount(state),
      liveDatanodes: this.blockMap.liveDatanodes(Date.now()).length,
      deferredReports: this.blockMap.deferredCount(),
      mode: this.blockMap.mode,
      safeMode: this.blockMap.mode === 'active' ? this.blockMap.inSafeMode : null,
      safeModeFraction: this.blockMap.safeModeFraction(state, Date.now()),
      deferredDropped: this.blockMap.deferredDropped(),
    };
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}

function envelope(a: { clientId: string; callId: number; user: string }, now: number): { clientId: string; callId: number; user: string; time: number } {
  return { clientId: a.clientId, callId: a.callId, user: a.user, time: now };
}
