// `tandem bench chaos`: SIGKILL the namespace shard's active master every K seconds under a
// create/rename/delete load (or ask it to hand over gracefully: --kill graceful), then check
// that no acknowledged call was lost and none ran twice.
//
// Three phases, as FoundationDB's workloads have them:
// - run: W workers, each alone in `/chaos/<runId>/w<k>/`, walk slots i = 0, 1, …: create
//   f<i>, rename f<i> → g<i>, delete g<i> (some slots stop earlier, so the namespace keeps
//   content to check). Every answer is recorded in the slot. A worker leaves a slot at the
//   first call that was not acknowledged with its effect: after an in-doubt call it knows
//   neither outcome, so it goes on with a fresh name. Meanwhile the active is polled in
//   ZooKeeper (epoch changes are the failovers) and killed by the PID in cluster.json, or
//   asked to hand over (`admin.failover`, sent straight to its rpc address).
// - drain: at S seconds no new call starts; calls in flight get a bounded time to finish.
// - check: once an active newer than the last victim serves, each worker's directory is
//   listed and every slot judged against its record (judgeSlot, pure).
//
// Each worker has its own client (one connection, one call at a time) and its own resolver,
// so the address the resolver last gave, and when, tell which master answered the worker's
// call: that is how an answer from the new active is told from one the old active sent (see
// FailoverClock).

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sleep } from '../client/backoff.js';
import { TandemClient, type ActiveResolver } from '../client/tandem-client.js';
import { ZooKeeperResolver } from '../client/zk-resolver.js';
import { coordinatorFactory, readClusterFile, zooKeeperTarget } from '../cli/cluster-address.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import type { Coordinator } from '../election/coordinator.js';
import { shardPaths, type ActiveInfo } from '../election/layout.js';
import { TandemError, type ErrorCode } from '../errors.js';

const SHARD = 'ns';
/** Budget of one call, the client's retries included: long enough to ride through a failover. */
const CALL_DEADLINE_MS = 30_000;
/** Short backoff, so that the first call after a failover is not held back by the client. */
const CALL_BACKOFF = { baseMs: 10, capMs: 200 } as const;
const ACTIVE_POLL_INTERVAL_MS = 100;
/** Budget of one hand-over call: the active's drain timeout, and some. */
const HANDOVER_DEADLINE_MS = DEFAULT_LIMITS.drainTimeoutMs + 5_000;
/** After a refused hand-over (no in-sync standby yet), ask again this much later. */
const HANDOVER_RETRY_MS = 1_000;
const PROGRESS_INTERVAL_MS = 5_000;
/** After --seconds, calls in flight get this long; then their clients are closed (the calls are in doubt). */
const DRAIN_MS_MAX = CALL_DEADLINE_MS + 5_000;
/** How long the check waits for an active newer than the last victim. */
const ACTIVE_WAIT_MS_MAX = 60_000;
/** The whole check (listing every worker's directory) must end within this. */
const CHECK_MS_MAX = 120_000;
const CLOSE_MS_MAX = 5_000;
export const WORKERS_MAX = 1_024;
/** Slots one worker may use: bounds the record kept in memory (a few dozen bytes each). */
const SLOTS_PER_WORKER_MAX = 1_000_000;
/** Violations described in the result, for the operator; the counts cover all of them. */
const VIOLATION_SAMPLES_MAX = 20;

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

// ---- the record and the judge (pure)

/** Where a slot's file is: at f<i>, at g<i>, or nowhere. */
export type Place = 'f' | 'g' | 'none';

export type Step = 'create' | 'rename' | 'delete';

/** Where each step puts the slot's file when it takes effect. */
const STEP_TARGET: Readonly<Record<Step, Place>> = { create: 'f', rename: 'g', delete: 'none' };

/** Slot i's calls: every 8th slot keeps its f, every 8th (offset 3) its g; the rest end empty. */
export function stepsOf(slot: number): readonly Step[] {
  if (slot % 8 === 7) return ['create'];
  if (slot % 8 === 3) return ['create', 'rename'];
  return ['create', 'rename', 'delete'];
}

