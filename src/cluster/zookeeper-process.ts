// Starting and stopping ZooKeeper servers (Debian's package) as child processes, by PID:
// one standalone server, or an ensemble of several on loopback. Used by the tests and by
// `tandem up`. Everything binds to 127.0.0.1.
//
// Each server lives in `<dir>/zk<id>/`: its zoo.cfg, data dir (with myid in an ensemble),
// log dir, and `zookeeper.out` (the JVM's stdout and stderr, where ZooKeeper's log lines
// go). A stopped server restarts with the same config and data, as a crashed machine would.
//
// Every process started here is tracked until it has exited; if this process exits with
// servers still running (a test that crashed before its `after`), they are SIGKILLed.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../util/log.js';

export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const ZOOKEEPER_CONF_DIR = '/etc/zookeeper/conf';
// Debian's zookeeper.jar names no logging backend, so without these ZooKeeper logs nothing
// at all (SLF4J's no-op logger). libzookeeper-java depends on both packages.
const LOGGING_JARS = ['/usr/share/java/slf4j-log4j12.jar', '/usr/share/java/log4j-1.2.jar'];
const HOST = '127.0.0.1';

const TICK_TIME_MS_DEFAULT = 2000;
const START_TIMEOUT_MS_DEFAULT = 30_000;
const STOP_TIMEOUT_MS_DEFAULT = 10_000;
/** After SIGKILL, a process that has not exited within this is reported, not waited for. */
const KILL_WAIT_MS_MAX = 5_000;
const READY_POLL_INTERVAL_MS = 100;
const FOUR_LETTER_WORD_TIMEOUT_MS = 2_000;
const FOUR_LETTER_WORD_REPLY_BYTES_MAX = 1024 * 1024;
/** Attempts at starting with freshly picked ports when one was taken in the meantime. */
const PORT_ATTEMPTS_MAX = 3;
const LOG_TAIL_BYTES = 3_000;
/** Client connections one IP may hold on a server: every test session comes from 127.0.0.1. */
const CLIENT_CONNECTIONS_PER_IP_MAX = 1000;

export interface ZooKeeperOptions {
  /** Parent directory: server N keeps its config, data and logs in `<dir>/zk<N>/`. */
  dir: string;
  /** Client port of a standalone server; absent or 0: a free port is picked. */
  port?: number;
  /** ZooKeeper's tick; the server accepts session timeouts of 2..20 ticks. Default 2000. */
  tickTimeMs?: number;
  log?: Logger;
  /** How long a server may take to start serving (the JVM is slow to start). Default 30 s. */
  startTimeoutMs?: number;
  /** How long a SIGTERMed server may take to exit before it is SIGKILLed. Default 10 s. */
  stopTimeoutMs?: number;
}

export interface ZooKeeperEnsembleOptions extends Omit<ZooKeeperOptions, 'port'> {
  /** Number of servers (3 tolerates one failure). */
  servers: number;
}

export interface ZooKeeperMember {
  /** ZooKeeper's server id (myid), 1-based. */
  readonly id: number;
  readonly clientPort: number;
  /** Quorum and leader-election ports (0 for a standalone server, which has none). */
  readonly peerPort: number;
  readonly electionPort: number;
  readonly dir: string;
  /** The running process, or null while stopped. */
  readonly pid: number | null;
}

export interface ZooKeeperServer {
  /** `127.0.0.1:p1,127.0.0.1:p2,…`: what clients put before the chroot. */
  readonly connect: string;
  readonly tickTimeMs: number;
  readonly members: readonly ZooKeeperMember[];
  /** PIDs of the servers running now. */
  readonly pids: number[];
  /** SIGTERM to server `index` (0-based), SIGKILL after the stop timeout; resolves once it exited. */
  stop(index: number): Promise<void>;
  /** SIGKILL to server `index`: a crash. Resolves once it exited. */
  kill(index: number): Promise<void>;
  /** Restarts a stopped server with the same config and data; resolves once it serves. */
  start(index: number): Promise<void>;
  stopAll(): Promise<void>;
}

