// `tandem bench chaos`: kill processes of a `tandem up` cluster every K seconds under load —
// the namespace shard's active, an FMS shard's active, a datanode, in turn (--kill-targets);
// SIGKILL, or a graceful hand-over of an active (--kill graceful) — then check that no
// acknowledged call was lost, none ran twice, and every acknowledged file reads back with
// exactly its bytes.
//
// Three phases, as FoundationDB's workloads have them:
// - run: W workers, each alone in `/chaos/<runId>/w<k>/`, walk slots i = 0, 1, …. A
//   namespace worker (--workload meta) creates f<i>, renames f<i> → g<i>, deletes g<i>; a
//   data worker (--workload data; every other worker with mixed) creates f<i> through the
//   data path, writes it a few KiB to 200 KiB of random bytes (FMS addBlock, datanode
//   pipeline, FMS and NS complete), then renames and deletes it. Some slots stop earlier, so
//   the namespace keeps content to check. Every answer is recorded in the slot. A worker
//   leaves a slot at the first call that was not acknowledged with its effect: after an
//   in-doubt call it knows neither outcome, so it goes on with a fresh name. Meanwhile the
//   killer (src/bench/chaos-kill.ts) takes its targets in turn.
// - drain: at S seconds no new call starts; calls in flight get a bounded time to finish.
// - check: once an active newer than the last victim serves each shard, each worker's
//   directory is listed and every slot judged against its record (judgeSlot, pure); each
//   data file found is read back and judged against the length and SHA-256 its worker kept
//   (judgeContent, pure).
//
// Each worker has its own client (one connection per shard, one call at a time) and its own
// view of the namespace's resolver, so the address that view last gave, and when, tell which
// master answered the worker's namespace call: that is how an answer from the new active is
// told from one the old active sent (see FailoverClock). Unavailability is measured for the
// namespace's failovers only.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { sleep } from '../client/backoff.js';
import type { FileWriter } from '../client/file-writer.js';
import { TandemClient, type ActiveResolver } from '../client/tandem-client.js';
import { ZooKeeperResolver } from '../client/zk-resolver.js';
import { coordinatorFactory, readClusterFile, zooKeeperTarget } from '../cli/cluster-address.js';
import type { Coordinator } from '../election/coordinator.js';
import type { ActiveInfo } from '../election/layout.js';
import { readPoolMap, type PoolMap } from '../election/pool-map.js';
import { TandemError, type ErrorCode } from '../errors.js';
import { createForWrite, freshContent, readBackAll, writeContent, type ContentToCheck } from './chaos-data.js';
import {
  dataStepsOf,
  emptySlot,
  FailoverClock,
  judgeContent,
  judgeSlot,
  recordAnswer,
  stepsOf,
  type Answer,
  type ContentRecord,
  type Kill,
  type SlotRecord,
  type Step,
  type Verdict,
} from './chaos-judge.js';
import { gapsAroundKills, WebHdfsProbes, type WebHdfsProbeResult } from './webhdfs-probe.js';
import { ActiveWatch, KILL_MODES, KILL_TARGETS, killInTurn, NS_SHARD, sinceStart, withTimeout, type KillerContext, type KillMode, type KillTarget } from './chaos-kill.js';

export { KILL_MODES, KILL_TARGETS, type KillMode, type KillTarget };

/** Budget of one call, the client's retries included: long enough to ride through a failover. */
const CALL_DEADLINE_MS = 30_000;
/** Short backoff, so that the first call after a failover is not held back by the client. */
const CALL_BACKOFF = { baseMs: 10, capMs: 200 } as const;
const PROGRESS_INTERVAL_MS = 5_000;
/** After --seconds, calls in flight get this long; then their clients are closed (the calls are in doubt). */
const DRAIN_MS_MAX = CALL_DEADLINE_MS + 5_000;
/** How long the check waits for an active newer than the last victim. */
const ACTIVE_WAIT_MS_MAX = 60_000;
/** The whole check (listing every worker's directory, reading the data files back) must end within this. */
const CHECK_MS_MAX = 180_000;
const CLOSE_MS_MAX = 5_000;
export const WORKERS_MAX = 1_024;
/** Slots one worker may use: bounds the record kept in memory (a few dozen bytes each, some 150 with data). */
const SLOTS_PER_WORKER_MAX = 1_000_000;
/** Changes of the resolver's answer kept for the trace (a failover makes two or three). */
const RESOLVER_CHANGES_MAX = 100_000;
/** Violations described in the result, for the operator; the counts cover all of them. */
const VIOLATION_SAMPLES_MAX = 20;
export const REPLICATION_MAX = 16;