/** How one call ended, as the worker saw it. */
export type Answer =
  /** Answered. `effect` false: `create` FILE_EXISTS, `rename`/`delete` false — each of them on a path the worker certainly had (or never used). */
  | { kind: 'acked'; effect: boolean }
  /** Refused by the namespace with a definite error: it did not happen. */
  | { kind: 'failed'; code: ErrorCode }
  /** No answer within the deadline, or the connection lost for good: it may or may not have happened. */
  | { kind: 'inDoubt'; code: string };

/** What a worker knows about one slot. Each call moves the slot at most once; the first call not acknowledged with its effect is the slot's last. */
export interface SlotRecord {
  /** Where the file is after every call acknowledged with its effect ('none' before any). */
  certain: Place;
  /** Some call on this slot was acknowledged with its effect: a wrong place is then a lost write. */
  acked: boolean;
  /** Where the file would be had the in-doubt call happened; null when no call was in doubt. */
  maybe: Place | null;
  /** Where the file would be had the definitely refused call happened anyway. */
  refused: Place | null;
  /** Where an acknowledged call without effect meant to put the file: only an earlier run of the same call explains it. */
  noEffect: Place | null;
}

export function emptySlot(): SlotRecord {
  return { certain: 'none', acked: false, maybe: null, refused: null, noEffect: null };
}

/** Records a step's answer; returns whether the worker may go on with the slot's next step. */
export function recordAnswer(slot: SlotRecord, step: Step, answer: Answer): boolean {
  const target = STEP_TARGET[step];
  if (answer.kind === 'acked' && answer.effect) {
    slot.certain = target;
    slot.acked = true;
    return true;
  }
  if (answer.kind === 'acked' || (answer.kind === 'failed' && step === 'create' && answer.code === 'FILE_EXISTS')) slot.noEffect = target;
  else if (answer.kind === 'failed') slot.refused = target;
  else slot.maybe = target;
  return false;
}

export type Verdict = 'ok' | 'lost' | 'duplicated' | 'phantom';

/**
 * Judges a slot by what the final namespace holds at f<i> and g<i>:
 * - `duplicated`: a call ran twice — the file at both places (a create ran again after its
 *   rename), or an answer without effect (a fresh name answered FILE_EXISTS, a certain source
 *   answered false) whose effect is in the namespace, as an earlier run of the same call left it;
 * - `lost`: an acknowledged effect is not there (an answer without effect whose effect is not
 *   there either means the earlier acknowledged step was lost);
 * - `phantom`: an effect no call was acknowledged for, and no in-doubt call explains;
 * - `ok`: the file is at the place the acknowledged calls put it, or where the in-doubt call would have.
 */
export function judgeSlot(slot: SlotRecord, found: { f: boolean; g: boolean }): Verdict {
  if (found.f && found.g) return 'duplicated';
  const actual: Place = found.f ? 'f' : found.g ? 'g' : 'none';
  if (slot.noEffect !== null) return actual === slot.noEffect || !slot.acked ? 'duplicated' : 'lost';
  if (actual === slot.certain || actual === slot.maybe) return 'ok';
  if (actual === slot.refused || !slot.acked) return 'phantom';
  return 'lost';
}

// ---- unavailability per failover

interface Kill {
  /** The member killed (or asked to hand over), its rpc address, and the epoch it was active in. */
  member: string;
  rpc: string;
  epoch: number;
  /** Asked to hand over (it still answers calls that reach it before it stops), rather than killed. */
  graceful: boolean;
  /** The first active of a newer epoch ZooKeeper named after the kill (null until then). */
  successor: string | null;
  /** When the SIGKILL (or the hand-over call) was sent. */
  killedAt: number;
  /** Completion of the last call the killed active answered (before the kill, or a reply it had already sent). */
  lastOldAckAt: number | null;
  /** Completion of the first call the next active answered. */
  firstNewAckAt: number | null;
}