/** Starts one standalone ZooKeeper server and resolves once it serves. */
export async function startZooKeeper(opts: ZooKeeperOptions): Promise<ZooKeeperServer> {
  const fixedPort = opts.port !== undefined && opts.port !== 0 ? opts.port : null;
  return startWithFreshPorts(opts, fixedPort !== null, async () => {
    const [clientPort] = fixedPort !== null ? [fixedPort] : await freePorts(1);
    return [{ id: 1, clientPort: clientPort!, peerPort: 0, electionPort: 0 }];
  });
}

/** Starts an ensemble on loopback and resolves once every server serves and one leads. */
export async function startZooKeeperEnsemble(opts: ZooKeeperEnsembleOptions): Promise<ZooKeeperServer> {
  if (!Number.isInteger(opts.servers) || opts.servers < 1) throw new Error(`an ensemble needs 1 or more servers, not ${opts.servers}`);
  return startWithFreshPorts(opts, false, async () => {
    const ports = await freePorts(3 * opts.servers);
    return Array.from({ length: opts.servers }, (_, i) => ({
      id: i + 1,
      clientPort: ports[3 * i]!,
      peerPort: ports[3 * i + 1]!,
      electionPort: ports[3 * i + 2]!,
    }));
  });
}

interface MemberPorts {
  id: number;
  clientPort: number;
  peerPort: number;
  electionPort: number;
}

/**
 * Picks ports and starts every member; when a port was taken between picking and binding
 * (another process got it first), starts again on new ports, a bounded number of times.
 */
async function startWithFreshPorts(
  opts: ZooKeeperOptions,
  portsFixed: boolean,
  pickPorts: () => Promise<MemberPorts[]>,
): Promise<ZooKeeperServer> {
  for (let attempt = 1; ; attempt++) {
    const cluster = new ZooKeeperCluster(opts, await pickPorts());
    try {
      await cluster.startAll();
      return cluster;
    } catch (err) {
      await cluster.stopAll();
      const portTaken = err instanceof ZooKeeperStartError && err.portTaken;
      if (!portTaken || portsFixed || attempt >= PORT_ATTEMPTS_MAX) throw err;
      opts.log?.warn({ attempt }, 'a ZooKeeper port was taken before the server could bind it; trying new ports');
    }
  }
}

class ZooKeeperStartError extends Error {
  constructor(
    message: string,
    /** The server could not bind a port: worth another attempt on other ports. */
    readonly portTaken: boolean,
  ) {
    super(message);
    this.name = 'ZooKeeperStartError';
  }
}

interface Running {
  child: ChildProcess;
  /** Resolves when the process has exited, or when it could not be spawned at all. */
  exited: Promise<void>;
  spawnError: Error | null;
  /** Where this run's output starts in the member's output file (earlier runs' lines come before). */
  outputOffset: number;
}

class Member implements ZooKeeperMember {
  running: Running | null = null;
  constructor(
    readonly id: number,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly electionPort: number,
    readonly dir: string,
  ) {}
  get pid(): number | null {
    return this.running?.child.pid ?? null;
  }
  get configFile(): string {
    return join(this.dir, 'zoo.cfg');
  }
  get outputFile(): string {
    return join(this.dir, 'zookeeper.out');
  }
}

class ZooKeeperCluster implements ZooKeeperServer {
  readonly tickTimeMs: number;
  readonly members: Member[];
  readonly connect: string;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly log: Logger | undefined;

  constructor(opts: ZooKeeperOptions, ports: MemberPorts[]) {
    this.tickTimeMs = opts.tickTimeMs ?? TICK_TIME_MS_DEFAULT;
    this.startTimeoutMs = opts.startTimeoutMs ?? START_TIMEOUT_MS_DEFAULT;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? STOP_TIMEOUT_MS_DEFAULT;
    this.log = opts.log;
    this.members = ports.map((p) => new Member(p.id, p.clientPort, p.peerPort, p.electionPort, join(opts.dir, `zk${p.id}`)));
    this.connect = this.members.map((m) => `${HOST}:${m.clientPort}`).join(',');
    for (const member of this.members) this.writeConfig(member);
  }

