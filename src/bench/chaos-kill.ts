// The killer of `tandem bench chaos` (src/bench/chaos.ts): every K seconds it takes the next
// target in turn — the namespace shard's active, an FMS shard's active (the shards in turn),
// a datanode (the datanodes in turn) — and SIGKILLs it by the PID in the cluster.json of
// `tandem up`, whose supervisor restarts it (or asks an active to hand over: --kill graceful).
// A kill waits until the previous ones are over: a newer active that has answered a call
// (namespace), a newer active registered in ZooKeeper (FMS), the datanode running again.
//
// The actives are polled in ZooKeeper (ActiveWatch, one per shard); each change of epoch is
// a failover. A PID from cluster.json is checked against /proc before the kill: it may be
// stale, and a reused PID must never be killed.

import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sleep } from '../client/backoff.js';
import { TandemClient } from '../client/tandem-client.js';
import { readClusterFile, type ClusterFile } from '../cli/cluster-address.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import type { Coordinator } from '../election/coordinator.js';
import { shardPaths, type ActiveInfo } from '../election/layout.js';
import { TandemError } from '../errors.js';
import type { FailoverClock } from './chaos-judge.js';

export const ACTIVE_POLL_INTERVAL_MS = 100;
/** Budget of one hand-over call: the active's drain timeout, and some. */
const HANDOVER_DEADLINE_MS = DEFAULT_LIMITS.drainTimeoutMs + 5_000;
/** After a refused hand-over (no in-sync standby yet), ask again this much later. */
const HANDOVER_RETRY_MS = 1_000;
const CLOSE_MS_MAX = 5_000;
/** Backoff of the hand-over call's client. */
const HANDOVER_BACKOFF = { baseMs: 10, capMs: 200 } as const;

/**
 * How an active is made to go, every K seconds:
 * - `master`: SIGKILL the active master (its monitor sees it and ends its ZooKeeper session);
 * - `monitor-too`: SIGKILL its monitor as well, so the failover waits for the session to expire;
 * - `graceful`: ask it to hand over (`admin.failover`): drain, the target catches up, hand-over.
 * A datanode is always SIGKILLed: it has nothing to hand over.
 */
export const KILL_MODES = ['master', 'monitor-too', 'graceful'] as const;
export type KillMode = (typeof KILL_MODES)[number];

/** What is killed, in turn: the namespace shard's active, an FMS shard's active, a datanode. */
export const KILL_TARGETS = ['ns', 'fms', 'datanode'] as const;
export type KillTarget = (typeof KILL_TARGETS)[number];

export const NS_SHARD = 'ns';

// ---- the active, as ZooKeeper has it

/** Polls `/shards/<shard>/active`; each change of epoch between two readings is a failover. */
export class ActiveWatch {
  current: ActiveInfo | null = null;
  failovers = 0;
  private lastSeen: ActiveInfo | null = null;
  private session: Coordinator | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    readonly shard: string,
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
      const node = await this.session.get<ActiveInfo>(shardPaths(this.shard).active);
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

/** Who a process of the cluster is: a master or monitor of a shard's member, or a datanode. */
export type ProcessIdentity = { role: 'master' | 'monitor'; shard: string; member: string } | { role: 'datanode'; id: string };

/** Whether `pid` runs `tandem <role> …` as `who` says (`--shard S --member M`, or `--id D`): a PID in cluster.json may be stale. */
export function runsAs(pid: number, who: ProcessIdentity): boolean {
  const args = commandLine(pid);
  if (args === undefined) return true; // no /proc here: trust cluster.json
  if (args === null || !args.includes(who.role)) return false;
  const flag = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at === -1 ? undefined : args[at + 1];
  };
  return who.role === 'datanode' ? flag('--id') === who.id : flag('--shard') === who.shard && flag('--member') === who.member;
}

export function sigkill(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false; // exited in the meantime
  }
}

/** cluster.json as it is now; null while the supervisor is rewriting it (a partial file). */
function clusterNow(dir: string): ClusterFile | null {
  try {
    return readClusterFile(dir);
  } catch {
    return null;
  }
}