/**
 * Measures each kill's gap: from the last call answered by the old active to the first one
 * answered by its successor. A call completing after the kill is the old active's answer if it
 * came on a connection to the old active's rpc address opened, for a SIGKILL, before the kill:
 * a reply the killed process had already sent (a handing-over active, alive, may also answer
 * calls that reach it before it stops). Anything else is the successor's: another address, or a
 * connection opened after the kill, which only the killed member restarted and elected again can
 * answer (it is, when it was alone in the in-sync set).
 */
export class FailoverClock {
  private lastAckAt: number | null = null;
  readonly kills: Kill[] = [];

  /** A call answered at `completedAt` (performance.now()) by the master at `answeredBy` (HOST:PORT), on a connection opened at `connectedAt`. */
  acked(call: { completedAt: number; answeredBy: string; connectedAt: number }): void {
    const { completedAt } = call;
    const current = this.lastKill;
    if (current && completedAt > current.killedAt) {
      const old = call.answeredBy === current.rpc && (current.graceful || call.connectedAt < current.killedAt);
      if (old) current.lastOldAckAt = Math.max(current.lastOldAckAt ?? completedAt, completedAt);
      else current.firstNewAckAt ??= completedAt;
    }
    this.lastAckAt = Math.max(this.lastAckAt ?? completedAt, completedAt);
  }

  killed(victim: { member: string; rpc: string; epoch: number }, at: number, graceful: boolean): void {
    this.kills.push({ member: victim.member, rpc: victim.rpc, epoch: victim.epoch, graceful, successor: null, killedAt: at, lastOldAckAt: this.lastAckAt, firstNewAckAt: null });
  }

  /** The last kill did not happen after all (a hand-over the active refused). */
  withdraw(): void {
    this.kills.pop();
  }

  get lastKill(): Kill | undefined {
    return this.kills.at(-1);
  }

  /** The active is newer than the last one killed. */
  succeeds(active: ActiveInfo): boolean {
    return active.epoch > (this.lastKill?.epoch ?? -Infinity);
  }

  /** The last kill's successor has answered a call (or nothing was killed yet). */
  get settled(): boolean {
    const current = this.lastKill;
    return !current || current.firstNewAckAt !== null;
  }

  /** Gap per measured kill, ms; kills whose successor answered nothing before the end are left out. */
  gapsMs(): number[] {
    return this.kills.filter((f) => f.firstNewAckAt !== null).map((f) => f.firstNewAckAt! - (f.lastOldAckAt ?? f.killedAt));
  }
}

// ---- the active, as ZooKeeper has it

/** Polls `/shards/ns/active`; each change of epoch between two readings is a failover. */
class ActiveWatch {
  current: ActiveInfo | null = null;
  failovers = 0;
  private lastSeen: ActiveInfo | null = null;
  private session: Coordinator | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly connect: () => Promise<Coordinator>,
    private readonly onChange: (from: ActiveInfo | null, to: ActiveInfo | null) => void,
  ) {}

  async start(): Promise<void> {
    await this.poll();
    this.loop = (async () => {
      while (!this.stopped) {
        await sleep(ACTIVE_POLL_INTERVAL_MS);
        await this.poll();
      }
    })();
  }

  /** Reads the active from ZooKeeper now (not the last poll's view); null if none is registered or ZooKeeper cannot tell. */
  async fresh(): Promise<ActiveInfo | null> {
    await this.poll();
    return this.current;
  }

  /** Waits (polling) until `accept` holds for the current active; null if `deadlineAt` (performance.now()) comes first. */
  async until(accept: (active: ActiveInfo) => boolean, deadlineAt: number): Promise<ActiveInfo | null> {
    for (;;) {
      if (this.current && accept(this.current)) return this.current;
      if (performance.now() >= deadlineAt) return null;
      await sleep(Math.min(ACTIVE_POLL_INTERVAL_MS, Math.max(1, deadlineAt - performance.now())));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await withTimeout(this.session?.close() ?? Promise.resolve(), CLOSE_MS_MAX, 'closing the ZooKeeper session').catch(() => undefined);
  }

  private async poll(): Promise<void> {
    try {
      this.session ??= await this.connect();
      const node = await this.session.get<ActiveInfo>(shardPaths(SHARD).active);
      this.observe(node?.data ?? null);
    } catch (err) {
      // ZooKeeper unreachable for a moment: the next poll tries again; an expired session is replaced.
      if (err instanceof TandemError && err.code === 'COORDINATOR_SESSION_EXPIRED') this.session = null;
    }
  }

  private observe(next: ActiveInfo | null): void {
    const previous = this.current;
    this.current = next;
    if (previous?.epoch === next?.epoch && previous?.member === next?.member) return;
    // `from` is the last active seen, across the moment with none registered.
    const from = this.lastSeen;
    if (next && from && next.epoch !== from.epoch) this.failovers++;
    if (next) this.lastSeen = next;
    this.onChange(next ? from : previous, next);
  }
}

