// `tandem bench chaos`: the judge of a slot (pure, every history a worker can record), then
// the whole command against a real `tandem up` cluster: ZooKeeper, three masters, their
// monitors and the supervisor, the active SIGKILLed three times under load.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { emptySlot, FailoverClock, judgeSlot, recordAnswer, stepsOf, type Answer, type Step, type Verdict } from '../../src/bench/chaos.js';
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
function judge(answers: Answer[], found: Found): Verdict {
  const slot = emptySlot();
  const steps: Step[] = ['create', 'rename', 'delete'];
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
  for (const pid of [cluster.zk.pid, ...Object.values(cluster.shards).flatMap((s) => s.members.flatMap((m) => [m.pid, m.monitorPid ?? null]))]) {
    if (pid) clusterPids.add(pid);
  }
}

/** Stops every process this file started; idempotent. Runs when the test ends, and again when the file ends. */
async function stopEverything(): Promise<void> {
  rememberClusterPids();
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // SIGTERM makes `up` stop ZooKeeper, its masters and monitors; a chaos run just ends.
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([once(child, 'exit').then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 30_000)))]);
    clearTimeout(timer);
    if (!exited) child.kill('SIGKILL');
  }
  // Whatever `up` left running (it was SIGKILLed, or its stop failed): kill it by the PIDs it wrote.
  for (const pid of clusterPids) if (clusterDir && runsIn(pid, clusterDir)) process.kill(pid, 'SIGKILL');
}

// temp.ts removes the directories in its own `after`, which runs first (it was registered
// first); the test stops the cluster itself before that, and this is only the last resort.
after(stopEverything);

/** The process is alive and one of this cluster's (its command line names the cluster's directory): a PID may have been reused. */
function runsIn(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
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

/** `count` consecutive free ports on loopback (the masters of `up` take --port, --port+1, …). */
async function consecutiveFreePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const free = await Promise.all(Array.from({ length: count }, (_, i) => bindable(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
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

test('tandem bench chaos: three kills of the active under load lose nothing and run nothing twice', { timeout: 120_000 }, async (t) => {
  t.after(stopEverything);
  clusterDir = await tempDir('tandem-chaos-');
  const port = await consecutiveFreePorts(4);
  const up = startCli(['up', '--dir', clusterDir, '--port', String(port), '--zk-port', String(port + 3)]);
  const ready = Date.now() + 60_000;
  while (!up.stdout().includes('Tandem is up')) {
    assert.ok(up.child.exitCode === null, `tandem up exited (${up.child.exitCode}): ${up.stdout()}${up.stderr()}`);
    assert.ok(Date.now() < ready, `tandem up was not up within 60 s: ${up.stdout()}${up.stderr()}`);
    await sleep(100);
  }
  rememberClusterPids();

  // With the monitors killed too, each failover waits for the dead active's ZooKeeper session
  // to expire (3 s): kills at 4, 8 and 12 s, the third failover completing in the drain.
  const chaos = startCli(['bench', 'chaos', '--cluster', clusterDir, '--seconds', '15', '--kill-every', '4', '--kill', 'monitor-too', '--json']);
  const code = await chaos.exited;
  rememberClusterPids();
  const story = `\n--- chaos stderr:\n${chaos.stderr()}\n--- up:\n${up.stdout()}`;
  const lines = chaos.stdout().trim().split('\n');
  assert.ok(lines.length === 1 && lines[0]!.startsWith('{'), `--json prints exactly one line (exit code ${code}): ${chaos.stdout()}${story}`);
  const r = JSON.parse(lines[0]!) as Record<string, number | null>;
  assert.deepEqual(Object.keys(r).slice(0, 6), ['acked', 'lost', 'duplicated', 'failovers', 'unavailableMsP50', 'unavailableMsMax']);
  assert.equal(r.lost, 0, `acknowledged effects lost${story}`);
  assert.equal(r.duplicated, 0, `calls that ran twice${story}`);
  assert.equal(r.phantom, 0, `refused calls that happened${story}`);
  assert.ok((r.failovers ?? 0) >= 3, `${r.failovers} failovers${story}`);
  assert.ok((r.acked ?? 0) > 0, `nothing acknowledged${story}`);
  assert.equal(typeof r.unavailableMsMax, 'number', `no failover was measured${story}`);
  assert.equal(code, 0, `exit code ${code}${story}`);
});