  get pids(): number[] {
    return this.members.flatMap((m) => (m.pid === null ? [] : [m.pid]));
  }

  async startAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.launchAndWait(m)));
    if (this.members.length > 1) await this.waitForLeader();
  }

  async start(index: number): Promise<void> {
    const member = this.member(index);
    if (member.running) throw new Error(`ZooKeeper server ${member.id} is already running (pid ${member.pid})`);
    await this.launchAndWait(member);
  }

  async stop(index: number): Promise<void> {
    await this.terminate(this.member(index), 'SIGTERM');
  }

  async kill(index: number): Promise<void> {
    await this.terminate(this.member(index), 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.terminate(m, 'SIGTERM')));
  }

  private member(index: number): Member {
    const member = this.members[index];
    if (!member) throw new Error(`no ZooKeeper server at index ${index} (there are ${this.members.length})`);
    return member;
  }

  private writeConfig(member: Member): void {
    const dataDir = join(member.dir, 'data');
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(join(member.dir, 'log'), { recursive: true });
    const lines = [
      `# Written by Tandem (src/cluster/zookeeper-process.ts) for ZooKeeper server ${member.id}.`,
      `tickTime=${this.tickTimeMs}`,
      // Followers get 10 ticks to connect and sync to a new leader, 5 to stay in sync.
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${dataDir}`,
      `clientPort=${member.clientPort}`,
      `clientPortAddress=${HOST}`,
      `maxClientCnxns=${CLIENT_CONNECTIONS_PER_IP_MAX}`,
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      // Keep the 3 newest snapshots (and the logs they need), purged hourly.
      'autopurge.snapRetainCount=3',
      'autopurge.purgeInterval=1',
    ];
    if (this.members.length > 1) {
      for (const m of this.members) lines.push(`server.${m.id}=${HOST}:${m.peerPort}:${m.electionPort}`);
      writeFileSync(join(dataDir, 'myid'), `${member.id}\n`);
    }
    writeFileSync(member.configFile, lines.join('\n') + '\n');
  }

  /** Same JVM invocation as Debian's zkServer.sh, logging to the member's own files. */
  private launch(member: Member): Running {
    const classpath = [ZOOKEEPER_CONF_DIR, ZOOKEEPER_JAR, ...LOGGING_JARS.filter((jar) => existsSync(jar))].join(':');
    const args = [
      `-Dzookeeper.log.dir=${join(member.dir, 'log')}`,
      '-Dzookeeper.root.logger=INFO,CONSOLE',
      '-cp',
      classpath,
      'org.apache.zookeeper.server.quorum.QuorumPeerMain',
      member.configFile,
    ];
    const output = openSync(member.outputFile, 'a');
    const outputOffset = fstatSync(output).size;
    let child: ChildProcess;
    try {
      child = spawn('java', args, { stdio: ['ignore', output, output], detached: false });
    } finally {
      closeSync(output); // the child has its own copy
    }
    const running: Running = { child, exited: Promise.resolve(), spawnError: null, outputOffset };
    running.exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      // spawn failed (no `java`): there is no process, so there will be no 'exit'.
      child.once('error', (err) => {
        if (child.pid !== undefined) return;
        running.spawnError = err;
        resolve();
      });
    });
    trackChild(child, running.exited);
    member.running = running;
    void running.exited.then(() => {
      if (member.running === running) member.running = null;
    });
    return running;
  }

  private async launchAndWait(member: Member): Promise<void> {
    const running = this.launch(member);
    const deadline = performance.now() + this.startTimeoutMs;
    let mode: string | null = null;
    while (mode === null) {
      if (await exitsWithin(running, READY_POLL_INTERVAL_MS)) {
        if (running.spawnError) {
          throw new ZooKeeperStartError(`cannot run java for ZooKeeper (install a Java runtime): ${running.spawnError.message}`, false);
        }
        throw this.startError(member, running, 'exited before serving');
      }
      if (performance.now() > deadline) {
        await this.terminate(member, 'SIGKILL');
        throw this.startError(member, running, `did not serve within ${this.startTimeoutMs} ms`);
      }
      mode = await serverMode(member.clientPort);
    }
    this.log?.info(
      { server: member.id, zookeeperPid: member.pid, clientPort: member.clientPort, mode },
      `ZooKeeper server ${member.id} serving on ${HOST}:${member.clientPort} as ${mode} (pid ${member.pid})`,
    );
  }

  private startError(member: Member, running: Running, what: string): ZooKeeperStartError {
    const tail = logTail(member.outputFile, running.outputOffset);
    return new ZooKeeperStartError(
      `ZooKeeper server ${member.id} (port ${member.clientPort}, config ${member.configFile}) ${what}; ` +
        `last lines of ${member.outputFile}:\n${tail}`,
      /BindException|Address already in use/.test(tail),
    );
  }

  /** Waits until exactly one member says it leads (every member already serves). */
  private async waitForLeader(): Promise<void> {
    const deadline = performance.now() + this.startTimeoutMs;
    while (true) {
      const modes = await Promise.all(this.members.map((m) => serverMode(m.clientPort)));
      if (modes.filter((mode) => mode === 'leader').length === 1 && modes.every((mode) => mode !== null)) return;
      if (performance.now() > deadline) {
        throw new ZooKeeperStartError(`the ZooKeeper ensemble elected no single leader within ${this.startTimeoutMs} ms (modes: ${modes.join(', ')})`, false);
      }
      await delay(READY_POLL_INTERVAL_MS);
    }
  }

  private async terminate(member: Member, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const running = member.running;
    if (!running) return;
    const pid = running.child.pid;
    if (pid === undefined) return;
    running.child.kill(signal);
    if (signal === 'SIGTERM' && !(await exitsWithin(running, this.stopTimeoutMs))) {
      this.log?.warn({ server: member.id, zookeeperPid: pid }, `ZooKeeper server ${member.id} ignored SIGTERM for ${this.stopTimeoutMs} ms; sending SIGKILL`);
      running.child.kill('SIGKILL');
    }
    if (!(await exitsWithin(running, KILL_WAIT_MS_MAX))) {
      throw new Error(`ZooKeeper server ${member.id} (pid ${pid}) did not exit ${KILL_WAIT_MS_MAX} ms after SIGKILL`);
    }
    this.log?.info({ server: member.id, zookeeperPid: pid, signal }, `stopped ZooKeeper server ${member.id} (pid ${pid}, ${signal})`);
  }
}

/** Sends a four-letter word (`ruok`, `srvr`, `cons`, `dump`, …) and returns the whole reply. */
export async function fourLetterWord(port: number, word: string, timeoutMs = FOUR_LETTER_WORD_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const socket = net.connect({ host: HOST, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer to "${word}" from ${HOST}:${port} within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.end(word));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > FOUR_LETTER_WORD_REPLY_BYTES_MAX) socket.destroy(new Error(`the answer to "${word}" exceeds ${FOUR_LETTER_WORD_REPLY_BYTES_MAX} bytes`));
      else chunks.push(chunk);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** The server's `Mode:` (standalone, leader, follower), or null while it does not serve. */
export async function serverMode(port: number): Promise<string | null> {
  try {
    const match = /^Mode: (\S+)/m.exec(await fourLetterWord(port, 'srvr'));
    return match ? match[1]! : null;
  } catch {
    return null;
  }
}

/** `count` distinct free ports on loopback, held together while picked so none repeats. */
async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      server.listen(0, HOST);
      await once(server, 'listening');
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

async function exitsWithin(running: Running, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([running.exited.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** The last lines written to `file` since `fromOffset`. */
function logTail(file: string, fromOffset: number): string {
  try {
    const text = readFileSync(file).subarray(fromOffset).toString('utf8');
    return text.slice(-LOG_TAIL_BYTES);
  } catch (err) {
    return `(cannot read it: ${(err as Error).message})`;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Every child still running, SIGKILLed if this process exits without stopping it.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function trackChild(child: ChildProcess, exited: Promise<void>): void {
  liveChildren.add(child);
  void exited.then(() => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
  });
}