// ---- killing by PID

/** The process's arguments (Linux /proc); null if the process is gone; undefined where /proc cannot tell. */
function commandLine(pid: number): string[] | null | undefined {
  if (!existsSync('/proc/self/cmdline')) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
}

/** Whether `pid` runs `tandem <role> … --member <member>`: a PID in cluster.json may be stale, and a reused PID must never be killed. */
function runsAs(pid: number, role: 'master' | 'monitor', member: string): boolean {
  const args = commandLine(pid);
  if (args === undefined) return true; // no /proc here: trust cluster.json
  if (args === null) return false;
  const memberAt = args.indexOf('--member');
  return args.includes(role) && memberAt !== -1 && args[memberAt + 1] === member;
}

function sigkill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false; // exited in the meantime
  }
}

// ---- the run

/**
 * How the active is made to go, every K seconds:
 * - `master`: SIGKILL the active master (its monitor sees it and ends its ZooKeeper session);
 * - `monitor-too`: SIGKILL its monitor as well, so the failover waits for the session to expire;
 * - `graceful`: ask it to hand over (`admin.failover`): drain, the target catches up, hand-over.
 */
export const KILL_MODES = ['master', 'monitor-too', 'graceful'] as const;
export type KillMode = (typeof KILL_MODES)[number];

export interface ChaosOptions {
  /** The directory of `tandem up` (its cluster.json). */
  cluster: string;
  seconds: number;
  killEverySeconds: number;
  kill: KillMode;
  /** Concurrent workers, each with its own connection. */
  workers: number;
  /** Progress lines (stderr in the CLI). */
  progress?: (line: string) => void;
}

export interface ChaosResult {
  /** Calls acknowledged (with or without effect). */
  acked: number;
  lost: number;
  duplicated: number;
  failovers: number;
  /** Over the kills (hand-overs with --kill graceful) whose successor answered before the end; null when there was none. */
  unavailableMsP50: number | null;
  unavailableMsMax: number | null;
  inDoubt: number;
  /** Calls refused with a definite error. */
  failed: number;
  /** Effects nobody was told about and no in-doubt call explains (a refused call that happened anyway). */
  phantom: number;
  kills: number;
  /** Kills whose successor answered no call before the load ended. */
  unmeasuredKills: number;
  opsPerSec: number;
  runId: string;
  /** The first violations, each as `<worker dir> slot <i> (record …, found …): <verdict>`. */
  violations: string[];
}

interface Counts {
  acked: number;
  failed: number;
  inDoubt: number;
}

/** Where a client's connection goes, and when its address was given (performance.now()). */
interface ClientConnection {
  address: string;
  at: number;
}

interface Worker {
  dir: string;
  client: TandemClient;
  /** The master the client's connection goes to (the address its resolver last gave, and when): the one that answered its call. */
  connection: () => ClientConnection | null;
  slots: SlotRecord[];
}

