// How a command finds the cluster: `--master HOST:PORT` (one master, no ZooKeeper),
// `--zk CONNECT/chroot` (the active is resolved through ZooKeeper), or `--cluster DIR`
// (everything read from the cluster.json that `tandem up` writes).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import { parseCoordinatorAddress, type Coordinator, type CoordinatorAddress } from '../election/coordinator.js';
import { connectZooKeeper } from '../election/zk-coordinator.js';
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
  adapters?: Array<{ rpc: string; http: string; pid: number | null }>;
  supervisorPid: number;
}

export interface ClusterFlags {
  master?: string;
  zk?: string;
  zkAuth?: string;
  cluster?: string;
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