// ---- the killer

/** What the killer shares with the run. */
export interface KillerContext {
  cluster: string;
  killEverySeconds: number;
  kill: KillMode;
  targets: readonly KillTarget[];
  progress: (line: string) => void;
  /** The namespace shard's watch, and each FMS shard's (in the order the FMS targets are taken). */
  watches: { ns: ActiveWatch; fms: readonly ActiveWatch[] };
  /** The namespace's failovers, measured from the workers' answers. */
  clock: FailoverClock;
  /** performance.now() at the start of the load, and when it ends. */
  startAt: number;
  endAt: number;
  /** Kills (hand-overs) done, by target. */
  killsByTarget: Record<KillTarget, number>;
  /** The last kill of each shard's active, for the progress lines of its failover. */
  lastKillOf: Map<string, { member: string; epoch: number; at: number }>;
}

/** `+12.3 s` from the start of the load. */
export function sinceStart(ctx: { startAt: number }, at = performance.now()): string {
  return `+${((at - ctx.startAt) / 1000).toFixed(1)} s`;
}

/** A kill not over yet: the next one waits for it. */
interface Pending {
  what: string;
  over: () => boolean;
}

/** One kill's outcome: done (at `at`, over when `over` says so), or not done now (try again after `retryMs`). */
type KillOutcome = { done: true; at: number; pending: Pending | null } | { done: false; retryMs: number };

/** Every --kill-every seconds until the end: kill the next target in turn, once the previous kills are over. */
export async function killInTurn(ctx: KillerContext): Promise<void> {
  const killEveryMs = ctx.killEverySeconds * 1000;
  const turns: Record<KillTarget, number> = { ns: 0, fms: 0, datanode: 0 };
  const pending: Pending[] = [];
  let lastSaid = '';
  // A retry every 100 ms must not repeat the same line every 100 ms.
  const sayOnce = (line: string): void => {
    if (line !== lastSaid) ctx.progress(`${sinceStart(ctx)}: ${line}`);
    lastSaid = line;
  };
  for (let k = 0, next = ctx.startAt + killEveryMs; next < ctx.endAt; ) {
    await sleep(next - performance.now());
    // The previous kills must be over; the namespace's failover is over once a newer active answered a call.
    const nsSettled = await ctx.watches.ns.until((a) => ctx.clock.succeeds(a) && ctx.clock.settled, ctx.endAt);
    while (pending.length > 0 && performance.now() < ctx.endAt) {
      for (let i = pending.length - 1; i >= 0; i--) if (pending[i]!.over()) pending.splice(i, 1);
      if (pending.length > 0) await sleep(ACTIVE_POLL_INTERVAL_MS);
    }
    if (!nsSettled || pending.length > 0) {
      const waiting = [...(nsSettled ? [] : ['the namespace failover']), ...pending.map((p) => p.what)];
      return ctx.progress(`${sinceStart(ctx)}: not over before the end: ${waiting.join(', ')}; no more kills`);
    }
    const target = ctx.targets[k % ctx.targets.length]!;
    const outcome =
      target === 'ns'
        ? await killNamespaceActive(ctx, nsSettled, sayOnce)
        : target === 'fms'
          ? await killFmsActive(ctx, ctx.watches.fms[turns.fms % ctx.watches.fms.length]!, sayOnce)
          : killDatanode(ctx, turns.datanode, sayOnce);
    if (!outcome.done) {
      next = performance.now() + outcome.retryMs;
      continue;
    }
    turns[target]++;
    ctx.killsByTarget[target]++;
    k++;
    if (outcome.pending) pending.push(outcome.pending);
    next = outcome.at + killEveryMs;
  }
}

