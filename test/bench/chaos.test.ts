// `tandem bench chaos`: the judge of a slot and of a data file's bytes (pure, every history a
// worker can record), then the whole command against one real `tandem up` cluster — ZooKeeper,
// the namespace shard's three masters, two FMS shards of two, their monitors, three
// datanodes and the supervisor: the namespace active SIGKILLed three times under a
// create/rename/delete load, then the namespace active, an FMS active and a datanode
// SIGKILLed in turn while files are written and read back.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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
  type SeenContent,
  type Step,
  type Verdict,
} from '../../src/bench/chaos-judge.js';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { readClusterFile } from '../../src/cli/cluster-address.js';
import { tempDir } from '../helpers/temp.js';

const ACK: Answer = { kind: 'acked', effect: true };
const NO_EFFECT: Answer = { kind: 'acked', effect: false };
const DOUBT: Answer = { kind: 'inDoubt', code: 'DEADLINE_EXCEEDED' };
const REFUSED: Answer = { kind: 'failed', code: 'PERMISSION_DENIED' };
const EXISTS: Answer = { kind: 'failed', code: 'FILE_EXISTS' };

type Found = 'f' | 'g' | 'fg' | '';

/** A history of answers (step by step, as a worker records them) and what the namespace shows at the end. */
function judge(answers: Answer[], found: Found, steps: Step[] = ['create', 'rename', 'delete']): Verdict {
  const slot = emptySlot();
  answers.forEach((answer, i) => {
    const goOn = recordAnswer(slot, steps[i]!, answer);
    assert.equal(goOn, i < answers.length - 1 || (answer.kind === 'acked' && answer.effect), 'a worker leaves a slot at its first call not acknowledged with its effect');
  });
  return judgeSlot(slot, { f: found.includes('f'), g: found.includes('g') });
}

test('an acknowledged effect must be in the namespace, else it is lost', () => {
  assert.equal(judge([ACK], 'f'), 'ok');
  assert.equal(judge([ACK], ''), 'lost');
  assert.equal(judge([ACK, ACK], 'g'), 'ok');
  assert.equal(judge([ACK, ACK], 'f'), 'lost', "an acknowledged rename's source must be gone");
  assert.equal(judge([ACK, ACK], ''), 'lost');
  assert.equal(judge([ACK, ACK, ACK], ''), 'ok');
  assert.equal(judge([ACK, ACK, ACK], 'g'), 'lost', "an acknowledged delete's path must be gone");
});

test('an in-doubt call happened once or not at all: the file is at one of its two possible places', () => {
  assert.equal(judge([DOUBT], ''), 'ok');
  assert.equal(judge([DOUBT], 'f'), 'ok');
  assert.equal(judge([DOUBT], 'g'), 'phantom');
  assert.equal(judge([ACK, DOUBT], 'f'), 'ok');
  assert.equal(judge([ACK, DOUBT], 'g'), 'ok');
  assert.equal(judge([ACK, DOUBT], ''), 'lost', 'the acknowledged create is gone whether the rename ran or not');
  assert.equal(judge([ACK, ACK, DOUBT], 'g'), 'ok');
  assert.equal(judge([ACK, ACK, DOUBT], ''), 'ok');
  assert.equal(judge([ACK, ACK, DOUBT], 'f'), 'lost');
});

test('a call that ran twice is duplicated: by its answer, or by a file at two places', () => {
  assert.equal(judge([EXISTS], 'f'), 'duplicated', 'a never-used name answered FILE_EXISTS');
  assert.equal(judge([EXISTS], ''), 'duplicated');
  assert.equal(judge([ACK, NO_EFFECT], 'g'), 'duplicated', 'a rename of a certain source answered false, and its effect is there');
  assert.equal(judge([ACK, ACK, NO_EFFECT], ''), 'duplicated', 'a delete of a certain path answered false');
  assert.equal(judge([ACK, ACK], 'fg'), 'duplicated', 'the create ran again after the rename');
  assert.equal(judge([ACK, DOUBT], 'fg'), 'duplicated');
  // An answer without effect whose effect is not there either: the earlier acknowledged step was lost.
  assert.equal(judge([ACK, NO_EFFECT], ''), 'lost');
  assert.equal(judge([ACK, ACK, NO_EFFECT], 'f'), 'lost');
});

test('a definitely refused call must not have happened', () => {
  assert.equal(judge([REFUSED], ''), 'ok');
  assert.equal(judge([REFUSED], 'f'), 'phantom');
  assert.equal(judge([ACK, REFUSED], 'f'), 'ok');
  assert.equal(judge([ACK, REFUSED], 'g'), 'phantom');
  assert.equal(judge([ACK, ACK, REFUSED], ''), 'phantom');
});