/**
 * Error codes that are the namespace's own answer: the call reached the state machine and was
 * refused, so it did not happen. Every other failure (DEADLINE_EXCEEDED, CONNECTION_LOST after
 * the client's retries, a coordinator error between two attempts) leaves the call in doubt.
 */
const DEFINITE_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_PATH',
  'NOT_FOUND',
  'FILE_EXISTS',
  'PARENT_NOT_DIRECTORY',
  'NOT_DIRECTORY',
  'IS_DIRECTORY',
  'DIRECTORY_NOT_EMPTY',
  'ROOT_NOT_DELETABLE',
  'RENAME_INTO_SELF',
  'FILE_NOT_OPEN',
  'PERMISSION_DENIED',
  'INVALID_ARGUMENT',
]);

/** meta: create/rename/delete only; data: files with bytes; mixed: every other worker writes data. */
export const WORKLOADS = ['meta', 'data', 'mixed'] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface ChaosOptions {
  /** The directory of `tandem up` (its cluster.json). */
  cluster: string;
  seconds: number;
  killEverySeconds: number;
  kill: KillMode;
  /** What is killed, in turn (default: the namespace's active only). */
  killTargets?: readonly KillTarget[];
  /** Default meta. */
  workload?: Workload;
  /** Replicas of each data file (default 3). */
  replication?: number;
  /** Concurrent workers, each with its own connection. */
  workers: number;
  /** WebHDFS clients alongside (through the adapters of cluster.json): what HTTP users see of each failover. Default 0. */
  webhdfsWorkers?: number;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
}

export interface ChaosResult {
  /** Calls acknowledged (with or without effect); a data file's write counts as one call. */
  acked: number;
  lost: number;
  duplicated: number;
  /** Of the namespace shard. */
  failovers: number;
  /** Over the namespace kills (hand-overs with --kill graceful) whose successor answered before the end; null when there was none. */
  unavailableMsP50: number | null;
  unavailableMsMax: number | null;
  inDoubt: number;
  /** Calls refused with a definite error. */
  failed: number;
  /** Effects nobody was told about and no in-doubt call explains (a refused call that happened anyway). */
  phantom: number;
  /** Of every target. */
  kills: number;
  /** Namespace kills whose successor answered no call before the load ended. */
  unmeasuredKills: number;
  opsPerSec: number;
  workload: Workload;
  killsByTarget: Record<KillTarget, number>;
  /** Of the FMS shards, all together. */
  fmsFailovers: number;
  /** Data files whose write was acknowledged, and their bytes. */
  filesWritten: number;
  bytesWritten: number;
  /** Data writes not acknowledged (refused or in doubt): the file stays where it was, under construction or complete. */
  writesNotAcked: number;
  /** Complete data files read back at the check, and their bytes. */
  filesRead: number;
  bytesRead: number;
  /** Data files whose bytes are not what was written (or cannot be read): acknowledged bytes lost or altered. */
  mismatches: number;
  runId: string;
  /** The first violations, each as `<worker dir> slot <i> (record …, found …): <verdict>`. */
  violations: string[];
  /** With --webhdfs-workers: what the WebHDFS clients saw; null without. */
  webhdfs: WebHdfsChaosResult | null;
  /** Per namespace kill, when the client saw each step of it (`--trace`). */
  failoverTrace: FailoverTrace[];
}

/**
 * One namespace kill as the clients saw it, in wall-clock ms (Date.now() scale, comparable with
 * the `time` of the masters' and monitors' log lines on the same machine), so that the phases
 * of a failover can be read off the logs around it.
 */
export interface FailoverTrace {
  member: string;
  epoch: number;
  successor: string | null;
  killedAtMs: number;
  /** The last answer from the killed active (null: none since the previous kill). */
  lastOldAckAtMs: number | null;
  /** The first time after the kill the namespace's resolver found no active registered (null: it never looked while there was none). */
  resolverNoActiveAtMs: number | null;
  /** The first time after the kill the resolver gave an address other than the killed active's. */
  resolverNewAddressAtMs: number | null;
  /** The first answer from the successor. */
  firstNewAckAtMs: number | null;
}

/** Changes of what the namespace's shared resolver answers (an address, or none registered), for the trace. */
class ResolverChanges {
  readonly events: { at: number; address: string | null }[] = [];
  private last: string | null | undefined = undefined;

  note(address: string | null): void {
    if (address === this.last || this.events.length >= RESOLVER_CHANGES_MAX) return;
    this.last = address;
    this.events.push({ at: performance.now(), address });
  }

