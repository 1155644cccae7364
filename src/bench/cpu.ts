// Where the CPU went during a benchmark phase: each process of a `tandem up` cluster (from
// cluster.json's PIDs), the benchmark process itself, and the whole machine, from /proc.
// On a 2-core machine shared with other work this is what says whether a figure is bound
// by CPU, and by whose.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ClusterFile } from '../cli/cluster-address.js';

/** Linux's USER_HZ: /proc times are in these ticks (100 on every mainstream kernel build). */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) of a process so far, in ms; null when it is gone or /proc is not there. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm) ".
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Busy and total CPU time of the machine (all cores) so far, in ms; null without /proc. */
export function machineCpuMs(): { busyMs: number; totalMs: number; cores: number } | null {
  try {
    const lines = readFileSync('/proc/stat', 'utf8').split('\n');
    const all = lines[0]!.split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    const total = all.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (all[3] ?? 0) + (all[4] ?? 0);
    const cores = lines.filter((l) => /^cpu\d/.test(l)).length;
    return { busyMs: ((total - idle) * 1000) / TICKS_PER_SECOND, totalMs: (total * 1000) / TICKS_PER_SECOND, cores };
  } catch {
    return null;
  }
}

/** The processes of a `tandem up` cluster worth watching, by a readable label. */
export function clusterProcesses(cluster: ClusterFile): Map<string, number> {
  const pids = new Map<string, number>();
  if (cluster.zk.pid !== null) pids.set('zookeeper', cluster.zk.pid);
  for (const [shard, { members }] of Object.entries(cluster.shards)) {
    for (const m of members) {
      if (m.pid !== null) pids.set(`${shard}/${m.member}`, m.pid);
      if (m.monitorPid != null) pids.set(`${shard}/${m.member}-monitor`, m.monitorPid);
    }
  }
  for (const d of cluster.datanodes ?? []) if (d.pid !== null) pids.set(d.id, d.pid);
  pids.set('supervisor', cluster.supervisorPid);
  return pids;
}

export interface CpuReport {
  elapsedMs: number;
  /** Percent of one core used by each watched process (and by "bench", this process), busiest first. */
  processes: Record<string, number>;
  /** The sum of `processes`: what the cluster and the benchmark used together, in % of one core. */
  watchedPercent: number;
  /** The same in CPU time: a figure that stays put when other work on the machine slows the phase down. */
  watchedCpuMs: number;
  /** Percent of the whole machine busy (100 = every core), all processes included (other work too). */
  machineBusyPercent: number | null;
  cores: number | null;
}

/** Starts measuring now; `stop()` says how much CPU each process used since, as % of one core. */
export function startCpuMeter(pids: ReadonlyMap<string, number>): { stop: () => CpuReport } {
  const started = performance.now();
  const before = new Map([...pids].map(([label, pid]) => [label, processCpuMs(pid)]));
  const selfBefore = process.cpuUsage();
  const machineBefore = machineCpuMs();
  return {
    stop: () => {
      const elapsedMs = performance.now() - started;
      const percent = (ms: number): number => Math.round((ms / elapsedMs) * 1000) / 10;
      const used: [string, number][] = [];
      const self = process.cpuUsage(selfBefore);
      used.push(['bench', percent((self.user + self.system) / 1000)]);
      for (const [label, pid] of pids) {
        const a = before.get(label);
        const b = processCpuMs(pid);
        if (a != null && b !== null) used.push([label, percent(b - a)]);
      }
      used.sort((x, y) => y[1] - x[1]);
      const machineAfter = machineCpuMs();
      const machineBusyPercent =
        machineBefore && machineAfter && machineAfter.totalMs > machineBefore.totalMs
          ? Math.round(((machineAfter.busyMs - machineBefore.busyMs) / (machineAfter.totalMs - machineBefore.totalMs)) * 1000) / 10
          : null;
      const watchedPercent = Math.round(used.reduce((sum, [, p]) => sum + p, 0) * 10) / 10;
      const watchedCpuMs = Math.round((watchedPercent / 100) * elapsedMs);
      return { elapsedMs: Math.round(elapsedMs), processes: Object.fromEntries(used), watchedPercent, watchedCpuMs, machineBusyPercent, cores: machineAfter?.cores ?? null };
    },
  };
}

/** "fms-0/m1 62%, bench 48%, …" (the busiest `count`). */
export function formatCpu(report: CpuReport, count = 6): string {
  const top = Object.entries(report.processes)
    .slice(0, count)
    .map(([label, p]) => `${label} ${p}%`)
    .join(', ');
  const machine = report.machineBusyPercent === null ? '' : `; machine ${report.machineBusyPercent}% busy of ${report.cores} cores`;
  return `CPU (% of one core): ${top}; cluster + bench ${report.watchedPercent}%${machine}`;
}

/** The machine a figure was measured on, and how busy it was: a figure from a loaded machine says so. */
export interface MachineNote {
  cores: number;
  /** 1-minute load average when the benchmark started and when it ended. */
  loadBefore: number;
  loadAfter: number;
}

export function noteMachine(): { finish: () => MachineNote } {
  const loadBefore = Math.round(os.loadavg()[0]! * 100) / 100;
  return { finish: () => ({ cores: os.cpus().length, loadBefore, loadAfter: Math.round(os.loadavg()[0]! * 100) / 100 }) };
}

/** "2 cores, load 0.4 → 1.2 (other work on the machine slows every figure: compare ratios from one run)" when loaded. */
export function formatMachine(m: MachineNote): string {
  const busy = Math.max(m.loadBefore, m.loadAfter) > m.cores / 2;
  return `${m.cores} cores, load average ${m.loadBefore} → ${m.loadAfter}${busy ? ' (a busy machine: other work slows every figure; compare the ratios of one run, and CPU per unit of work)' : ''}`;
}