test('some slots keep a file, so the final namespace has content to check', () => {
  const kept = Array.from({ length: 16 }, (_, i) => stepsOf(i).length).filter((n) => n < 3);
  assert.deepEqual(kept, [2, 1, 2, 1]);
});

test('a data slot: the write leaves the file where its create put it; an acknowledged create is lost if the file is gone, whatever the write did', () => {
  const data = (answers: Answer[], found: Found): Verdict => judge(answers, found, ['create', 'write', 'rename', 'delete']);
  assert.equal(data([ACK, ACK], 'f'), 'ok');
  assert.equal(data([ACK, ACK], ''), 'lost');
  assert.equal(data([ACK, ACK, ACK], 'g'), 'ok');
  assert.equal(data([ACK, ACK, ACK], 'f'), 'lost');
  assert.equal(data([ACK, ACK, ACK, ACK], ''), 'ok');
  assert.equal(data([ACK, ACK, ACK, ACK], 'g'), 'lost');
  assert.equal(data([ACK, DOUBT], 'f'), 'ok', 'a write in doubt: the file is there, complete or not');
  assert.equal(data([ACK, DOUBT], ''), 'lost');
  assert.equal(data([ACK, REFUSED], 'f'), 'ok');
  assert.equal(data([ACK, REFUSED], ''), 'lost');
  assert.equal(data([DOUBT], 'f'), 'ok', 'a create in doubt, never written');
  assert.equal(data([ACK, ACK, ACK], 'fg'), 'duplicated');
  // One data slot in four keeps its f, one its g: the check reads their bytes back.
  const kept = Array.from({ length: 8 }, (_, i) => dataStepsOf(i).at(-1));
  assert.deepEqual(kept, ['delete', 'rename', 'delete', 'write', 'delete', 'rename', 'delete', 'write']);
  for (let i = 0; i < 8; i++) assert.deepEqual(dataStepsOf(i).slice(0, 2), ['create', 'write']);
});

test("a file's bytes: an acknowledged write reads back whole and exact; one not acknowledged is either unfinished or exact", () => {
  const wrote = (acked: boolean): ContentRecord => ({ bytes: 5_000, sha256: 'a'.repeat(64), acked });
  const exact: SeenContent = { state: 'complete', bytes: 5_000, sha256: 'a'.repeat(64) };
  const otherBytes: SeenContent = { state: 'complete', bytes: 5_000, sha256: 'b'.repeat(64) };
  const shorter: SeenContent = { state: 'complete', bytes: 4_096, sha256: 'a'.repeat(64) };
  const twice: SeenContent = { state: 'complete', bytes: 10_000, sha256: 'a'.repeat(64) };
  const unfinished: SeenContent = { state: 'underConstruction' };
  const unreadable: SeenContent = { state: 'unreadable', code: 'BLOCK_MISSING' };
  assert.equal(judgeContent(wrote(true), exact), 'ok');
  for (const seen of [otherBytes, shorter, twice, unfinished, unreadable]) assert.equal(judgeContent(wrote(true), seen), 'mismatch', JSON.stringify(seen));
  assert.equal(judgeContent(wrote(false), unfinished), 'ok', 'a write that failed leaves the file under construction');
  assert.equal(judgeContent(wrote(false), exact), 'ok', 'a write in doubt that completed');
  for (const seen of [otherBytes, shorter, twice, unreadable]) assert.equal(judgeContent(wrote(false), seen), 'mismatch', JSON.stringify(seen));
  // No writer (the create was in doubt): nothing may have completed the file.
  assert.equal(judgeContent(null, unfinished), 'ok');
  assert.equal(judgeContent(null, exact), 'mismatch');
});

