// Reads a chaos run's trace (`tandem bench chaos --trace FILE`) against the logs of the
// masters and monitors of its cluster, and prints where each namespace failover's time went:
//   node scripts/lib/failover-phases.mjs CLUSTER_DIR TRACE_FILE [--per-kill]
// One JSON line: per phase, p50 and max (ms) over the kills where the phase was seen. The
// phases, in order (each from the end of the one before):
//   detect      kill → the monitor notices the master's PID is gone
//   remove      → the monitor has removed the dead master's election node and `active`
//   watch       → the next member's election watch fires (its takeover starts)
//   decide      → ISR, epoch counter, election read; the takeover decided
//   writeTail   → the ISR and the epoch counter written (version-checked), and the records
//                 this member lacked taken from the monitor / the other in-sync members
//                 (one after the other before this work, at once since)
//   promise     → the new epoch promised on disk (epochs.json)
//   lease       → the old active's read lease waited out
//   start       → the epoch-start record appended, the replicator started
//   publish     → the standbys found and `active` published in ZooKeeper
//   resolve     → a client's resolver gives the new address
//   firstAnswer → the first call answered by the new active
// and, apart: zkWrite (decided → the ISR and epoch written, a part of writeTail),
// standby (published → the new active streams to its first standby),
// unavailable (the chaos bench's figure: last answer from the old active → first from the new)
// and total (kill → first answer).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, traceFile, flag] = process.argv.slice(2);
if (!dir || !traceFile) {
  console.error('usage: failover-phases.mjs CLUSTER_DIR TRACE_FILE [--per-kill]');
  process.exit(2);
}

function entries(file) {
  const out = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A torn last line of a killed process.
    }
  }
  return out;
}

const logs = readdirSync(dir).filter((f) => /^ns-m\d+(-monitor)?\.log$/.test(f));
const deaths = []; // {member, at, noticedAt}
const takeovers = []; // {member, epoch, line, phasesMs, fromMs, leaseWaitMs}
const streams = []; // {at, active}
for (const file of logs) {
  const member = /^ns-(m\d+)/.exec(file)[1];
  for (const e of entries(join(dir, file))) {
    const msg = e.msg ?? '';
    if (file.endsWith('-monitor.log')) {
      if (/^master \S+ \(pid \d+\) died: removed/.test(msg)) deaths.push({ member, at: e.time, noticedAt: e.time - (e.removeMs ?? 0) });
    } else if (e.phasesMs && /^epoch \d+ → \d+:/.test(msg)) {
      takeovers.push({ member, epoch: e.epoch, at: e.time, phasesMs: e.phasesMs, fromMs: e.phasesFromMs, leaseWaitMs: e.leaseWaitMs });
    } else if (/^streaming to standby /.test(msg)) {
      streams.push({ active: member, at: e.time });
    }
  }
}

const trace = entries(traceFile);
const rows = [];
for (const kill of trace) {
  const death = deaths.filter((d) => d.member === kill.member && d.at >= kill.killedAtMs).sort((a, b) => a.at - b.at)[0];
  // The successor's takeover: the lowest epoch above the killed one (a takeover that failed midway leaves no line).
  const takeover = takeovers.filter((t) => t.epoch > kill.epoch).sort((a, b) => a.epoch - b.epoch)[0];
  const row = { member: kill.member, epoch: kill.epoch, successor: kill.successor };
  const at = { kill: kill.killedAtMs };
  if (death) {
    at.detect = death.noticedAt;
    at.remove = death.at;
  }
  if (takeover) {
    const p = takeover.phasesMs;
    const from = takeover.fromMs;
    at.watch = from + p.started;
    if (p.epochWritten !== undefined && p.decided !== undefined) row.zkWrite = p.epochWritten - p.decided;
    if (p.epochWritten !== undefined && p.tailFetched !== undefined) at.writeTail = from + Math.max(p.epochWritten, p.tailFetched);
    for (const [phase, step] of [
      ['decide', 'decided'],
      ['promise', 'promised'],
      ['lease', 'leaseWaited'],
      ['start', 'epochStarted'],
      ['publish', 'published'],
    ]) {
      if (p[step] !== undefined) at[phase] = from + p[step];
    }
    row.leaseWaitMs = takeover.leaseWaitMs;
    const stream = streams.filter((s) => s.active === takeover.member && s.at >= from).sort((a, b) => a.at - b.at)[0];
    if (stream && at.publish !== undefined) row.standby = stream.at - at.publish;
  }
  if (kill.resolverNewAddressAtMs !== null) at.resolve = kill.resolverNewAddressAtMs;
  if (kill.firstNewAckAtMs !== null) at.firstAnswer = kill.firstNewAckAtMs;
  let previous = at.kill;
  for (const phase of ['detect', 'remove', 'watch', 'decide', 'writeTail', 'promise', 'lease', 'start', 'publish', 'resolve', 'firstAnswer']) {
    if (at[phase] === undefined) continue;
    row[phase] = at[phase] - previous;
    previous = at[phase];
  }
  if (kill.firstNewAckAtMs !== null) {
    row.unavailable = kill.firstNewAckAtMs - (kill.lastOldAckAtMs ?? kill.killedAtMs);
    row.total = kill.firstNewAckAtMs - kill.killedAtMs;
  }
  rows.push(row);
}

if (flag === '--per-kill') for (const row of rows) console.log(JSON.stringify(row));
const phases = ['detect', 'remove', 'watch', 'decide', 'writeTail', 'promise', 'lease', 'start', 'publish', 'resolve', 'firstAnswer', 'zkWrite', 'standby', 'unavailable', 'total'];
const summary = { kills: rows.length };
for (const phase of phases) {
  const values = rows.map((r) => r[phase]).filter((v) => typeof v === 'number').sort((a, b) => a - b);
  if (values.length === 0) continue;
  summary[phase] = { n: values.length, p50: values[Math.ceil(values.length / 2) - 1], max: values.at(-1) };
}
console.log(JSON.stringify(summary));