/** What the phases of one run share. */
interface Run {
  opts: ChaosOptions;
  progress: (line: string) => void;
  watch: ActiveWatch;
  clock: FailoverClock;
  /** performance.now() at the start of the load, and when it is to stop. */
  startAt: number;
  endAt: number;
}

/** `+12.3 s` from the start of the load. */
function sinceStart(run: Run, at = performance.now()): string {
  return `+${((at - run.startAt) / 1000).toFixed(1)} s`;
}

export async function runChaosBench(opts: ChaosOptions): Promise<ChaosResult> {
  if (!Number.isInteger(opts.workers) || opts.workers < 1 || opts.workers > WORKERS_MAX) {
    throw new TandemError('INVALID_ARGUMENT', `workers must be 1..${WORKERS_MAX}, got ${opts.workers}`);
  }
  const zk = zooKeeperTarget({ cluster: opts.cluster });
  if (!zk) throw new TandemError('INVALID_ARGUMENT', `no ZooKeeper in ${opts.cluster}/cluster.json`);
  const connect = coordinatorFactory(zk);
  const clients = sharedClients(connect);
  const clock = new FailoverClock();
  const run: Run = { opts, progress: opts.progress ?? (() => undefined), watch: new ActiveWatch(connect, (from, to) => describeChange(run, from, to)), clock, startAt: 0, endAt: 0 };
  const runId = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
  const checker = clients.create().client;
  const workers: Worker[] = Array.from({ length: opts.workers }, (_, k) => ({ dir: `/chaos/${runId}/w${k}`, ...clients.create(), slots: [] }));
  try {
    await run.watch.start();
    // Setup (untimed): one directory per worker.
    await Promise.all(workers.map((w) => checker.mkdirs(w.dir)));
    const what = { master: 'SIGKILL the active', 'monitor-too': 'SIGKILL the active with its monitor', graceful: 'hand over gracefully' }[opts.kill];
    run.progress(`run ${runId}: ${opts.workers} workers under /chaos/${runId}, ${opts.seconds} s, ${what} every ${opts.killEverySeconds} s`);
    run.startAt = performance.now();
    run.endAt = run.startAt + opts.seconds * 1000;
    const { counts, loadMs } = await loadWhileKilling(run, workers);

    // Check: wait for an active newer than the last victim, then list every worker's directory.
    const active = await run.watch.until((a) => clock.succeeds(a), performance.now() + ACTIVE_WAIT_MS_MAX);
    if (!active) throw new TandemError('NOT_ACTIVE', `no active newer than epoch ${clock.lastKill?.epoch} within ${ACTIVE_WAIT_MS_MAX} ms after the run`);
    run.progress(`checking the namespace through ${active.member} (epoch ${active.epoch})`);
    const verdicts = await withTimeout(checkNamespace(checker, workers), CHECK_MS_MAX, 'the namespace check');

    for (const [k, kill] of clock.kills.entries()) run.progress(describeGap(run, k, kill));
    const gaps = clock.gapsMs().sort((a, b) => a - b);
    return {
      acked: counts.acked,
      lost: verdicts.lost,
      duplicated: verdicts.duplicated,
      failovers: run.watch.failovers,
      unavailableMsP50: gaps.length > 0 ? round1(gaps[Math.ceil(gaps.length / 2) - 1]!) : null,
      unavailableMsMax: gaps.length > 0 ? round1(gaps.at(-1)!) : null,
      inDoubt: counts.inDoubt,
      failed: counts.failed,
      phantom: verdicts.phantom,
      kills: clock.kills.length,
      unmeasuredKills: clock.kills.length - gaps.length,
      opsPerSec: Math.round(counts.acked / (loadMs / 1000)),
      runId,
      violations: verdicts.samples,
    };
  } finally {
    for (const w of workers) w.client.close();
    checker.close();
    await run.watch.stop();
    await clients.close();
  }
}

