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
//
// Datanode deaths: a datanode is dead when silent past the heartbeat deadline, or sooner
// when its ZooKeeper node is gone too (RegisteredDatanodes watches /datanodes; the rule is in
// src/filemeta/datanodes.ts). Its replicas stop counting and the active copies them
// elsewhere, throttled: a source datanode has at most replicationWorkPerDatanodeMax copies
// outstanding (queued here, or running there as its heartbeat says). A copy that does not
// land is reported in the source's next heartbeat (copyFailures), and its target stops
// counting as pending at once, so the block is scheduled again without waiting out the timeout.

import { randomUUID } from 'node:crypto';
import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import { BlockMap, type CopyFailure, type DatanodeCommand, type WorkLoad } from '../filemeta/block-map.js';
import type { Coordinator } from '../election/coordinator.js';
import { RegisteredDatanodes } from './registered-datanodes.js';
import { LeaseTable } from '../filemeta/leases.js';
import { createFileMetaMachine, type FileMetaMachine, type FileMetaState } from '../filemeta/machine.js';
import type { FileMetaMutation, PipelineAnswer, DeleteFilesAnswer, DatanodeRef, TruncateAnswer } from '../filemeta/ops.js';
import { poolsOfShard, type PoolMap } from '../election/pool-map.js';
import { FILEMETA_SCHEMAS, LIST_BLOCKS_PER_PAGE_MAX, parseFileMetaArgs, type ArgsOf, type FileMetaMethod } from './filemeta-methods.js';
import { describeFiles, listFilePage } from '../filemeta/file-listing.js';
import type { ShardGauges } from '../metrics/master-metrics.js';
import type { MethodKind, ServiceHost, ShardService } from './shard-service.js';
import { unwrap } from './unwrap.js';
import type { FmsFileState } from './namespace-fms-tasks.js';

export interface FileMetaServiceOptions {
  shard: string;
  poolMap: PoolMap;
  limits: Limits;
  superuser?: string;
  supergroup?: string;
  /** Overrides of the FMS config (tests shorten deadlines). */
  config?: Partial<Parameters<typeof createFileMetaMachine>[0]>;
  /** A ZooKeeper session maker: with it the member watches /datanodes (a datanode whose node is gone is dead sooner). */
  connect?: () => Promise<Coordinator>;
}

const KINDS: Record<FileMetaMethod, MethodKind> = {
  'fms.addBlock': 'write',
  'fms.updatePipeline': 'write',
  'fms.complete': 'write',
  'fms.deleteFiles': 'write',
  'fms.setReplication': 'write',
  'fms.append': 'write',
  'fms.truncate': 'write',
  'fms.concat': 'write',
  'fms.getBlockLocations': 'read',
  'fms.fileStates': 'read',
  'fms.reportBadBlock': 'read',
  'fms.renewLease': 'read',
  'dn.heartbeat': 'member',
  'dn.blockReport': 'member',
  'dn.incrementalReport': 'member',
  'fms.listFiles': 'read',
  'fms.getFiles': 'read',
};