async function killNamespaceActive(ctx: KillerContext, settled: ActiveInfo, sayOnce: (line: string) => void): Promise<KillOutcome> {
  const { watches, clock } = ctx;
  if (ctx.kill === 'graceful') {
    // The hand-over goes to the active ZooKeeper names now, not the one of the last poll.
    const victim = await watches.ns.fresh();
    if (!victim || !clock.succeeds(victim)) return { done: false, retryMs: ACTIVE_POLL_INTERVAL_MS };
    const requestedAt = performance.now();
    clock.killed(victim, requestedAt, true);
    const handedOver = await handOver(ctx, watches.ns, victim);
    if (!handedOver) clock.withdraw();
    return handedOver ? { done: true, at: requestedAt, pending: null } : { done: false, retryMs: HANDOVER_RETRY_MS };
  }
  const killedAt = killMaster(ctx, NS_SHARD, settled, sayOnce);
  if (killedAt === null) return { done: false, retryMs: ACTIVE_POLL_INTERVAL_MS };
  clock.killed(settled, killedAt, false);
  // The clock's own condition (a newer active answered a call) is waited for before every kill.
  return { done: true, at: killedAt, pending: null };
}

async function killFmsActive(ctx: KillerContext, watch: ActiveWatch, sayOnce: (line: string) => void): Promise<KillOutcome> {
  const victim = ctx.kill === 'graceful' ? await watch.fresh() : watch.current;
  if (!victim) {
    sayOnce(`${watch.shard} has no active registered; trying again`);
    return { done: false, retryMs: ACTIVE_POLL_INTERVAL_MS };
  }
  const over: Pending = { what: `the failover of ${watch.shard} (epoch ${victim.epoch})`, over: () => (watch.current?.epoch ?? -Infinity) > victim.epoch };
  if (ctx.kill === 'graceful') {
    const requestedAt = performance.now();
    const handedOver = await handOver(ctx, watch, victim);
    return handedOver ? { done: true, at: requestedAt, pending: over } : { done: false, retryMs: HANDOVER_RETRY_MS };
  }
  const killedAt = killMaster(ctx, watch.shard, victim, sayOnce);
  return killedAt === null ? { done: false, retryMs: ACTIVE_POLL_INTERVAL_MS } : { done: true, at: killedAt, pending: over };
}

/** SIGKILLs the shard's active `victim` (its monitor first with --kill monitor-too); returns when, or null if it has no live PID now. */
function killMaster(ctx: KillerContext, shard: string, victim: ActiveInfo, sayOnce: (line: string) => void): number | null {
  const entry = clusterNow(ctx.cluster)?.shards[shard]?.members.find((m) => m.member === victim.member);
  if (!entry?.pid || !runsAs(entry.pid, { role: 'master', shard, member: victim.member })) {
    // The supervisor may be rewriting cluster.json: look again shortly.
    sayOnce(`cluster.json has no live PID for the active ${shard}/${victim.member} (pid ${entry?.pid ?? 'none'}); trying again`);
    return null;
  }
  // The monitor dies first: killed after the master, it could see the death in between and end the session at once.
  let monitorNote = '';
  if (ctx.kill === 'monitor-too') {
    const monitorPid = entry.monitorPid;
    if (monitorPid && runsAs(monitorPid, { role: 'monitor', shard, member: victim.member }) && sigkill(monitorPid)) monitorNote = ` and its monitor (pid ${monitorPid}, killed first)`;
    else monitorNote = ` (no live monitorPid for ${shard}/${victim.member} in cluster.json: killing the master only)`;
  }
  const killedAt = performance.now();
  if (!sigkill(entry.pid)) {
    sayOnce(`the active ${shard}/${victim.member} (pid ${entry.pid}) exited before its SIGKILL; trying again`);
    return null;
  }
  ctx.lastKillOf.set(shard, { member: victim.member, epoch: victim.epoch, at: killedAt });
  ctx.progress(`${new Date().toISOString()} ${sinceStart(ctx, killedAt)}: SIGKILL ${shard}/${victim.member} pid ${entry.pid}, the active at epoch ${victim.epoch}${monitorNote}`);
  return killedAt;
}