/**
 * Clients that find the active through one ZooKeeper session (closing a client must not
 * close it). After a failover every worker asks at once: they share one read, since each
 * read of a missing `active` node leaves a watch behind. Each client has its own view of
 * that resolver, which remembers the address it last gave: a client asks for an address only
 * to open its one connection, so that is the master its calls go to.
 */
function sharedClients(connect: () => Promise<Coordinator>): { create: () => { client: TandemClient; connection: () => ClientConnection | null }; close: () => Promise<void> } {
  const shared = new ZooKeeperResolver(connect, SHARD);
  let resolving: Promise<string> | null = null;
  const activeAddress = (): Promise<string> =>
    (resolving ??= shared.activeAddress().finally(() => {
      resolving = null;
    }));
  return {
    create: () => {
      let lastGiven: ClientConnection | null = null;
      const resolver: ActiveResolver = {
        activeAddress: () =>
          activeAddress().then((address) => {
            lastGiven = { address, at: performance.now() };
            return address;
          }),
        invalidate: () => shared.invalidate(),
        close: () => Promise.resolve(),
      };
      return { client: new TandemClient({ resolver, deadlineMs: CALL_DEADLINE_MS, backoff: CALL_BACKOFF }), connection: () => lastGiven };
    },
    close: () => withTimeout(shared.close(), CLOSE_MS_MAX, 'closing the resolver').catch(() => undefined),
  };
}

function describeChange(run: Run, from: ActiveInfo | null, to: ActiveInfo | null): void {
  if (!to) return run.progress(`${sinceStart(run)}: no active registered (${from?.member ?? 'none'} at epoch ${from?.epoch ?? '-'} is gone)`);
  if (!from) return run.progress(`${to.member} is active at epoch ${to.epoch}`);
  const kill = run.clock.lastKill;
  if (kill && to.epoch > kill.epoch) kill.successor ??= to.member;
  const since = kill ? `, ${((performance.now() - kill.killedAt) / 1000).toFixed(1)} s after the ${run.opts.kill === 'graceful' ? 'hand-over request to' : 'kill of'} ${kill.member}` : '';
  run.progress(`${sinceStart(run)}: epoch ${from.epoch} → ${to.epoch}: ${to.member} is active${since}`);
}

/** One line per kill: whose, and its gap with the two answers that bound it. */
function describeGap(run: Run, k: number, kill: Kill): string {
  const at = (t: number | null): string => (t === null ? 'none' : `+${((t - run.startAt) / 1000).toFixed(3)} s`);
  const gap = kill.firstNewAckAt === null ? 'not measured' : `${round1(kill.firstNewAckAt - (kill.lastOldAckAt ?? kill.killedAt))} ms`;
  return (
    `${run.opts.kill === 'graceful' ? 'hand-over' : 'kill'} ${k + 1}: ${kill.member} (epoch ${kill.epoch}) at ${at(kill.killedAt)}, succeeded by ${kill.successor ?? '?'}: ` +
    `unavailable ${gap} (last answer from it ${at(kill.lastOldAckAt)}, first from its successor ${at(kill.firstNewAckAt)})`
  );
}

/** Runs the workers until the end while the active is killed, then drains; the timers end with it, whatever happens. */
async function loadWhileKilling(run: Run, workers: readonly Worker[]): Promise<{ counts: Counts; loadMs: number }> {
  const counts: Counts = { acked: 0, failed: 0, inDoubt: 0 };
  let stopped = false;
  const stopTimer = setTimeout(() => (stopped = true), run.endAt - performance.now());
  const progressTimer = setInterval(() => {
    const active = run.watch.current ? `${run.watch.current.member} (epoch ${run.watch.current.epoch})` : 'none';
    run.progress(`${sinceStart(run)}: ${counts.acked} acknowledged, ${counts.failed} failed, ${counts.inDoubt} in doubt; active ${active}`);
  }, PROGRESS_INTERVAL_MS);
  const runWorker = async (w: Worker): Promise<void> => {
    for (let i = 0; !stopped && i < SLOTS_PER_WORKER_MAX; i++) {
      const slot = emptySlot();
      w.slots.push(slot);
      for (const step of stepsOf(i)) {
        if (stopped) break;
        const answer = await callStep(w, `${w.dir}/f${i}`, `${w.dir}/g${i}`, step, run.clock);
        counts[answer.kind]++;
        if (!recordAnswer(slot, step, answer)) break;
      }
    }
  };
  const load = Promise.all(workers.map(runWorker));
  try {
    await killTheActive(run);
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
    for (const w of workers) w.client.close();
    await load;
  }
  const loadMs = performance.now() - run.startAt;
  run.progress(`load stopped after ${(loadMs / 1000).toFixed(1)} s: ${counts.acked} acknowledged, ${counts.failed} failed, ${counts.inDoubt} in doubt`);
  return { counts, loadMs };
}