test('a failover gap runs from the last answer of the old active to the first of its successor, told apart by who answered', () => {
  /** A call answered at `completedAt` by `answeredBy`, on a connection opened at `connectedAt`. */
  const ack = (clock: FailoverClock, connectedAt: number, completedAt: number, answeredBy: string): void => clock.acked({ completedAt, answeredBy, connectedAt });
  const handOver = new FailoverClock();
  ack(handOver, 0, 90, 'm1');
  handOver.killed({ member: 'm1', rpc: 'm1', epoch: 1 }, 100, true);
  ack(handOver, 0, 130, 'm1'); // reached m1 after the hand-over request, before it stopped taking calls
  ack(handOver, 300, 400, 'm2');
  ack(handOver, 0, 380, 'm1'); // a late reply, already sent by m1, completes after the successor's first answer
  assert.deepEqual(handOver.gapsMs(), [20]);
  assert.ok(handOver.settled);
  // A hand-over the active refused is withdrawn.
  handOver.killed({ member: 'm2', rpc: 'm2', epoch: 2 }, 600, true);
  ack(handOver, 300, 610, 'm2');
  assert.ok(!handOver.settled);
  handOver.withdraw();
  assert.ok(handOver.settled);
  assert.equal(handOver.kills.length, 1);

  const kill = new FailoverClock();
  ack(kill, 0, 90, 'm1');
  kill.killed({ member: 'm1', rpc: 'm1', epoch: 1 }, 100, false);
  ack(kill, 0, 120, 'm1'); // a reply the killed process had already sent
  ack(kill, 850, 900, 'm1'); // m1 restarted and elected again (it was alone in the in-sync set)
  assert.deepEqual(kill.gapsMs(), [780]);
  kill.killed({ member: 'm1', rpc: 'm1', epoch: 2 }, 1000, false);
  ack(kill, 850, 1001, 'm1'); // a reply the killed process had already sent, on a connection opened before the kill
  ack(kill, 1400, 1500, 'm3');
  assert.deepEqual(kill.gapsMs(), [780, 499]);
});

// ---- against a real cluster

const children: ChildProcess[] = [];
let clusterDir: string | undefined;
/** Every PID the cluster ever wrote to cluster.json: the last resort if `up` could not stop them. */
const clusterPids = new Set<number>();

function rememberClusterPids(): void {
  if (!clusterDir || !existsSync(join(clusterDir, 'cluster.json'))) return;
  const cluster = readClusterFile(clusterDir);
  const masters = Object.values(cluster.shards).flatMap((s) => s.members.flatMap((m) => [m.pid, m.monitorPid ?? null]));
  for (const pid of [cluster.zk.pid, ...masters, ...(cluster.datanodes ?? []).map((d) => d.pid)]) {
    if (pid) clusterPids.add(pid);
  }
  // An adapter has no directory on its command line; its RPC address (this cluster's port) says it is ours.
  for (const a of cluster.adapters ?? []) if (a.pid) adapterPids.set(a.pid, a.rpc);
}

/** PIDs of the cluster's adapters, with the RPC address on their command line. */
const adapterPids = new Map<number, string>();

/** Stops every process this file started; idempotent. Runs when the cluster's tests end, and again when the file ends. */
async function stopEverything(): Promise<void> {
  rememberClusterPids();
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // SIGTERM makes `up` stop ZooKeeper, its masters, monitors and datanodes; a chaos run just ends.
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([once(child, 'exit').then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 30_000)))]);
    clearTimeout(timer);
    if (!exited) child.kill('SIGKILL');
  }
  // A process `up` restarted while it was being stopped is in cluster.json only now.
  rememberClusterPids();
  // Whatever `up` left running (it was SIGKILLed, or its stop failed): kill it by the PIDs it wrote.
  for (const pid of clusterPids) if (clusterDir && runsIn(pid, clusterDir)) process.kill(pid, 'SIGKILL');
  for (const [pid, rpc] of adapterPids) if (runsIn(pid, rpc)) process.kill(pid, 'SIGKILL');
}

// temp.ts removes the directories in its own `after`, which runs first (it was registered
// first); the suite stops the cluster itself before that, and this is only the last resort.
after(stopEverything);

