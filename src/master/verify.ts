// `admin verify` and its hourly schedule (DESIGN §3, "Verification"): the active journals a
// @verify marker; every member computes the digest of its state when it applies that txid
// (src/replication/engine.ts), so the digests compare at one txid without pausing anyone
// but for the dump itself. The active asks each standby for its digest at the marker; a
// standby that disagrees throws its state away and starts over from an image the active
// writes of its own state (repl.install, the path a far-behind standby takes).
//
// The active is the reference: it is the one whose answers clients saw.

import { TandemError } from '../errors.js';
import type { Limits } from '../config/limits.js';
import type { Logger } from '../util/log.js';
import { RpcConnection } from '../rpc/connection.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { parseHostPort } from '../util/address.js';
import type { AnyEngine } from './shard-service.js';
import type { FollowerProgress } from '../replication/replicator.js';

/** How long the active waits for a standby to apply the marker before it counts it as lagging. */
export const VERIFY_APPLY_WAIT_MS = 10_000;

export interface MemberVerdict {
  member: string;
  /** null: it could not say (unreachable, too far behind, or it bootstrapped past the marker). */
  digest: string | null;
  verdict: 'agrees' | 'disagrees' | 'unknown';
  /** It disagreed and was told to start over from the active's image at this txid. */
  rebootstrappedAtTxid?: number;
  error?: string;
}

export interface VerifyReport {
  shard: string;
  txid: number;
  active: { member: string; digest: string };
  standbys: MemberVerdict[];
  ok: boolean;
}

export interface VerifyDeps {
  shard: string;
  member: string;
  engine: () => AnyEngine;
  followers: () => FollowerProgress[];
  /** This active's epoch and image server (for repl.install). */
  epoch: number;
  http: string;
  limits: Limits;
  log: Logger;
  /** The cluster secret: repl.install is internal, so the connection to a standby proves it. */
  secret: ClusterSecret | null;
}

export async function runVerify(deps: VerifyDeps, by: string): Promise<VerifyReport> {
  const { log } = deps;
  const engine = deps.engine();
  const marker = await engine.submitEngineOp({ type: '@verify', by, time: Date.now() });
  const txid = marker.txid;
  const digest = marker.digest!;
  const standbys = await Promise.all(deps.followers().map((f) => verifyOne(deps, f, txid, digest)));
  const ok = standbys.every((s) => s.verdict === 'agrees');
  const summary = standbys.map((s) => `${s.member} ${s.verdict}${s.rebootstrappedAtTxid !== undefined ? ` (re-bootstrapped from image ${s.rebootstrappedAtTxid})` : ''}`).join(', ');
  const line = `verify of ${deps.shard} at txid ${txid}: digest ${digest.slice(0, 16)}…; ${summary || 'no standbys'}`;
  if (ok) log.info({ txid, digest, standbys }, line);
  else log.warn({ txid, digest, standbys }, line);
  return { shard: deps.shard, txid, active: { member: deps.member, digest }, standbys, ok };
}

async function verifyOne(deps: VerifyDeps, follower: FollowerProgress, txid: number, expected: string): Promise<MemberVerdict> {
  let conn: RpcConnection | null = null;
  try {
    const { host, port } = parseHostPort(follower.rpc);
    conn = await RpcConnection.connect(host, port, { limits: deps.limits, clientName: `verify ${deps.shard}/${deps.member}`, secret: deps.secret });
    const reply = await conn.call<{ digest: string | null }>('admin.digest', { txid, waitMs: VERIFY_APPLY_WAIT_MS }, { deadlineMs: VERIFY_APPLY_WAIT_MS + 5_000 });
    if (reply.digest === null) return { member: follower.member, digest: null, verdict: 'unknown', error: `it holds no digest at txid ${txid}` };
    if (reply.digest === expected) return { member: follower.member, digest: reply.digest, verdict: 'agrees' };
    deps.log.error(
      { standby: follower.member, txid, expected, got: reply.digest },
      `standby ${follower.member} DISAGREES at txid ${txid} (digest ${reply.digest.slice(0, 16)}…, the active has ${expected.slice(0, 16)}…): it starts over from this active's image`,
    );
    const imageTxid = await rebootstrap(deps, conn);
    return { member: follower.member, digest: reply.digest, verdict: 'disagrees', rebootstrappedAtTxid: imageTxid };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    deps.log.warn({ standby: follower.member, txid, err: message }, `verify: no digest from ${follower.member}: ${message}`);
    return { member: follower.member, digest: null, verdict: 'unknown', error: message };
  } finally {
    conn?.close();
  }
}

/**
 * Writes an image of the active's own state (never a standby's checkpoint: it may come from
 * the replica that went wrong) and tells the standby to install it. Its stream then resumes
 * from the image's txid (the replicator's link re-hellos after the standby's log moved).
 */
async function rebootstrap(deps: VerifyDeps, conn: RpcConnection): Promise<number> {
  const engine = deps.engine();
  const saved = await engine.saveImage();
  const epochs = engine.epochHistory().entries().filter((s) => s.firstTxid <= saved.txid);
  if (epochs.length === 0) throw new TandemError('INTERNAL', `no epoch start at or before image ${saved.txid}`);
  await conn.call('repl.install', { epoch: deps.epoch, http: deps.http, txid: saved.txid, epochs }, { deadlineMs: 600_000 });
  return saved.txid;
}
