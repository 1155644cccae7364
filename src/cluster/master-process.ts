// Starting and stopping `tandem master` as a child process, by PID: used by `tandem up`,
// `tandem bench scale` and the tests that kill -9 a master.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import { TandemError } from '../errors.js';

// Readiness is the master's "serving ..." log line at info level, so the master must not
// be started with a log level above info.

/** The compiled CLI entry point (dist/src/cli/main.js), next to this file's compiled form. */
export const CLI_ENTRY = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface MasterProcessOptions {
  /** Default ns. */
  shard?: string;
  dir: string;
  /** HOST:PORT; port 0 picks a free one (read back from the "serving" log line). */
  rpc: string;
  member?: string;
  /** Master log lines are appended here (JSON lines). Without it they are dropped. */
  logFile?: string;
  extraArgs?: string[];
  /** Options for the node binary itself, e.g. --expose-gc. */
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

export interface MasterProcess {
  pid: number;
  rpc: string;
  /** HOST:PORT of its HTTP server, when its "serving" line names one (adapters). */
  http?: string;
  child: ChildProcess;
  /** SIGTERM, then wait for exit (SIGKILL after the timeout). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
}

export function startMasterProcess(opts: MasterProcessOptions): Promise<MasterProcess> {
  const args = ['master', '--shard', opts.shard ?? 'ns', '--dir', opts.dir, '--rpc', opts.rpc];
  if (opts.member) args.push('--member', opts.member);
  return startCliProcess([...args, ...(opts.extraArgs ?? [])], opts);
}

export interface DatanodeProcessOptions {
  id: string;
  dir: string;
  rpc: string;
  data: string;
  /** ZooKeeper CONNECT/chroot. */
  zk: string;
  zkAuth?: string;
  /** The cluster secret's file (--secret-file). */
  secretFile?: string;
  logFile?: string;
  startTimeoutMs?: number;
}

/** `tandem datanode` as a child process; resolves once it serves (registered in ZooKeeper). */
export function startDatanodeProcess(opts: DatanodeProcessOptions): Promise<MasterProcess> {
  const args = ['datanode', '--id', opts.id, '--dir', opts.dir, '--rpc', opts.rpc, '--data', opts.data, '--zk', opts.zk];
  if (opts.zkAuth) args.push('--zk-auth', opts.zkAuth);
  if (opts.secretFile) args.push('--secret-file', opts.secretFile);
  return startCliProcess(args, opts);
}

export interface AdapterProcessOptions {
  id: string;
  /** HOST:PORT (port 0: any, read back from the "serving" line). */
  rpc: string;
  http: string;
  /** ZooKeeper CONNECT/chroot. */
  zk: string;
  zkAuth?: string;
  logFile?: string;
  startTimeoutMs?: number;
  extraArgs?: string[];
}

/** `tandem adapter` as a child process; resolves once it serves (its first ZooKeeper read done or failed). */
export function startAdapterProcess(opts: AdapterProcessOptions): Promise<MasterProcess> {
  const args = ['adapter', '--id', opts.id, '--rpc', opts.rpc, '--http', opts.http, '--zk', opts.zk];
  if (opts.zkAuth) args.push('--zk-auth', opts.zkAuth);
  return startCliProcess([...args, ...(opts.extraArgs ?? [])], opts);
}

/**
 * Runs `tandem <args>` and resolves once its log says it serves: a JSON log line whose
 * message starts with "serving" and that carries its `rpc` address.
 */
async function startCliProcess(cliArgs: string[], opts: { logFile?: string; nodeArgs?: string[]; startTimeoutMs?: number }): Promise<MasterProcess> {
  const args = [...(opts.nodeArgs ?? []), CLI_ENTRY, ...cliArgs];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logStream = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : null;
  // A log file that cannot be written must not take the caller down; the master runs on.
  logStream?.on('error', (err) => process.stderr.write(`cannot write master log ${opts.logFile}: ${err.message}\n`));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    logStream?.write(chunk);
  });
  const lines = readline.createInterface({ input: child.stdout! });
  let http: string | undefined;
  const rpc = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TandemError('DEADLINE_EXCEEDED', `${cliArgs[0]} did not start within ${opts.startTimeoutMs ?? 60_000} ms: ${stderr}`));
    }, opts.startTimeoutMs ?? 60_000);
    let lastFatal = '';
    lines.on('line', (line) => {
      logStream?.write(line + '\n');
      try {
        const entry = JSON.parse(line) as { rpc?: string; http?: string; msg?: string; level?: number };
        if ((entry.level ?? 0) >= 50) lastFatal = entry.msg ?? line;
        if (entry.rpc && entry.msg?.startsWith('serving')) {
          clearTimeout(timer);
          http = entry.http;
          resolve(entry.rpc);
        }
      } catch {
        // not a log line
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new TandemError('INTERNAL', `${cliArgs[0]} exited with code ${code} before serving: ${lastFatal || stderr}`));
    });
  });
  const pid = child.pid!;
  const waitExit = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const [code] = await exited;
    logStream?.end();
    return code;
  };
  return {
    pid,
    rpc,
    ...(http ? { http } : {}),
    child,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await waitExit();
      } finally {
        clearTimeout(timer);
      }
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await waitExit();
    },
  };
}