  /** The first change after `at` that `accept` takes, or null. */
  firstAfter(at: number, accept: (address: string | null) => boolean): number | null {
    return this.events.find((e) => e.at > at && accept(e.address))?.at ?? null;
  }
}

export interface WebHdfsChaosResult {
  workers: number;
  /** MKDIRS calls answered `true`. */
  acked: number;
  /** Calls answered with an error or not at all, by HTTP status. */
  errors: Record<string, number>;
  /** Per namespace kill: from the last WebHDFS success before it to the first after it. */
  unavailableMsP50: number | null;
  unavailableMsMax: number | null;
  /** Directories a WebHDFS client was told were made that are not there at the check. */
  missing: number;
}

interface Counts {
  acked: number;
  failed: number;
  inDoubt: number;
  filesWritten: number;
  bytesWritten: number;
  writesNotAcked: number;
  /** Why data writes were not acknowledged: error code → how many, and the first one's message. */
  writeErrors: Map<string, { count: number; first: string }>;
}

/** Where a client's connection goes, and when its address was given (performance.now()). */
interface ClientConnection {
  address: string;
  at: number;
}

interface Worker {
  dir: string;
  kind: 'meta' | 'data';
  client: TandemClient;
  /** The namespace master the client's connection goes to (the address its resolver last gave, and when): the one that answered its call. */
  connection: () => ClientConnection | null;
  slots: SlotRecord[];
  /** Data workers: what each slot's file was written (null: no writer, its create was not acknowledged). */
  contents: (ContentRecord | null)[];
  /** The write in progress, destroyed if the drain runs out. */
  writing: FileWriter | null;
}

/** What the phases of one run share. */
interface Run extends KillerContext {
  opts: ChaosOptions;
  replication: number;
}