/** The process is alive and one of this cluster's (its command line names the cluster's directory, or its own address): a PID may have been reused. */
function runsIn(pid: number, mark: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(mark);
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Ports `tandem up --port P --zk-port P+3` takes with its defaults: the namespace's masters
 * P…P+2, ZooKeeper P+3, FMS shard k's masters P+10(k+1)…, the datanodes P+50… (rpc) and
 * P+60… (data), the adapters P+70… (rpc) and P+80… (http).
 */
const UP_PORT_OFFSETS = [0, 1, 2, 3, 10, 11, 20, 21, 50, 51, 52, 60, 61, 62, 70, 71, 80, 81];

/** A base port P whose every port `up` takes is free on loopback. */
async function freeUpPorts(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const free = await Promise.all(UP_PORT_OFFSETS.map((offset) => bindable(base + offset)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no free ports for tandem up found`);
}

/** Starts a CLI command; its stdout and stderr are kept (the last 20 000 characters of each). */
function startCli(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  // Read both pipes to the end, always: a full pipe would block the child.
  child.stdout!.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-20_000)));
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs `tandem bench chaos --json` against the cluster; returns its one JSON line, and the story to tell if an assertion fails. */
async function chaosRun(up: ReturnType<typeof startCli>, args: string[]): Promise<{ r: Record<string, unknown>; code: number | null; story: string }> {
  const chaos = startCli(['bench', 'chaos', '--cluster', clusterDir!, ...args, '--json']);
  const code = await chaos.exited;
  rememberClusterPids();
  const story = `\n--- chaos stderr:\n${chaos.stderr()}\n--- up:\n${up.stdout().slice(-6_000)}`;
  const lines = chaos.stdout().trim().split('\n');
  assert.ok(lines.length === 1 && lines[0]!.startsWith('{'), `--json prints exactly one line (exit code ${code}): ${chaos.stdout()}${story}`);
  const r = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(r).slice(0, 6), ['acked', 'lost', 'duplicated', 'failovers', 'unavailableMsP50', 'unavailableMsMax']);
  return { r, code, story };
}

describe('tandem bench chaos against a real tandem up cluster', { timeout: 240_000 }, () => {
  let up: ReturnType<typeof startCli>;

  before(async () => {
    clusterDir = await tempDir('tandem-chaos-');
    const port = await freeUpPorts();
    up = startCli(['up', '--dir', clusterDir, '--port', String(port), '--zk-port', String(port + 3)]);
    const ready = Date.now() + 90_000;
    while (!up.stdout().includes('Tandem is up')) {
      assert.ok(up.child.exitCode === null, `tandem up exited (${up.child.exitCode}): ${up.stdout()}${up.stderr()}`);
      assert.ok(Date.now() < ready, `tandem up was not up within 90 s: ${up.stdout()}${up.stderr()}`);
      await sleep(100);
    }
    rememberClusterPids();
  });
  after(stopEverything);

  test('three kills of the namespace active under a create/rename/delete load lose nothing and run nothing twice, through the SDK or WebHDFS', { timeout: 90_000 }, async () => {
    // With the monitors killed too, each failover waits for the dead active's ZooKeeper session
    // to expire (3 s): kills at 4, 8 and 12 s, the third failover completing in the drain.
    // WebHDFS clients make directories through the adapters meanwhile.
    const { r, code, story } = await chaosRun(up, ['--seconds', '15', '--kill-every', '4', '--kill', 'monitor-too', '--webhdfs-workers', '4']);
    const web = r.webhdfs as { workers: number; acked: number; missing: number; errors: Record<string, number>; unavailableMsMax: number | null };
    assert.equal(web.workers, 4, `WebHDFS workers${story}`);
    assert.ok(web.acked > 0, `no WebHDFS MKDIRS acknowledged${story}`);
    assert.equal(web.missing, 0, `directories WebHDFS acknowledged are missing${story}`);
    assert.equal(typeof web.unavailableMsMax, 'number', `no failover measured by the WebHDFS clients${story}`);
    assert.equal(r.lost, 0, `acknowledged effects lost${story}`);
    assert.equal(r.duplicated, 0, `calls that ran twice${story}`);
    assert.equal(r.phantom, 0, `refused calls that happened${story}`);
    assert.ok(Number(r.failovers) >= 3, `${r.failovers} failovers${story}`);
    assert.ok(Number(r.acked) > 0, `nothing acknowledged${story}`);
    assert.equal(typeof r.unavailableMsMax, 'number', `no failover was measured${story}`);
    assert.deepEqual(r.killsByTarget, { ns: r.kills, fms: 0, datanode: 0 }, `only the namespace was a target${story}`);
    assert.equal(code, 0, `exit code ${code}${story}`);
  });

  test('kills of the namespace active, an FMS active and a datanode, in turn, while files are written: nothing lost, nothing twice, every file reads back exact', { timeout: 90_000 }, async () => {
    // Kills every 2 s, each once the previous one is over (a datanode: once it runs again, some 5 s).
    const { r, code, story } = await chaosRun(up, ['--seconds', '16', '--kill-every', '2', '--kill-targets', 'ns,fms,datanode', '--workload', 'data', '--window', '8']);
    assert.equal(r.lost, 0, `acknowledged effects lost${story}`);
    assert.equal(r.duplicated, 0, `calls that ran twice${story}`);
    assert.equal(r.phantom, 0, `refused calls that happened${story}`);
    assert.equal(r.mismatches, 0, `files whose bytes did not read back${story}`);
    const kills = r.killsByTarget as Record<string, number>;
    assert.ok(kills.ns! >= 1 && kills.fms! >= 1 && kills.datanode! >= 1, `each target killed at least once: ${JSON.stringify(kills)}${story}`);
    assert.ok(Number(r.failovers) >= 1 && Number(r.fmsFailovers) >= 1, `failovers: namespace ${r.failovers}, FMS ${r.fmsFailovers}${story}`);
    assert.ok(Number(r.filesWritten) > 0 && Number(r.bytesWritten) > 0, `no file written${story}`);
    assert.ok(Number(r.filesRead) > 0, `no file read back${story}`);
    assert.equal(code, 0, `exit code ${code}${story}`);
  });
});