/** SIGKILLs the `turn`-th datanode (in cluster.json's order); over once the supervisor runs it again. */
function killDatanode(ctx: KillerContext, turn: number, sayOnce: (line: string) => void): KillOutcome {
  const datanodes = clusterNow(ctx.cluster)?.datanodes ?? [];
  const entry = datanodes[turn % Math.max(1, datanodes.length)];
  if (!entry?.pid || !runsAs(entry.pid, { role: 'datanode', id: entry.id })) {
    sayOnce(`cluster.json has no live PID for datanode ${entry?.id ?? `#${turn}`} (pid ${entry?.pid ?? 'none'}); trying again`);
    return { done: false, retryMs: ACTIVE_POLL_INTERVAL_MS };
  }
  const killedAt = performance.now();
  if (!sigkill(entry.pid)) {
    sayOnce(`datanode ${entry.id} (pid ${entry.pid}) exited before its SIGKILL; trying again`);
    return { done: false, retryMs: ACTIVE_POLL_INTERVAL_MS };
  }
  ctx.progress(`${new Date().toISOString()} ${sinceStart(ctx, killedAt)}: SIGKILL datanode ${entry.id} pid ${entry.pid}`);
  const { id, pid: killedPid } = entry;
  let back = false;
  return {
    done: true,
    at: killedAt,
    pending: {
      what: `the restart of datanode ${id}`,
      over: () => {
        // The supervisor writes the new PID once the datanode serves (registered in ZooKeeper).
        const now = clusterNow(ctx.cluster)?.datanodes?.find((d) => d.id === id);
        if (!back && now?.pid && now.pid !== killedPid && runsAs(now.pid, { role: 'datanode', id })) {
          back = true;
          ctx.progress(`${sinceStart(ctx)}: datanode ${id} runs again as pid ${now.pid}, ${((performance.now() - killedAt) / 1000).toFixed(1)} s after its kill`);
        }
        return back;
      },
    },
  };
}

/**
 * Asks `victim` to hand over, on a connection of its own straight to its rpc address (not
 * through ZooKeeper: the call must reach that master, and it is not retried). Returns whether
 * the hand-over happened, or may have (then it is measured like a kill); false on a refusal.
 */
async function handOver(ctx: KillerContext, watch: ActiveWatch, victim: ActiveInfo): Promise<boolean> {
  const client = new TandemClient({ masters: [victim.rpc], deadlineMs: HANDOVER_DEADLINE_MS, backoff: HANDOVER_BACKOFF });
  const requestedAt = performance.now();
  const name = `${watch.shard}/${victim.member}`;
  try {
    const r = await client.failover();
    ctx.lastKillOf.set(watch.shard, { member: victim.member, epoch: victim.epoch, at: requestedAt });
    ctx.progress(
      `${new Date().toISOString()} ${sinceStart(ctx, requestedAt)}: ${name} (epoch ${victim.epoch}) handed over to ${r.to} at txid ${r.txid}: ${r.ms} ms in the active, ${Math.round(performance.now() - requestedAt)} ms for the call`,
    );
    return true;
  } catch (err) {
    const code = err instanceof TandemError ? err.code : String(err);
    // Did it happen anyway (the answer lost)? ZooKeeper tells: the victim still registered at its epoch means no.
    const now = await watch.fresh();
    if (now?.member === victim.member && now.epoch === victim.epoch) {
      ctx.progress(`${sinceStart(ctx)}: ${name} refused to hand over (${code}: ${(err as Error).message}); asking again in ${HANDOVER_RETRY_MS} ms`);
      return false;
    }
    ctx.lastKillOf.set(watch.shard, { member: victim.member, epoch: victim.epoch, at: requestedAt });
    ctx.progress(`${sinceStart(ctx, requestedAt)}: the hand-over call to ${name} failed (${code}: ${(err as Error).message}) but ZooKeeper names ${now ? `${now.member} at epoch ${now.epoch}` : 'no active'}: measured as a failover`);
    return true;
  } finally {
    client.close();
  }
}

/** Rejects with DEADLINE_EXCEEDED if `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TandemError('DEADLINE_EXCEEDED', `${what} did not end within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