export async function runChaosBench(opts: ChaosOptions): Promise<ChaosResult> {
  if (!Number.isInteger(opts.workers) || opts.workers < 1 || opts.workers > WORKERS_MAX) {
    throw new TandemError('INVALID_ARGUMENT', `workers must be 1..${WORKERS_MAX}, got ${opts.workers}`);
  }
  const workload = opts.workload ?? 'meta';
  const replication = opts.replication ?? 3;
  if (!Number.isInteger(replication) || replication < 1 || replication > REPLICATION_MAX) {
    throw new TandemError('INVALID_ARGUMENT', `replication must be 1..${REPLICATION_MAX}, got ${replication}`);
  }
  const targets: KillTarget[] = [...new Set<KillTarget>(opts.killTargets ?? ['ns'])];
  if (targets.length === 0) throw new TandemError('INVALID_ARGUMENT', 'nothing to kill: name at least one of ns, fms, datanode');
  const zk = zooKeeperTarget({ cluster: opts.cluster });
  if (!zk) throw new TandemError('INVALID_ARGUMENT', `no ZooKeeper in ${opts.cluster}/cluster.json`);
  const connect = coordinatorFactory(zk);

  // The data path: the pool map names the FMS shards; every client is given it, so that nothing but the namespace is asked between a create and its writer.
  const needsFms = workload !== 'meta' || targets.includes('fms');
  const poolMap = needsFms ? await readPoolMapOnce(connect) : null;
  if (needsFms && !poolMap) throw new TandemError('INVALID_ARGUMENT', `the cluster of ${opts.cluster} has no file-metadata shards (no pool map in ZooKeeper): it stores names only`);
  if (targets.includes('datanode') && (readClusterFile(opts.cluster).datanodes ?? []).length === 0) {
    throw new TandemError('INVALID_ARGUMENT', `--kill-targets datanode: ${opts.cluster}/cluster.json lists no datanode`);
  }

  const resolverChanges = new ResolverChanges();
  const clients = sharedClients(connect, poolMap, resolverChanges);
  const run: Run = {
    opts,
    replication,
    cluster: opts.cluster,
    killEverySeconds: opts.killEverySeconds,
    kill: opts.kill,
    targets,
    progress: opts.progress ?? (() => undefined),
    watches: {
      ns: new ActiveWatch(NS_SHARD, connect, (from, to) => describeChange(run, NS_SHARD, from, to)),
      fms: (poolMap?.shards ?? []).map((shard) => new ActiveWatch(shard, connect, (from, to) => describeChange(run, shard, from, to))),
    },
    clock: new FailoverClock(),
    startAt: 0,
    endAt: 0,
    killsByTarget: { ns: 0, fms: 0, datanode: 0 },
    lastKillOf: new Map(),
  };
  const { clock } = run;
  const runId = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  const checker = clients.create().client;
  const workers: Worker[] = Array.from({ length: opts.workers }, (_, k) => ({
    dir: `/chaos/${runId}/w${k}`,
    kind: workload === 'data' || (workload === 'mixed' && k % 2 === 1) ? 'data' : 'meta',
    ...clients.create(),
    slots: [],
    contents: [],
    writing: null,
  }));
  const allWatches = [run.watches.ns, ...run.watches.fms];
  const webhdfsWorkers = opts.webhdfsWorkers ?? 0;
  const adapters = webhdfsWorkers > 0 ? (readClusterFile(opts.cluster).adapters ?? []).map((a) => a.http) : [];
  if (webhdfsWorkers > 0 && adapters.length === 0) throw new TandemError('INVALID_ARGUMENT', `--webhdfs-workers: ${opts.cluster}/cluster.json lists no adapter`);
  const probes = webhdfsWorkers > 0 ? new WebHdfsProbes({ adapters, workers: webhdfsWorkers, dir: `/chaos/${runId}`, user: os.userInfo().username }) : null;
  let stoppedProbes: Promise<WebHdfsProbeResult> | null = null;
  try {
    await Promise.all(allWatches.map((w) => w.start()));
    // Setup (untimed): one directory per worker.
    await Promise.all(workers.map((w) => checker.mkdirs(w.dir)));
    run.progress(`run ${runId}: ${describeWorkers(workers, replication)} under /chaos/${runId}, ${opts.seconds} s, ${describeKills(run)} every ${opts.killEverySeconds} s`);
    if (probes) {
      await probes.start();
      run.progress(`${opts.webhdfsWorkers} WebHDFS clients make directories under /chaos/${runId}/web<k> through ${adapters.join(', ')}`);
    }
    run.startAt = performance.now();
    run.endAt = run.startAt + opts.seconds * 1000;
    const loaded = await loadWhileKilling(run, workers).finally(() => {
      stoppedProbes = probes?.stop() ?? null;
    });
    const { counts, loadMs } = loaded;

    // Check: wait for actives newer than the last victims, then list every worker's directory and read the data back.
    const active = await run.watches.ns.until((a) => clock.succeeds(a), performance.now() + ACTIVE_WAIT_MS_MAX);
    if (!active) throw new TandemError('NOT_ACTIVE', `no namespace active newer than epoch ${clock.lastKill?.epoch} within ${ACTIVE_WAIT_MS_MAX} ms after the run`);
    for (const watch of run.watches.fms) {
      const killedEpoch = run.lastKillOf.get(watch.shard)?.epoch ?? -Infinity;
      const fmsActive = await watch.until((a) => a.epoch > killedEpoch, performance.now() + ACTIVE_WAIT_MS_MAX);
      if (!fmsActive) throw new TandemError('NOT_ACTIVE', `no active of ${watch.shard} newer than epoch ${killedEpoch} within ${ACTIVE_WAIT_MS_MAX} ms after the run`);
    }
    run.progress(`checking the namespace through ${active.member} (epoch ${active.epoch})`);
    const verdicts = await withTimeout(checkEverything(run, checker, workers), CHECK_MS_MAX, 'the check');
    const webhdfs = stoppedProbes ? await withTimeout(checkWebHdfs(run, runId, checker, probes!, await stoppedProbes), CHECK_MS_MAX, 'the WebHDFS check') : null;

    for (const [k, kill] of clock.kills.entries()) run.progress(describeGap(run, k, kill));
    const gaps = clock.gapsMs().sort((a, b) => a - b);
    const kills = Object.values(run.killsByTarget).reduce((a, b) => a + b, 0);
    return {
      acked: counts.acked,
      lost: verdicts.lost,
      duplicated: verdicts.duplicated,
      failovers: run.watches.ns.failovers,
      unavailableMsP50: gaps.length > 0 ? round1(gaps[Math.ceil(gaps.length / 2) - 1]!) : null,
      unavailableMsMax: gaps.length > 0 ? round1(gaps.at(-1)!) : null,
      inDoubt: counts.inDoubt,
      failed: counts.failed,
      phantom: verdicts.phantom,
      kills,
      unmeasuredKills: clock.kills.length - gaps.length,
      opsPerSec: Math.round(counts.acked / (loadMs / 1000)),
      workload,
      killsByTarget: run.killsByTarget,
      fmsFailovers: run.watches.fms.reduce((sum, w) => sum + w.failovers, 0),
      filesWritten: counts.filesWritten,
      bytesWritten: counts.bytesWritten,
      writesNotAcked: counts.writesNotAcked,
      filesRead: verdicts.filesRead,
      bytesRead: verdicts.bytesRead,
      mismatches: verdicts.mismatches,
      runId,
      violations: verdicts.samples,
      webhdfs,
      failoverTrace: clock.kills.map((kill) => traceOf(kill, resolverChanges)),
    };
  } finally {
    await (stoppedProbes ?? probes?.stop())?.catch(() => undefined);
    for (const w of workers) w.client.close();
    checker.close();
    await Promise.all(allWatches.map((w) => w.stop()));
    await clients.close();
  }
}