/** Every --kill-every seconds until the end: SIGKILL the active (and its monitor) or ask it to hand over, once the previous failover is over. */
async function killTheActive(run: Run): Promise<void> {
  const { opts, watch, clock } = run;
  const killEveryMs = opts.killEverySeconds * 1000;
  let saidNoMonitor = false;
  let lastSaid = '';
  // A retry every 100 ms must not repeat the same line every 100 ms.
  const sayOnce = (line: string): void => {
    if (line !== lastSaid) run.progress(`${sinceStart(run)}: ${line}`);
    lastSaid = line;
  };
  for (let next = run.startAt + killEveryMs; next < run.endAt; ) {
    await sleep(next - performance.now());
    // The previous failover must be over: a newer active, which has answered a call.
    const settled = await watch.until((a) => clock.succeeds(a) && clock.settled, run.endAt);
    if (!settled) return run.progress(`${sinceStart(run)}: the previous failover is not over; no more kills before the end`);
    if (opts.kill === 'graceful') {
      // The hand-over goes to the active ZooKeeper names now, not the one of the last poll.
      const victim = await watch.fresh();
      if (!victim || !clock.succeeds(victim)) {
        next = performance.now() + ACTIVE_POLL_INTERVAL_MS;
        continue;
      }
      const handedOver = await handOver(run, victim);
      next = handedOver ? clock.lastKill!.killedAt + killEveryMs : performance.now() + HANDOVER_RETRY_MS;
      continue;
    }
    const victim = settled;
    const entry = readClusterFile(opts.cluster).shards[SHARD]?.members.find((m) => m.member === victim.member);
    if (!entry?.pid || !runsAs(entry.pid, 'master', victim.member)) {
      // The supervisor may be rewriting cluster.json: look again shortly.
      sayOnce(`cluster.json has no live PID for the active ${victim.member} (pid ${entry?.pid ?? 'none'}); trying again`);
      next = performance.now() + ACTIVE_POLL_INTERVAL_MS;
      continue;
    }
    // The monitor dies first: killed after the master, it could see the death in between and end the session at once.
    let monitorNote = '';
    if (opts.kill === 'monitor-too') {
      const monitorPid = entry.monitorPid;
      if (monitorPid && runsAs(monitorPid, 'monitor', victim.member) && sigkill(monitorPid)) monitorNote = ` and its monitor (pid ${monitorPid}, killed first)`;
      else if (!saidNoMonitor) {
        saidNoMonitor = true;
        monitorNote = ` (no live monitorPid for ${victim.member} in cluster.json: killing the master only)`;
      }
    }
    const killedAt = performance.now();
    if (!sigkill(entry.pid)) {
      sayOnce(`the active ${victim.member} (pid ${entry.pid}) exited before its SIGKILL; trying again`);
      next = performance.now() + ACTIVE_POLL_INTERVAL_MS;
      continue;
    }
    clock.killed(victim, killedAt, false);
    next = killedAt + killEveryMs;
    run.progress(`${new Date().toISOString()} ${sinceStart(run, killedAt)}: SIGKILL ${SHARD}/${victim.member} pid ${entry.pid}, the active at epoch ${victim.epoch}${monitorNote}`);
  }
}

