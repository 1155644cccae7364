// How a command finds the cluster: `--adapter HOST:PORT[,…]` (actives resolved through
// adapters' shard maps), `--zk CONNECT/chroot` (through ZooKeeper), `--master HOST:PORT`
// (one master, no ZooKeeper), or `--cluster DIR` (the cluster.json that `tandem up`
// writes: its adapters, else its ZooKeeper). Adapters may also come from $TANDEM_ADAPTERS
// or a config file (`--config FILE`, else $TANDEM_CONFIG, else ~/.config/tandem/config.json,
// `{"adapters": ["host:port", …]}`). Precedence: a flag, then the environment, then the
// config file, then cluster.json.

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { ClusterSecret, loadSecretOption } from '../security/cluster-secret.js';
import { parseCoordinatorAddress, type Coordinator, type CoordinatorAddress } from '../election/coordinator.js';
import { connectZooKeeper } from '../election/zk-coordinator.js';
import { parseHostPort } from '../util/address.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';

/** The default digest credentials of a local cluster; `up` writes its own into cluster.json. */
export const DEFAULT_ZK_AUTH = 'tandem:tandem-local';
export const DEFAULT_SESSION_TIMEOUT_MS = 3_000;

export interface ClusterFile {
  zk: { connect: string; chroot: string; pid: number | null; sessionTimeoutMs: number; tickTimeMs: number; dataDir: string };
  zkAuth: string;
  /** The cluster secret's file (src/security/cluster-secret.ts); every process of the cluster is given it. */
  secretFile?: string;
  shards: Record<string, { members: Array<{ member: string; rpc: string; pid: number | null; dir: string; log: string; monitorPid?: number | null }> }>;
  datanodes?: Array<{ id: string; rpc: string; data: string; pid: number | null; dir: string; log: string }>;
  /** The adapters `up` runs (rpc: the shard map; http: status, dashboard, WebHDFS). */
  adapters?: Array<{ id: string; rpc: string; http: string; pid: number | null; log: string }>;
  supervisorPid: number;
}

export interface ClusterFlags {
  master?: string;
  zk?: string;
  zkAuth?: string;
  cluster?: string;
  /** HOST:PORT[,HOST:PORT…] of adapters. */
  adapter?: string;
  /** A config file naming the adapters. */
  config?: string;
}

/** How a client finds the actives. */
export type ClusterTarget =
  | { kind: 'adapters'; adapters: string[]; from: string }
  | { kind: 'zk'; zk: ZooKeeperTarget }
  | { kind: 'masters'; masters: string[] };

/** The config file's shape. */
export interface TandemConfigFile {
  adapters?: string[];
}

function addressList(text: string, what: string): string[] {
  const list = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new TandemError('INVALID_ARGUMENT', `${what} names no address`);
  for (const address of list) {
    try {
      parseHostPort(address);
    } catch {
      throw new TandemError('INVALID_ARGUMENT', `${what}: "${address}" is not HOST:PORT`);
    }
  }
  return list;
}

/** The adapters of the config file: `--config FILE`, else $TANDEM_CONFIG, else ~/.config/tandem/config.json (skipped when absent). */
export function configFileAdapters(flags: Pick<ClusterFlags, 'config'>, env: NodeJS.ProcessEnv = process.env): { adapters: string[]; file: string } | null {
  const named = flags.config ?? env.TANDEM_CONFIG;
  const file = named ?? join(env.HOME ?? os.homedir(), '.config', 'tandem', 'config.json');
  if (named === undefined && !existsSync(file)) return null;
  let config: TandemConfigFile;
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as TandemConfigFile;
  } catch (err) {
    throw new TandemError('INVALID_ARGUMENT', `cannot read the config file ${file}: ${(err as Error).message}`);
  }
  if (config.adapters === undefined) return null;
  if (!Array.isArray(config.adapters) || config.adapters.some((a) => typeof a !== 'string')) {
    throw new TandemError('INVALID_ARGUMENT', `${file}: "adapters" must be a list of "host:port" strings`);
  }
  return { adapters: addressList(config.adapters.join(','), `"adapters" in ${file}`), file };
}