async function readPoolMapOnce(connect: () => Promise<Coordinator>): Promise<PoolMap | null> {
  const session = await connect();
  try {
    return await readPoolMap(session);
  } finally {
    await withTimeout(session.close(), CLOSE_MS_MAX, 'closing the ZooKeeper session').catch(() => undefined);
  }
}

/** A shard's resolver that every client shares, and a view of it for each client (closing a client must not close it). */
interface SharedResolver {
  activeAddress: () => Promise<string>;
  invalidate: () => void;
  close: () => Promise<void>;
}

/**
 * After a failover every worker asks at once: they share one read, since each read of a
 * missing `active` node leaves a watch behind.
 */
function sharedResolver(connect: () => Promise<Coordinator>, shard: string, changes?: ResolverChanges): SharedResolver {
  const shared = new ZooKeeperResolver(connect, shard);
  let resolving: Promise<string> | null = null;
  return {
    activeAddress: () =>
      (resolving ??= shared
        .activeAddress()
        .then(
          (address) => {
            changes?.note(address);
            return address;
          },
          (err: unknown) => {
            if (err instanceof TandemError && err.code === 'NOT_ACTIVE') changes?.note(null);
            throw err;
          },
        )
        .finally(() => {
          resolving = null;
        })),
    invalidate: () => shared.invalidate(),
    close: () => withTimeout(shared.close(), CLOSE_MS_MAX, `closing the resolver of ${shard}`).catch(() => undefined),
  };
}

/**
 * Clients that find each shard's active through one ZooKeeper session per shard. Each client
 * has its own view of the namespace's resolver, which remembers the address it last gave: a
 * client asks for an address only to open its one connection, so that is the master its
 * namespace calls go to.
 */
function sharedClients(
  connect: () => Promise<Coordinator>,
  poolMap: PoolMap | null,
  changes: ResolverChanges,
): { create: () => { client: TandemClient; connection: () => ClientConnection | null }; close: () => Promise<void> } {
  const ns = sharedResolver(connect, NS_SHARD, changes);
  const fms = new Map<string, SharedResolver>();
  const viewOf = (shared: SharedResolver, given?: (address: string) => void): ActiveResolver => ({
    activeAddress: () =>
      shared.activeAddress().then((address) => {
        given?.(address);
        return address;
      }),
    invalidate: shared.invalidate,
    close: () => Promise.resolve(),
  });
  const fmsView = (shard: string): ActiveResolver => {
    let shared = fms.get(shard);
    if (!shared) fms.set(shard, (shared = sharedResolver(connect, shard)));
    return viewOf(shared);
  };
  return {
    create: () => {
      let lastGiven: ClientConnection | null = null;
      const resolver = viewOf(ns, (address) => (lastGiven = { address, at: performance.now() }));
      const dataPath = poolMap ? { fms: { poolMap: () => Promise.resolve(poolMap), target: (shard: string) => ({ resolver: fmsView(shard) }) } } : {};
      return { client: new TandemClient({ resolver, deadlineMs: CALL_DEADLINE_MS, backoff: CALL_BACKOFF, ...dataPath }), connection: () => lastGiven };
    },
    close: async () => {
      await Promise.all([ns, ...fms.values()].map((r) => r.close()));
    },
  };
}

function describeWorkers(workers: readonly Worker[], replication: number): string {
  const data = workers.filter((w) => w.kind === 'data').length;
  if (data === 0) return `${workers.length} workers`;
  if (data === workers.length) return `${workers.length} data workers (replication ${replication})`;
  return `${workers.length} workers (${data} writing data, replication ${replication})`;
}

function describeKills(run: Run): string {
  if (run.kill === 'graceful') {
    const masters = run.targets.filter((t) => t !== 'datanode');
    return `hand over ${masters.join(', ')} gracefully${run.targets.includes('datanode') ? ' and SIGKILL a datanode' : ''}, in turn,`;
  }
  const monitor = run.kill === 'monitor-too' ? ' (an active with its monitor)' : '';
  if (run.targets.length === 1 && run.targets[0] === 'ns') return `SIGKILL the active${monitor}`;
  const names = { ns: 'the namespace active', fms: 'an FMS active', datanode: 'a datanode' } as const;
  return `SIGKILL ${run.targets.map((t) => names[t]).join(', ')}${monitor}, in turn,`;
}