/**
 * Asks `victim` to hand over, on a connection of its own straight to its rpc address (not
 * through ZooKeeper: the call must reach that master, and it is not retried). Returns whether
 * the hand-over happened, or may have (then it is measured like a kill); a refusal withdraws it.
 */
async function handOver(run: Run, victim: ActiveInfo): Promise<boolean> {
  const client = new TandemClient({ masters: [victim.rpc], deadlineMs: HANDOVER_DEADLINE_MS, backoff: CALL_BACKOFF });
  const requestedAt = performance.now();
  run.clock.killed(victim, requestedAt, true);
  try {
    const r = await client.failover();
    run.progress(
      `${new Date().toISOString()} ${sinceStart(run, requestedAt)}: ${SHARD}/${victim.member} (epoch ${victim.epoch}) handed over to ${r.to} at txid ${r.txid}: ${r.ms} ms in the active, ${Math.round(performance.now() - requestedAt)} ms for the call`,
    );
    return true;
  } catch (err) {
    const code = err instanceof TandemError ? err.code : String(err);
    // Did it happen anyway (the answer lost)? ZooKeeper tells: the victim still registered at its epoch means no.
    const now = await run.watch.fresh();
    if (now?.member === victim.member && now.epoch === victim.epoch) {
      run.clock.withdraw();
      run.progress(`${sinceStart(run)}: ${victim.member} refused to hand over (${code}: ${(err as Error).message}); asking again in ${HANDOVER_RETRY_MS} ms`);
      return false;
    }
    run.progress(`${sinceStart(run, requestedAt)}: the hand-over call to ${victim.member} failed (${code}: ${(err as Error).message}) but ZooKeeper names ${now ? `${now.member} at epoch ${now.epoch}` : 'no active'}: measured as a failover`);
    return true;
  } finally {
    client.close();
  }
}

/** Sends one step's call and says how it ended; acknowledged calls go to the failover clock. */
async function callStep(w: Worker, f: string, g: string, step: Step, clock: FailoverClock): Promise<Answer> {
  const { client } = w;
  const answered = (): void => {
    // A call answered has gone through a connection, so its address was given.
    const connection = w.connection()!;
    clock.acked({ completedAt: performance.now(), answeredBy: connection.address, connectedAt: connection.at });
  };
  try {
    const effect = step === 'create' ? (await client.create(f), true) : step === 'rename' ? await client.rename(f, g) : await client.delete(g);
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

async function checkNamespace(client: TandemClient, workers: readonly Worker[]): Promise<{ lost: number; duplicated: number; phantom: number; samples: string[] }> {
  const tally = { lost: 0, duplicated: 0, phantom: 0 };
  const samples: string[] = [];
  const note = (verdict: Exclude<Verdict, 'ok'>, what: string): void => {
    tally[verdict]++;
    if (samples.length < VIOLATION_SAMPLES_MAX) samples.push(`${what}: ${verdict}`);
  };
  for (const w of workers) {
    const names = await listAllNames(client, w.dir);
    w.slots.forEach((slot, i) => {
      const found = { f: names.delete(`f${i}`), g: names.delete(`g${i}`) };
      const verdict = judgeSlot(slot, found);
      if (verdict !== 'ok') note(verdict, `${w.dir} slot ${i} (record ${JSON.stringify(slot)}, found ${found.f ? 'f' : ''}${found.g ? 'g' : ''}${!found.f && !found.g ? 'nothing' : ''})`);
    });
    // Whatever is left was never a name of this worker's slots.
    for (const name of names) note('phantom', `${w.dir}/${name} (no slot of this worker)`);
  }
  return { lost: tally.lost, duplicated: tally.duplicated, phantom: tally.phantom, samples };
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

/** Rejects with DEADLINE_EXCEEDED if `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TandemError('DEADLINE_EXCEEDED', `${what} did not end within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