/**
 * Where the actives are found: --adapter, --zk, --master (flags); $TANDEM_ADAPTERS; the
 * config file's adapters; --cluster's cluster.json (its adapters, else its ZooKeeper).
 * Null when nothing says.
 */
export function clusterTarget(flags: ClusterFlags, env: NodeJS.ProcessEnv = process.env): ClusterTarget | null {
  if (flags.adapter) return { kind: 'adapters', adapters: addressList(flags.adapter, '--adapter'), from: '--adapter' };
  if (flags.zk) return { kind: 'zk', zk: zooKeeperTarget(flags)! };
  if (flags.master) return { kind: 'masters', masters: addressList(flags.master, '--master') };
  if (env.TANDEM_ADAPTERS) return { kind: 'adapters', adapters: addressList(env.TANDEM_ADAPTERS, '$TANDEM_ADAPTERS'), from: '$TANDEM_ADAPTERS' };
  const config = configFileAdapters(flags, env);
  if (config) return { kind: 'adapters', adapters: config.adapters, from: config.file };
  if (!flags.cluster) return null;
  const adapters = (readClusterFile(flags.cluster).adapters ?? []).map((a) => a.rpc);
  if (adapters.length > 0) return { kind: 'adapters', adapters, from: join(flags.cluster, 'cluster.json') };
  return { kind: 'zk', zk: zooKeeperTarget(flags)! };
}

export function readClusterFile(dir: string): ClusterFile {
  const file = join(dir, 'cluster.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TandemError('INVALID_ARGUMENT', `cannot read ${file}: ${(err as Error).message} (is \`tandem up --dir ${dir}\` running?)`);
  }
  return JSON.parse(text) as ClusterFile;
}

export interface ZooKeeperTarget {
  address: CoordinatorAddress;
  auth: { user: string; password: string };
  sessionTimeoutMs: number;
}

/** The ZooKeeper to use from --zk/--zk-auth or --cluster; null when neither was given. */
export function zooKeeperTarget(flags: ClusterFlags): ZooKeeperTarget | null {
  let text = flags.zk;
  let auth = flags.zkAuth ?? process.env.TANDEM_ZK_AUTH;
  let sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS;
  if (!text && flags.cluster) {
    const cluster = readClusterFile(flags.cluster);
    text = `${cluster.zk.connect}${cluster.zk.chroot}`;
    auth ??= cluster.zkAuth;
    sessionTimeoutMs = cluster.zk.sessionTimeoutMs;
  }
  if (!text) return null;
  const [user, ...rest] = (auth ?? DEFAULT_ZK_AUTH).split(':');
  if (!user || rest.length === 0) throw new TandemError('INVALID_ARGUMENT', 'ZooKeeper credentials must look like USER:PASSWORD');
  let address: CoordinatorAddress;
  try {
    address = parseCoordinatorAddress(text);
  } catch (err) {
    throw new TandemError('INVALID_ARGUMENT', (err as Error).message);
  }
  return { address, auth: { user, password: rest.join(':') }, sessionTimeoutMs };
}

export function coordinatorFactory(target: ZooKeeperTarget, log: Logger = silentLogger()): () => Promise<Coordinator> {
  return () => connectZooKeeper({ address: target.address, auth: target.auth, sessionTimeoutMs: target.sessionTimeoutMs, log });
}

/** Runs `body` on a session of its own from `connect`, closed after (however `body` ends). */
export async function withSession<T>(connect: () => Promise<Coordinator>, body: (session: Coordinator) => Promise<T>): Promise<T> {
  const session = await connect();
  try {
    return await body(session);
  } finally {
    await session.close();
  }
}

/**
 * The cluster secret an operator command proves to internal endpoints (backup reads the
 * image servers): `--secret-file`, else $TANDEM_SECRET_FILE, else the file cluster.json
 * names; null when none is given (a cluster without a secret).
 */
export async function operatorSecret(flags: { secretFile?: string; cluster?: string }): Promise<ClusterSecret | null> {
  const given = await loadSecretOption(flags.secretFile);
  if (given) return given;
  const named = flags.cluster ? readClusterFile(flags.cluster).secretFile : undefined;
  return named ? ClusterSecret.load(named) : null;
}