function describeChange(run: Run, shard: string, from: ActiveInfo | null, to: ActiveInfo | null): void {
  const prefix = shard === NS_SHARD ? '' : `${shard}: `;
  if (!to) return run.progress(`${sinceStart(run)}: ${prefix}no active registered (${from?.member ?? 'none'} at epoch ${from?.epoch ?? '-'} is gone)`);
  if (!from) return run.progress(`${prefix}${to.member} is active at epoch ${to.epoch}`);
  if (shard === NS_SHARD) {
    const kill = run.clock.lastKill;
    if (kill && to.epoch > kill.epoch) kill.successor ??= to.member;
  }
  const kill = run.lastKillOf.get(shard);
  const since = kill ? `, ${((performance.now() - kill.at) / 1000).toFixed(1)} s after the ${run.kill === 'graceful' ? 'hand-over request to' : 'kill of'} ${kill.member}` : '';
  run.progress(`${sinceStart(run)}: ${prefix}epoch ${from.epoch} → ${to.epoch}: ${to.member} is active${since}`);
}

/** One line per namespace kill: whose, and its gap with the two answers that bound it. */
function describeGap(run: Run, k: number, kill: Kill): string {
  const at = (t: number | null): string => (t === null ? 'none' : `+${((t - run.startAt) / 1000).toFixed(3)} s`);
  const gap = kill.firstNewAckAt === null ? 'not measured' : `${round1(kill.firstNewAckAt - (kill.lastOldAckAt ?? kill.killedAt))} ms`;
  return (
    `namespace ${run.kill === 'graceful' ? 'hand-over' : 'kill'} ${k + 1}: ${kill.member} (epoch ${kill.epoch}) at ${at(kill.killedAt)}, succeeded by ${kill.successor ?? '?'}: ` +
    `unavailable ${gap} (last answer from it ${at(kill.lastOldAckAt)}, first from its successor ${at(kill.firstNewAckAt)})`
  );
}

/** Runs the workers until the end while the killer works, then drains; the timers end with it, whatever happens. */
async function loadWhileKilling(run: Run, workers: readonly Worker[]): Promise<{ counts: Counts; loadMs: number }> {
  const counts: Counts = { acked: 0, failed: 0, inDoubt: 0, filesWritten: 0, bytesWritten: 0, writesNotAcked: 0, writeErrors: new Map() };
  let stopped = false;
  const stopTimer = setTimeout(() => (stopped = true), run.endAt - performance.now());
  const progressTimer = setInterval(() => {
    const active = run.watches.ns.current ? `${run.watches.ns.current.member} (epoch ${run.watches.ns.current.epoch})` : 'none';
    const data = workers.some((w) => w.kind === 'data') ? `; ${counts.filesWritten} files written (${(counts.bytesWritten / 2 ** 20).toFixed(1)} MiB), ${counts.writesNotAcked} not` : '';
    run.progress(`${sinceStart(run)}: ${counts.acked} acknowledged, ${counts.failed} failed, ${counts.inDoubt} in doubt${data}; active ${active}`);
  }, PROGRESS_INTERVAL_MS);
  const runWorker = async (w: Worker): Promise<void> => {
    for (let i = 0; !stopped && i < SLOTS_PER_WORKER_MAX; i++) {
      const slot = emptySlot();
      w.slots.push(slot);
      if (w.kind === 'data') w.contents.push(null);
      const f = `${w.dir}/f${i}`;
      const g = `${w.dir}/g${i}`;
      const content = w.kind === 'data' ? freshContent() : null;
      // The writer the data create gives, for the write step.
      const open: { writer: FileWriter | null } = { writer: null };
      try {
        for (const step of w.kind === 'data' ? dataStepsOf(i) : stepsOf(i)) {
          if (stopped) break;
          let answer: Answer;
          if (step === 'write') {
            const written = await callWrite(w, open.writer!, content!.data);
            answer = written.answer;
            if (answer.kind === 'acked') {
              w.contents[i]!.acked = true;
              counts.filesWritten++;
              counts.bytesWritten += content!.bytes;
            } else {
              counts.writesNotAcked++;
              const seen = counts.writeErrors.get(answer.code);
              if (seen) seen.count++;
              else counts.writeErrors.set(answer.code, { count: 1, first: written.message });
            }
          } else if (step === 'create' && content) {
            answer = await callNamespace(w, run.clock, async () => {
              open.writer = await createForWrite(w.client, f, run.replication);
              return true;
            });
            if (answer.kind === 'acked') w.contents[i] = { bytes: content.bytes, sha256: content.sha256, acked: false };
          } else {
            answer = await callNamespace(w, run.clock, () => namespaceStep(w.client, step, f, g));
          }
          counts[answer.kind]++;
          if (!recordAnswer(slot, step, answer)) break;
        }
      } finally {
        // A file left before its write (the end came) keeps no pipeline nor lease renewals open.
        if (open.writer && open.writer.length === null && !open.writer.destroyed) open.writer.destroy();
      }
    }
  };
  const load = Promise.all(workers.map(runWorker));
  try {
    await killInTurn(run);
    // Drain: no new calls; those in flight get a bounded time, then their clients are closed.
    await sleep(Math.max(0, run.endAt - performance.now()));
    stopped = true;
    const drained = await withTimeout(load, DRAIN_MS_MAX, 'drain').then(
      () => true,
      () => false,
    );
    if (!drained) run.progress(`calls still in flight ${DRAIN_MS_MAX} ms after the end: closing their clients (those calls count as in doubt)`);
  } finally {
    stopped = true;
    clearTimeout(stopTimer);
    clearInterval(progressTimer);
    for (const w of workers) {
      w.client.close();
      w.writing?.destroy(new TandemError('CONNECTION_LOST', 'the run ended'));
    }
    await load;
  }
  const loadMs = performance.now() - run.startAt;
  run.progress(`load stopped after ${(loadMs / 1000).toFixed(1)} s: ${counts.acked} acknowledged, ${counts.failed} failed, ${counts.inDoubt} in doubt`);
  if (workers.some((w) => w.kind === 'data')) {
    const why = [...counts.writeErrors].map(([code, e]) => `${code} ${e.count}, the first: ${e.first}`).join('; ');
    run.progress(`data: ${counts.filesWritten} files written (${counts.bytesWritten} bytes), ${counts.writesNotAcked} writes not acknowledged${why ? ` (${why})` : ''}`);
  }
  return { counts, loadMs };
}