/** How often the active computes replication work and checks leases, and a standby replays deferred reports. */
const TICK_MS = 500;
/** How often a member still in safe mode says how far the reports got. */
const SAFE_MODE_LOG_MS = 5_000;
/** How long a writer's complete (or next addBlock) waits for a datanode to report its finished block. */
const REPORTED_WAIT_MS_MAX = 2_000;
/** How long a block recovery waits for datanodes to report what they finalized, and the mark of a step being journaled. */
const BLOCK_RECOVERY_WAIT_MS = 5_000;
const IN_FLIGHT = -1;
/** Copy failures of one heartbeat named in its log line (all are counted). */
const COPY_FAILURES_LOGGED_MAX = 5;
/** Replicas one datanode's full report may list (its pages together): a bound on the memory one assembly takes. */
const REPORT_REPLICAS_PER_DATANODE_MAX = 10_000_000;
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
  /**
   * Commands waiting for each datanode's next heartbeat (active only). Invariant: at most
   * replicationWorkPerDatanodeMax copies and one delete per datanode (computeWork's throttle).
   */
  private readonly commands = new Map<string, DatanodeCommand[]>();
  /** Copies each datanode runs or has queued, from its last heartbeat (plus those handed to it in the reply). */
  private readonly copiesInProgress = new Map<string, number>();
  /** Replicas each datanode said it still has to delete, plus those handed out since. */
  private readonly deletesInProgress = new Map<string, number>();
  /** Files being truncated mid-block: when the datanodes were last told to cut the block, or IN_FLIGHT while the close is journaled. */
  private readonly truncations = new Map<number, number>();
  /** Files whose lease recovery is under way: when their block recovery began, or IN_FLIGHT while a journal write runs. */
  private readonly recovering = new Map<number, number>();
  /** Writers' calls waiting for a datanode to report their finished block (awaitReported). */
  private readonly reportWaiters = new Set<{ check: () => boolean; resolve: (arrived: boolean) => void }>();
  /** Datanodes live at the last tick (deaths and returns are logged once). */
  private liveAtLastTick = new Set<string>();
  /** Datanodes this member logged dead and has not seen back (bounded by the datanodes there are). */
  private readonly deadLogged = new Set<string>();
  private registered: RegisteredDatanodes | null = null;
  private registeredIds: ReadonlySet<string> | null = null;
  /** The decommission list as last read from ZooKeeper. */
  private decommissioning: string[] = [];
  private safeModeLoggedAt = 0;
  /** Corrupt replicas readers reported (and this member recorded), since it started. */
  private corruptReported = 0;
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
    if (m === 'fms.listFiles' || m === 'fms.getFiles') return this.fsckQuery(m, args, host);
    switch (m) {
      case 'fms.addBlock': {
        const a = parseFileMetaArgs(m, args);
        this.checkOutOfSafeMode(host);
        this.leases.renew(a.clientId, now);
        const targets = unwrap(this.blockMap.chooseTargets(a.replication, a.excluded, now));
        return this.awaitReported(host, a.previous)
          .then(() => this.submit(host, { type: 'addBlock', fileId: a.fileId, pool: a.pool, replication: a.replication, blockSize: a.blockSize, holder: a.clientId, previous: a.previous, targets, ...envelope(a, now) }))
          .then((answer) => this.expectPipeline(answer as PipelineAnswer));
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
        return this.submit(host, { type: 'updatePipeline', blockId: a.blockId, holder: a.clientId, length: a.length, targets: [...survivors, ...replacements], ...envelope(a, now) }).then((answer) =>
          this.expectPipeline(answer as PipelineAnswer),
        );
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
      case 'fms.setReplication': {
        const a = parseFileMetaArgs(m, args);
        return this.submit(host, { type: 'setReplication', fileId: a.fileId, replication: a.replication, ...envelope(a, now) });
      }
      case 'fms.append': {
        const a = parseFileMetaArgs(m, args);
        this.leases.renew(a.clientId, now);
        return this.submit(host, { type: 'append', fileId: a.fileId, pool: a.pool, replication: a.replication, blockSize: a.blockSize, holder: a.clientId, ...envelope(a, now) });
      }
      case 'fms.truncate': {
        const a = parseFileMetaArgs(m, args);
        return (this.submit(host, { type: 'truncate', fileId: a.fileId, newLength: a.newLength, holder: a.clientId, ...envelope(a, now) }) as Promise<TruncateAnswer>).then((answer) => {
          // Replicas of the whole blocks cut off go, as a delete's; a block cut inside is recovered at once (tick).
          this.blockMap.forgetBlocks(answer.removed);
          if (!answer.done) setImmediate(() => this.driveTruncations(host, Date.now()));
          host.log.info({ fileId: a.fileId, length: answer.length, removedBlocks: answer.removed.length, done: answer.done }, `truncated file ${a.fileId} to ${answer.length} bytes${answer.done ? '' : ': the datanodes cut its last block, then it closes'}`);
          return { length: answer.length, done: answer.done };
        });
      }
      case 'fms.concat': {
        const a = parseFileMetaArgs(m, args);
        return this.submit(host, { type: 'concat', fileId: a.fileId, pool: a.pool, replication: a.replication, blockSize: a.blockSize, sources: a.sources, ...envelope(a, now) });
      }
      case 'fms.getBlockLocations': {
        const a = parseFileMetaArgs(m, args);
        return host.engine().read((s: FileMetaState) => unwrap(this.blockMap.blockLocations(s, a.fileId, now)));
      }
      case 'fms.fileStates': {
        const a = parseFileMetaArgs(m, args);
        return host.engine().read((s: FileMetaState): FmsFileState[] =>
          a.fileIds.map((fileId) => {
            const file = s.files.get(fileId);
            if (file === undefined) return { fileId, state: 'unknown', length: 0 };
            return { fileId, state: file.state, length: file.length };
          }),
        );
      }
      case 'fms.reportBadBlock': {
        const a = parseFileMetaArgs(m, args);
        if (this.blockMap.markCorrupt(a.blockId, a.datanode)) {
          this.corruptReported++;
          host.log.warn({ blockId: a.blockId, datanode: a.datanode, by: a.user }, `corrupt replica of ${a.blockId} on ${a.datanode} reported: it will be replaced`);
        } else {
          host.log.info({ blockId: a.blockId, datanode: a.datanode, by: a.user }, `corrupt replica of ${a.blockId} on ${a.datanode} reported, but no such replica is recorded here: nothing to do`);
        }
        return null;
      }
      case 'fms.renewLease': {
        const a = parseFileMetaArgs(m, args);
        this.leases.renew(a.holder, now);
        return null;
      }
      case 'dn.heartbeat': {
        const a = parseFileMetaArgs(m, args);
        const { epoch: _seen, copiesInProgress, deletesInProgress, copyFailures, ...datanode } = a;
        // Back from the dead (or never heard by this member): its replicas may have changed
        // while nobody listened, so it sends everything it holds again.
        if (this.blockMap.heartbeat(datanode, now).fullReportNeeded) this.reported.delete(a.id);
        if (copyFailures.length > 0) this.copiesFailed(host, a.id, copyFailures, now);
        // Some of its reports fell off a full deferred queue: everything again, now that there is room.
        if (this.blockMap.takeFullReportOwed(a.id)) this.reported.delete(a.id);
        const active = host.isActive();
        const epoch = host.engine().currentEpoch as number;
        const commands = active && !this.blockMap.inSafeMode && this.blockMap.mode === 'active' ? this.takeCommands(a.id) : [];
        // The copies handed out now run there until its next heartbeat says otherwise.
        this.copiesInProgress.set(a.id, copiesInProgress + commands.filter((c) => c.type === 'replicate').length);
        this.deletesInProgress.set(a.id, deletesInProgress + commands.reduce((n, c) => n + (c.type === 'delete' ? c.blockIds.length : 0), 0));
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
        if (assembly.replicas.length + a.replicas.length > REPORT_REPLICAS_PER_DATANODE_MAX) {
          this.reportPages.delete(a.id);
          throw new TandemError('TOO_MANY_IN_FLIGHT', `dn.blockReport: ${a.id}'s report is over ${REPORT_REPLICAS_PER_DATANODE_MAX} replicas; refused`);
        }
        for (const replica of a.replicas) assembly.replicas.push(replica);
        assembly.next++;
        if (!a.last) return { pages: assembly.next };
        this.reportPages.delete(a.id);
        this.blockMap.fullReport(a.id, assembly.replicas, state(), now);
        this.wakeReportWaiters();
        this.reported.add(a.id);
        host.log.info({ datanode: a.id, replicas: assembly.replicas.length }, `full block report from ${a.id}: ${assembly.replicas.length} replicas`);
        this.checkSafeMode(host);
        return { pages: assembly.next };
      }
      case 'dn.incrementalReport': {
        const a = parseFileMetaArgs(m, args);
        this.blockMap.incrementalReport(a.id, { received: a.received, deleted: a.deleted }, state(), now);
        if (a.received.length > 0) this.wakeReportWaiters();
        return null;
      }
    }
  }

  /** fsck's reads: files with their blocks and this member's replica counts (docs/data-path.md, "fsck"). */
  private fsckQuery(method: 'fms.listFiles' | 'fms.getFiles', args: unknown, host: ServiceHost): unknown {
    const summary = { shard: this.opts.shard, safeMode: this.blockMap.inSafeMode, liveDatanodes: this.blockMap.liveDatanodes(Date.now()).length };
    if (method === 'fms.listFiles') {
      const a = parseFileMetaArgs(method, args);
      return host.engine().read((s: FileMetaState) => {
        const now = Date.now();
        return { ...summary, ...listFilePage(s, a.afterFileId, a.limit, LIST_BLOCKS_PER_PAGE_MAX, (block) => this.blockMap.replicaHealth(block, now)) };
      });
    }
    const a = parseFileMetaArgs(method, args);
    return host.engine().read((s: FileMetaState) => {
      const now = Date.now();
      return { ...summary, files: describeFiles(s, a.fileIds, (block) => this.blockMap.replicaHealth(block, now)) };
    });
  }

  /** The pipeline's datanodes will report the block: none is a copy target meanwhile (BlockMap.expectPipeline). */
  private expectPipeline(answer: PipelineAnswer): PipelineAnswer {
    this.blockMap.expectPipeline(answer.blockId, answer.genStamp, answer.targets.map((t) => t.id));
    return answer;
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
    const reported = (): boolean => {
      const genStamp = this.state(host).blocks.get(extent.blockId)?.genStamp;
      return genStamp === undefined || this.blockMap.replicasOf(extent.blockId).some((r) => r.finalized && r.genStamp === genStamp && r.length === extent.length);
    };
    if (reported()) return;
    // Woken by each report this member takes (wakeReportWaiters), or given up at the deadline.
    // The waiters are bounded by the calls the RPC server lets in at once.
    const arrived = await new Promise<boolean>((resolve) => {
      const waiter = { check: reported, resolve: (yes: boolean) => resolve(yes) };
      const timer = setTimeout(() => {
        this.reportWaiters.delete(waiter);
        resolve(false);
      }, REPORTED_WAIT_MS_MAX);
      waiter.resolve = (yes) => {
        clearTimeout(timer);
        resolve(yes);
      };
      this.reportWaiters.add(waiter);
    });
    if (!arrived) host.log.warn({ blockId: extent.blockId }, `no datanode reported ${extent.blockId} within ${REPORTED_WAIT_MS_MAX} ms of its writer finishing it; closing it all the same`);
  }

  /** After a report: lets go the calls waiting for a block it brought (awaitReported). */
  private wakeReportWaiters(): void {
    for (const waiter of this.reportWaiters) {
      if (!waiter.check()) continue;
      this.reportWaiters.delete(waiter);
      waiter.resolve(true);
    }
  }

  /**
   * Copies `datanode` was told to make and could not (a heartbeat's copyFailures): their
   * targets stop counting as pending, so the next tick schedules the blocks again instead of
   * waiting pendingReplicationTimeoutMs. Soft state, like everything in the block map: a
   * member that did not hand the copy out has no such entry, and nothing changes there.
   */
  private copiesFailed(host: ServiceHost, datanode: string, failures: readonly CopyFailure[], now: number): void {
    const again = failures.filter((f) => this.blockMap.copyFailed(f.blockId, f.target, now));
    const shown = failures.slice(0, COPY_FAILURES_LOGGED_MAX).map((f) => `${f.blockId} → ${f.target} (${f.reason})`);
    const more = failures.length > shown.length ? ` and ${failures.length - shown.length} more` : '';
    host.log.info(
      { datanode, failures: failures.length, scheduledAgain: again.length, first: failures.slice(0, COPY_FAILURES_LOGGED_MAX) },
      `${datanode} could not make ${failures.length} copies: ${shown.join('; ')}${more}; ${again.length} of them scheduled again at once (the others were not pending here)`,
    );
  }

  private takeCommands(datanode: string): DatanodeCommand[] {
    const queued = this.commands.get(datanode) ?? [];
    this.commands.delete(datanode);
    return queued;
  }

  automaticSafeMode(host: ServiceHost): { on: boolean; progress: string } | null {
    this.checkSafeMode(host);
    if (this.blockMap.mode !== 'active') return null;
    return { on: this.blockMap.inSafeMode, progress: this.safeModeProgress(this.state(host), Date.now()) };
  }

  leaveAutomaticSafeMode(host: ServiceHost): boolean {
    this.checkSafeMode(host);
    if (this.blockMap.mode !== 'active' || !this.blockMap.inSafeMode) return false;
    host.log.warn(`leaving safe mode on an operator's request: ${this.safeModeProgress(this.state(host), Date.now())}`);
    this.blockMap.leaveSafeMode();
    return true;
  }

  private checkOutOfSafeMode(host: ServiceHost): void {
    this.checkSafeMode(host);
    if (this.blockMap.inSafeMode) {
      throw new TandemError('SAFE_MODE', `${this.opts.shard} is in safe mode: ${this.safeModeProgress(this.state(host), Date.now())}`);
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
        this.recovering.clear();
        this.truncations.clear();
        this.safeModeSince = null;
      }
      return;
    }
    if (this.blockMap.mode !== 'active') {
      this.blockMap.becomeActive(state);
      this.commands.clear();
      this.recovering.clear();
      this.truncations.clear();
      this.safeModeSince = now;
      this.safeModeLoggedAt = now;
      const counts = this.blockMap.safeModeCounts(state, now);
      host.log.info({ ...counts, threshold: this.machine.config.safeModeThreshold }, `active of ${this.opts.shard}: in safe mode, ${this.safeModeProgress(state, now)}`);
    }
    if (!this.blockMap.inSafeMode) return;
    if (!this.blockMap.checkSafeMode(state, now)) {
      const counts = this.blockMap.safeModeCounts(state, now);
      host.log.info({ ...counts, ms: now - (this.safeModeSince ?? now) }, `left safe mode after ${now - (this.safeModeSince ?? now)} ms: ${counts.reported} of ${counts.complete} complete blocks have a reported replica`);
    } else if (now - this.safeModeLoggedAt >= SAFE_MODE_LOG_MS) {
      this.safeModeLoggedAt = now;
      host.log.info({ ...this.blockMap.safeModeCounts(state, now) }, `still in safe mode: ${this.safeModeProgress(state, now)}`);
    }
  }

  /** "3 of 12 complete blocks have a reported replica (25.00%), waiting for 99.9%". */
  private safeModeProgress(state: FileMetaState, now: number): string {
    const { reported, complete } = this.blockMap.safeModeCounts(state, now);
    const percent = complete === 0 ? 100 : (reported / complete) * 100;
    return `${reported} of ${complete} complete blocks have a reported replica (${percent.toFixed(2)}%), waiting for ${(this.machine.config.safeModeThreshold * 100).toFixed(1)}%`;
  }

  private state(host: ServiceHost): FileMetaState {
    return host.engine().peekState() as FileMetaState;
  }

  start(host: ServiceHost): void {
    this.timer = setInterval(() => this.tick(host), TICK_MS);
    this.timer.unref();
    if (this.opts.connect) {
      this.registered = new RegisteredDatanodes(
        this.opts.connect,
        (ids) => this.onRegistered(host, ids),
        host.log,
        (ids) => this.onDecommissionList(host, ids),
      );
      this.registered.start();
    }
  }

  /** ZooKeeper's list of datanodes changed. */
  private onDecommissionList(host: ServiceHost, ids: string[]): void {
    const before = this.decommissioning.join(',');
    this.decommissioning = ids;
    this.blockMap.setDecommissioning(ids);
    if (ids.join(',') !== before) {
      host.log.info({ decommissioning: ids }, ids.length > 0 ? `decommissioning ${ids.join(', ')}: no new replicas there; their blocks are copied elsewhere` : 'no datanode is being decommissioned');
    }
  }

  private onRegistered(host: ServiceHost, ids: string[]): void {
    const now = new Set(ids);
    for (const id of this.registeredIds ?? []) {
      if (now.has(id) || this.blockMap.datanodes.get(id) === undefined) continue;
      host.log.info({ datanode: id }, `${id}'s ZooKeeper node is gone: it is dead unless it heartbeats within ${this.machine.config.heartbeatDeadlineUnregisteredMs} ms`);
    }
    this.registeredIds = now;
    this.blockMap.setRegisteredDatanodes(ids);
  }

  private tick(host: ServiceHost): void {
    const state = this.state(host);
    const now = Date.now();
    // Standby (and active alike): reports that waited for the journal may place now.
    if (this.blockMap.deferredCount() > 0) {
      const placed = this.blockMap.replayDeferred(state);
      if (placed > 0) host.log.info({ placed, deferred: this.blockMap.deferredCount(), nextBlockSeq: state.nextBlockSeq }, `placed ${placed} deferred block reports: the journal reached their blocks (${this.blockMap.deferredCount()} still deferred)`);
    }
    this.noteDeathsAndReturns(host, now);
    this.checkSafeMode(host);
    if (this.blockMap.mode !== 'active' || this.blockMap.inSafeMode) return;
    const queuedCopies = (id: string): number => (this.commands.get(id) ?? []).filter((c) => c.type === 'replicate').length;
    const load: WorkLoad = {
      copies: (id) => queuedCopies(id) + (this.copiesInProgress.get(id) ?? 0),
      // One batch at a time: none while one waits here or is still being done there.
      deletesQueued: (id) => (this.commands.get(id) ?? []).some((c) => c.type === 'delete') || (this.deletesInProgress.get(id) ?? 0) > 0,
    };
    const copiesMax = this.machine.config.replicationWorkPerDatanodeMax;
    for (const [datanode, work] of this.blockMap.computeWork(state, now, load)) {
      const queued = this.commands.get(datanode) ?? [];
      queued.push(...work);
      this.commands.set(datanode, queued);
      if (queuedCopies(datanode) > copiesMax || queued.filter((c) => c.type === 'delete').length > 1) {
        throw new Error(`invariant broken: ${queued.length} commands queued for ${datanode}, past ${copiesMax} copies and one delete`);
      }
    }
    this.recoverExpiredLeases(host, state, now);
    this.driveTruncations(host, now);
  }

  /** Says once when a datanode is counted dead (its replicas are copied elsewhere) and when it is back. */
  private noteDeathsAndReturns(host: ServiceHost, now: number): void {
    const live = new Set(this.blockMap.liveDatanodes(now).map((dn) => dn.id));
    for (const id of this.liveAtLastTick) {
      if (live.has(id)) continue;
      const node = this.blockMap.datanodes.get(id);
      const silentMs = node ? now - node.lastHeartbeatMs : null;
      const registered = this.blockMap.datanodes.isRegistered(id);
      const replicas = this.blockMap.replicasOn(id);
      this.deadLogged.add(id);
      host.log.warn(
        { datanode: id, silentMs, zooKeeperNode: registered, replicas },
        `${id} is dead: silent for ${silentMs} ms${registered ? '' : ' and its ZooKeeper node is gone'}; its ${replicas} replicas no longer count${this.blockMap.mode === 'active' ? ' (under-replicated blocks are copied from their live replicas)' : ''}`,
      );
    }
    for (const id of live) {
      if (this.liveAtLastTick.has(id)) continue;
      // Only one this member said was dead comes back; the others are heard for the first time.
      if (this.deadLogged.delete(id)) host.log.info({ datanode: id }, `${id} is live again: its replicas count once its full report lists them`);
      else host.log.info({ datanode: id }, `first heartbeat from ${id}`);
    }
    this.liveAtLastTick = live;
  }

  /**
   * Closes files whose writer stopped renewing its lease. The last block closes at the
   * length its finalized replicas of the current genStamp hold (the shortest). With none
   * finalized, the datanodes first recover it (HDFS's block recovery): the block gets a new
   * genStamp (journaled, as a pipeline recovery), every live datanode is told to finalize
   * what it holds of it at that genStamp and report it, and the next ticks close the block
   * once reports are in — or at 0 after BLOCK_RECOVERY_WAIT_MS when no datanode had any of
   * it. No byte of an unfinished block was acknowledged to the writer's caller (there is no
   * hflush), so recovering them is a gift; naming more than a reader could get would not be.
   */
  private recoverExpiredLeases(host: ServiceHost, state: FileMetaState, now: number): void {
    // A file closed or deleted meanwhile needs no more recovery.
    for (const fileId of this.recovering.keys()) if (!state.openFiles.has(fileId)) this.recovering.delete(fileId);
    for (const open of this.leases.expired(state, now)) {
      if (open.truncating) continue; // driveTruncations closes it, whatever its holder does
      if (this.recovering.get(open.fileId) === IN_FLIGHT) continue;
      const last = open.last;
      const finalized = last ? this.blockMap.replicasOf(last.blockId).filter((r) => r.finalized && r.genStamp === last.genStamp) : [];
      if (last !== null && finalized.length === 0) {
        const started = this.recovering.get(open.fileId);
        if (started === undefined) {
          this.startBlockRecovery(host, open.fileId, open.holder, last, now);
          continue;
        }
        if (now - started < BLOCK_RECOVERY_WAIT_MS) continue; // reports on their way
      }
      const length = finalized.length > 0 ? Math.min(...finalized.map((r) => r.length)) : 0;
      const closing = last ? { blockId: last.blockId, length } : null;
      host.log.warn({ fileId: open.fileId, holder: open.holder, last: closing, replicas: finalized.length }, `lease of ${open.holder} on file ${open.fileId} expired: closing it${closing ? ` with its last block ${closing.blockId} at ${length} bytes` : ''}`);
      const op: FileMetaMutation = { type: 'recoverLease', fileId: open.fileId, last: closing, clientId: this.clientId, callId: this.callId++, time: now, user: this.opts.superuser ?? 'tandem' };
      this.recovering.set(open.fileId, IN_FLIGHT);
      host
        .engine()
        .submit(op)
        .then(
          () => this.recovering.delete(open.fileId),
          (err: unknown) => {
            this.recovering.delete(open.fileId);
            host.log.warn({ err, fileId: open.fileId }, 'lease recovery failed; retried next round');
          },
        );
    }
  }

  /**
   * Truncates inside a block (active, out of safe mode): every live datanode is told to cut
   * its replica of the block to the recorded length at the new genStamp and finalize it
   * (`recover` with a length; again every BLOCK_RECOVERY_WAIT_MS until one reports), and
   * the file closes (`recoverLease`, journaled) once a finalized replica of that genStamp
   * and length is reported. Derived from the journaled state (the file's truncating flag),
   * so a new active picks up a truncate its predecessor left unfinished.
   */
  private driveTruncations(host: ServiceHost, now: number): void {
    if (this.blockMap.mode !== 'active' || this.blockMap.inSafeMode) return;
    const state = this.state(host);
    for (const fileId of this.truncations.keys()) if (!state.files.get(fileId)?.truncating) this.truncations.delete(fileId);
    for (const open of this.machine.openFiles(state)) {
      const last = open.last;
      if (!open.truncating || last === null || this.truncations.get(open.fileId) === IN_FLIGHT) continue;
      const cut = this.blockMap.replicasOf(last.blockId).some((r) => r.finalized && r.genStamp === last.genStamp && r.length === last.length);
      if (cut) {
        const op: FileMetaMutation = { type: 'recoverLease', fileId: open.fileId, last: { blockId: last.blockId, length: last.length }, clientId: this.clientId, callId: this.callId++, time: now, user: this.opts.superuser ?? 'tandem' };
        this.truncations.set(open.fileId, IN_FLIGHT);
        host
          .engine()
          .submit(op)
          .then(unwrap)
          .then(
            () => {
              this.truncations.delete(open.fileId);
              host.log.info({ fileId: open.fileId, blockId: last.blockId, length: last.length }, `truncate of file ${open.fileId} done: ${last.blockId} cut to ${last.length} bytes, file closed`);
            },
            (err: unknown) => {
              this.truncations.delete(open.fileId);
              host.log.warn({ err, fileId: open.fileId }, `closing truncated file ${open.fileId} failed; retried next round: ${(err as Error).message}`);
            },
          );
        continue;
      }
      const told = this.truncations.get(open.fileId);
      if (told !== undefined && now - told < BLOCK_RECOVERY_WAIT_MS) continue;
      const live = this.blockMap.liveDatanodes(now).slice(0, this.machine.config.replicationMax);
      for (const dn of live) {
        const queued = this.commands.get(dn.id) ?? [];
        queued.push({ type: 'recover', blockId: last.blockId, genStamp: last.genStamp, length: last.length });
        this.commands.set(dn.id, queued);
      }
      this.truncations.set(open.fileId, now);
      host.log.info({ fileId: open.fileId, blockId: last.blockId, genStamp: last.genStamp, length: last.length, datanodes: live.length }, `truncating file ${open.fileId}: asked ${live.length} datanodes to cut ${last.blockId} to ${last.length} bytes at genStamp ${last.genStamp}`);
    }
  }

  /** Gives the dead writer's open block a new genStamp and asks every live datanode to finalize what it holds of it. */
  private startBlockRecovery(host: ServiceHost, fileId: number, holder: string, last: { blockId: string; length: number }, now: number): void {
    const live = this.blockMap.liveDatanodes(now).slice(0, this.machine.config.replicationMax);
    if (live.length === 0) {
      this.recovering.set(fileId, now - BLOCK_RECOVERY_WAIT_MS); // nobody to ask: close it at 0 next tick
      return;
    }
    this.recovering.set(fileId, IN_FLIGHT);
    const targets = live.map((dn) => ({ id: dn.id, data: dn.data }));
    const op: FileMetaMutation = { type: 'updatePipeline', blockId: last.blockId, holder, length: last.length, targets, clientId: this.clientId, callId: this.callId++, time: now, user: this.opts.superuser ?? 'tandem' };
    host
      .engine()
      .submit(op)
      .then(unwrap)
      .then(
        (answer) => {
          const { genStamp } = answer as PipelineAnswer;
          for (const dn of live) {
            const queued = this.commands.get(dn.id) ?? [];
            queued.push({ type: 'recover', blockId: last.blockId, genStamp });
            this.commands.set(dn.id, queued);
          }
          this.recovering.set(fileId, Date.now());
          host.log.warn({ fileId, holder, blockId: last.blockId, genStamp, datanodes: live.length }, `lease of ${holder} on file ${fileId} expired with ${last.blockId} unfinished: recovering it at genStamp ${genStamp} on ${live.length} datanodes`);
        },
        (err: unknown) => {
          this.recovering.delete(fileId);
          host.log.warn({ err, fileId }, `block recovery of ${last.blockId} could not start; retried next round: ${(err as Error).message}`);
        },
      );
  }

  status(host: ServiceHost): Record<string, unknown> {
    const state = this.state(host);
    const now = Date.now();
    // One walk over the blocks for both safe-mode figures.
    const safeModeBlocks = this.blockMap.safeModeCounts(state, now);
    return {
      files: this.machine.fileCount(state),
      blocks: this.machine.blockCount(state),
      liveDatanodes: this.blockMap.liveDatanodes(now).length,
      replicas: this.blockMap.replicaCount(),
      corruptReplicas: this.blockMap.corruptCount(),
      corruptReplicasReported: this.corruptReported,
      deferredReports: this.blockMap.deferredCount(),
      mode: this.blockMap.mode,
      safeMode: this.blockMap.mode === 'active' ? this.blockMap.inSafeMode : null,
      safeModeFraction: safeModeBlocks.complete === 0 ? 1 : safeModeBlocks.reported / safeModeBlocks.complete,
      safeModeBlocks,
      deferredDropped: this.blockMap.deferredDropped(),
      // Per datanode, as this member last heard it (the dashboard shows them). Ages rather
      // than times, so a reader's clock need not agree with this one.
      datanodes: this.blockMap.datanodes.knownDatanodes(now).map((dn) => ({
        id: dn.id,
        rpc: dn.rpc,
        http: dn.http,
        live: dn.live,
        capacityBytes: dn.capacityBytes,
        usedBytes: dn.usedBytes,
        replicas: this.blockMap.replicasOn(dn.id),
        lastHeartbeatAgoMs: Math.max(0, now - dn.lastHeartbeatMs),
      })),
      decommission: this.blockMap.mode === 'active' ? this.blockMap.decommissionProgress(state, now) : null,
    };
  }

  gauges(host: ServiceHost): ShardGauges {
    const { reported, complete } = this.blockMap.safeModeCounts(this.state(host), Date.now());
    return {
      safeModeReportedFraction: complete === 0 ? 1 : reported / complete,
      ...(this.blockMap.mode === 'active' ? { safeMode: this.blockMap.inSafeMode } : {}),
      deferredReports: this.blockMap.deferredCount(),
    };
  }

  healthProblem(host: ServiceHost): string | null {
    if (this.blockMap.mode !== 'active' || !this.blockMap.inSafeMode) return null;
    return `in safe mode: ${this.safeModeProgress(this.state(host), Date.now())}`;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Calls still waiting for a report go on at once (their replies are drained by the master).
    for (const waiter of this.reportWaiters) waiter.resolve(false);
    this.reportWaiters.clear();
    await this.registered?.stop();
  }
}

function envelope(a: { clientId: string; callId: number; user: string }, now: number): { clientId: string; callId: number; user: string; time: number } {
  return { clientId: a.clientId, callId: a.callId, user: a.user, time: now };
}
