// The cluster secret (DESIGN.md §7, docs/architecture.md "Security"): one random value in a
// file only the cluster's processes can read, which every master, monitor, datanode and
// adapter is given with --secret-file. It never travels: peers prove they hold it with
// HMACs over fresh values, so a captured exchange does not reveal it.
//
// Two keys are derived from it, one per channel, so a proof made for one can never be
// replayed on the other:
//   rpc  — the RPC handshake's challenge-response (src/rpc/server.ts, src/rpc/connection.ts)
//   http — the Authorization header of internal HTTP requests (src/security/http-auth.ts)

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { TandemError } from '../errors.js';

/** Random bytes in a secret made by `tandem up` (written hex-encoded). */
export const SECRET_BYTES = 32;
/** A secret file shorter than this (after trimming) is refused: too easy to guess. */
export const SECRET_CHARS_MIN = 32;
/** A secret file is small; anything larger is the wrong file. */
const SECRET_FILE_BYTES_MAX = 4_096;
/** The environment variable naming the secret file when --secret-file is not given. */
export const SECRET_FILE_ENV = 'TANDEM_SECRET_FILE';

/** Length in hex characters of the nonces of the RPC handshake (128 bits each). */
export const NONCE_HEX_CHARS = 32;

export type ProofRole = 'client' | 'server';

export class ClusterSecret {
  private readonly rpcKey: Buffer;
  private readonly httpKey: Buffer;

  private constructor(secret: Buffer) {
    this.rpcKey = createHmac('sha256', secret).update('tandem rpc handshake v1').digest();
    this.httpKey = createHmac('sha256', secret).update('tandem http authorization v1').digest();
  }

  /** A secret from its bytes (tests; processes use load()). */
  static fromBytes(secret: Buffer): ClusterSecret {
    if (secret.length < SECRET_CHARS_MIN) {
      throw new TandemError('INVALID_ARGUMENT', `a cluster secret needs at least ${SECRET_CHARS_MIN} bytes, this one has ${secret.length}`);
    }
    return new ClusterSecret(secret);
  }

  /**
   * Reads a secret file. Refused when readable by group or others (like ssh's private
   * keys: a secret everyone on the host can read protects nothing) or too short.
   */
  static async load(path: string): Promise<ClusterSecret> {
    let mode: number;
    try {
      mode = (await stat(path)).mode;
    } catch (err) {
      throw new TandemError('INVALID_ARGUMENT', `cannot read the cluster secret file ${path}: ${(err as Error).message}`);
    }
    if ((mode & 0o077) !== 0) {
      throw new TandemError('INVALID_ARGUMENT', `the cluster secret file ${path} has mode ${(mode & 0o777).toString(8)}: others can read it; chmod 600 it`);
    }
    const bytes = await readFile(path);
    if (bytes.length > SECRET_FILE_BYTES_MAX) throw new TandemError('INVALID_ARGUMENT', `${path} is ${bytes.length} bytes: not a cluster secret file`);
    const text = bytes.toString('utf8').trim();
    if (text.length < SECRET_CHARS_MIN) {
      throw new TandemError('INVALID_ARGUMENT', `the cluster secret in ${path} has ${text.length} characters, at least ${SECRET_CHARS_MIN} are needed`);
    }
    return new ClusterSecret(Buffer.from(text, 'utf8'));
  }

  /**
   * The RPC handshake's proof: HMAC(rpc key, role, the peer's nonce, the prover's name).
   * The role keeps a server's proof from being reflected back as a client's; the nonce,
   * chosen fresh by the verifier for this connection, keeps it from being replayed.
   */
  rpcProof(role: ProofRole, peerNonce: string, proverName: string): string {
    return createHmac('sha256', this.rpcKey).update(`${role}\n${peerNonce}\n${proverName}`).digest('hex');
  }

  /** True when `proof` is rpcProof(role, peerNonce, proverName); constant time. */
  checkRpcProof(proof: unknown, role: ProofRole, peerNonce: string, proverName: string): boolean {
    return typeof proof === 'string' && equalHex(proof, this.rpcProof(role, peerNonce, proverName));
  }

  /**
   * The MAC of an internal HTTP request: HMAC(http key, method, path and query, time, and
   * the SHA-256 of its body when it has one), so a captured header cannot carry another body.
   */
  httpMac(method: string, pathAndQuery: string, timeMs: number, bodySha256: string | null = null): string {
    const body = bodySha256 === null ? '' : `\n${bodySha256}`;
    return createHmac('sha256', this.httpKey).update(`${method.toUpperCase()}\n${pathAndQuery}\n${timeMs}${body}`).digest('hex');
  }

  /** Constant-time comparison of a received HTTP MAC. */
  checkHttpMac(mac: string, method: string, pathAndQuery: string, timeMs: number, bodySha256: string | null = null): boolean {
    return equalHex(mac, this.httpMac(method, pathAndQuery, timeMs, bodySha256));
  }
}

function equalHex(received: string, expected: string): boolean {
  if (received.length !== expected.length || !/^[0-9a-f]+$/.test(received)) return false;
  return timingSafeEqual(Buffer.from(received, 'hex'), Buffer.from(expected, 'hex'));
}

/** A fresh nonce for the RPC handshake. */
export function newNonce(): string {
  return randomBytes(NONCE_HEX_CHARS / 2).toString('hex');
}

/** True when `value` looks like a nonce a peer may send (bounded, hex). */
export function isNonce(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 16 && value.length <= 128 && /^[0-9a-f]+$/.test(value);
}

/**
 * Writes a new random secret to `path` with mode 0600; fails if the file exists (a cluster
 * directory reused by `tandem up` keeps its secret, see src/cli/up.ts).
 */
export async function writeNewSecretFile(path: string): Promise<void> {
  const file = await open(path, 'wx', 0o600);
  try {
    await file.writeFile(`${randomBytes(SECRET_BYTES).toString('hex')}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** The help of every role's --secret-file option. */
export const SECRET_FILE_HELP = `the cluster secret (mode 0600, written by \`tandem up\`; default: $${SECRET_FILE_ENV}); internal endpoints need it`;

/** The secret named by --secret-file or $TANDEM_SECRET_FILE, or null when neither is set. */
export async function loadSecretOption(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<ClusterSecret | null> {
  const path = flag ?? env[SECRET_FILE_ENV];
  if (path === undefined || path === '') return null;
  return ClusterSecret.load(path);
}