function namespaceStep(client: TandemClient, step: Step, f: string, g: string): Promise<boolean> {
  switch (step) {
    case 'create':
      return client.create(f).then(() => true);
    case 'rename':
      return client.rename(f, g);
    case 'delete':
      return client.delete(g);
    case 'write':
      throw new TandemError('INTERNAL', 'a write is not a namespace call');
  }
}

/** Sends one namespace call and says how it ended; its answers go to the failover clock. */
async function callNamespace(w: Worker, clock: FailoverClock, call: () => Promise<boolean>): Promise<Answer> {
  const answered = (): void => {
    // A call answered has gone through a connection, so its address was given.
    const connection = w.connection()!;
    clock.acked({ completedAt: performance.now(), answeredBy: connection.address, connectedAt: connection.at });
  };
  try {
    const effect = await call();
    answered();
    return { kind: 'acked', effect };
  } catch (err) {
    if (err instanceof TandemError && DEFINITE_ERRORS.has(err.code)) {
      // A refusal is an answer from the serving active too.
      answered();
      return { kind: 'failed', code: err.code };
    }
    return { kind: 'inDoubt', code: err instanceof TandemError ? err.code : String(err) };
  }
}

/** Writes a data file's bytes and completes it. Not for the failover clock: the FMS shard and the datanodes answer most of it. */
async function callWrite(w: Worker, writer: FileWriter, data: Buffer): Promise<{ answer: Answer; message: string }> {
  w.writing = writer;
  try {
    await writeContent(writer, data);
    return { answer: { kind: 'acked', effect: true }, message: '' };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof TandemError && DEFINITE_ERRORS.has(err.code)) return { answer: { kind: 'failed', code: err.code }, message };
    return { answer: { kind: 'inDoubt', code: err instanceof TandemError ? err.code : String(err) }, message };
  } finally {
    w.writing = null;
  }
}

interface CheckResult {
  lost: number;
  duplicated: number;
  phantom: number;
  mismatches: number;
  filesRead: number;
  bytesRead: number;
  samples: string[];
}

/** Judges every slot against its worker's directory, then every data file found in place against the bytes written. */
async function checkEverything(run: Run, client: TandemClient, workers: readonly Worker[]): Promise<CheckResult> {
  const tally = { lost: 0, duplicated: 0, phantom: 0, mismatch: 0 };
  const samples: string[] = [];
  const note = (verdict: Exclude<Verdict, 'ok'> | 'mismatch', what: string): void => {
    tally[verdict]++;
    if (samples.length < VIOLATION_SAMPLES_MAX) samples.push(`${what}: ${verdict}`);
  };
  const toRead: ContentToCheck[] = [];
  for (const w of workers) {
    const names = await listAllNames(client, w.dir);
    w.slots.forEach((slot, i) => {
      const found = { f: names.delete(`f${i}`), g: names.delete(`g${i}`) };
      const verdict = judgeSlot(slot, found);
      if (verdict !== 'ok') note(verdict, `${w.dir} slot ${i} (record ${JSON.stringify(slot)}, found ${found.f ? 'f' : ''}${found.g ? 'g' : ''}${!found.f && !found.g ? 'nothing' : ''})`);
      else if (w.kind === 'data' && (found.f || found.g)) toRead.push({ path: `${w.dir}/${found.f ? 'f' : 'g'}${i}`, expected: w.contents[i] ?? null });
    });
    // Whatever is left was never a name of this worker's slots.
    for (const name of names) note('phantom', `${w.dir}/${name} (no slot of this worker)`);
  }
  let filesRead = 0;
  let bytesRead = 0;
  if (toRead.length > 0) {
    run.progress(`reading ${toRead.length} data files back`);
    const read = await readBackAll(client, toRead);
    filesRead = read.filesRead;
    bytesRead = read.bytesRead;
    for (const { item, seen } of read.results) {
      if (judgeContent(item.expected, seen) === 'ok') continue;
      const what = seen.state === 'complete' ? `${seen.bytes} bytes, SHA-256 ${seen.sha256.slice(0, 16)}…` : seen.state === 'unreadable' ? `unreadable (${seen.code})` : 'under construction';
      const wrote = item.expected ? `${item.expected.bytes} bytes, SHA-256 ${item.expected.sha256.slice(0, 16)}…, write ${item.expected.acked ? 'acknowledged' : 'not acknowledged'}` : 'no writer';
      note('mismatch', `${item.path} (wrote ${wrote}; found ${what})`);
    }
  }
  return { lost: tally.lost, duplicated: tally.duplicated, phantom: tally.phantom, mismatches: tally.mismatch, filesRead, bytesRead, samples };
}

/** Every directory a WebHDFS client was told was made must be there; the gaps are measured over the namespace kills. */
async function checkWebHdfs(run: Run, runId: string, client: TandemClient, probes: WebHdfsProbes, result: WebHdfsProbeResult): Promise<WebHdfsChaosResult> {
  let missing = 0;
  for (const [k, made] of result.made.entries()) {
    const names = await listAllNames(client, `/chaos/${runId}/web${k}`);
    for (const path of made) if (!names.has(path.slice(path.lastIndexOf('/') + 1))) missing++;
  }
  const perKill = gapsAroundKills(probes.successTimes(), run.clock.kills.map((kill) => kill.killedAt), run.endAt);
  for (const [k, gap] of perKill.entries()) run.progress(`WebHDFS clients, namespace kill ${k + 1}: ${gap === null ? 'not measured (no success after it)' : `longest stretch without a success ${round1(gap)} ms`}`);
  const gaps = perKill.filter((g): g is number => g !== null).sort((a, b) => a - b);
  return {
    workers: result.made.length,
    acked: result.acked,
    errors: result.errors,
    unavailableMsP50: gaps.length > 0 ? round1(gaps[Math.ceil(gaps.length / 2) - 1]!) : null,
    unavailableMsMax: gaps.length > 0 ? round1(gaps.at(-1)!) : null,
    missing,
  };
}

async function listAllNames(client: TandemClient, dir: string): Promise<Set<string>> {
  const names = new Set<string>();
  let startAfter: string | undefined;
  for (;;) {
    const page = await client.listNames(dir, startAfter === undefined ? {} : { startAfter });
    for (const name of page.names) names.add(name);
    startAfter = page.names.at(-1);
    if (page.remaining === 0 || startAfter === undefined) return names;
  }
}

/** A kill's trace, on the wall clock. */
function traceOf(kill: Kill, changes: ResolverChanges): FailoverTrace {
  const wall = (t: number | null): number | null => (t === null ? null : Math.round(performance.timeOrigin + t));
  return {
    member: kill.member,
    epoch: kill.epoch,
    successor: kill.successor,
    killedAtMs: wall(kill.killedAt)!,
    lastOldAckAtMs: wall(kill.lastOldAckAt),
    resolverNoActiveAtMs: wall(changes.firstAfter(kill.killedAt, (a) => a === null)),
    resolverNewAddressAtMs: wall(changes.firstAfter(kill.killedAt, (a) => a !== null && a !== kill.rpc)),
    firstNewAckAtMs: wall(kill.firstNewAckAt),
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
