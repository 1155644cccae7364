// Internal HTTP endpoints (the image server's /images and /edits, the monitor's /edits)
// answer only requests that prove the cluster secret, in an Authorization header:
//
//   Authorization: Tandem-HMAC t=<unix ms>, mac=<hex HMAC(http key, METHOD \n path?query \n t)>
//   Authorization: Tandem-HMAC t=<unix ms>, sha256=<hex>, mac=<hex HMAC(…, t \n sha256)>   (with a body)
//
// The MAC binds the method and the exact path and query, so a captured header cannot be
// reused for another request, and the time, so it cannot be replayed after
// HTTP_CLOCK_SKEW_MS_MAX (clocks of the cluster's hosts must agree to within that; the same
// request replayed inside the window does what it did — reads, or an idempotent upload).
// A request with a body (a checkpoint upload) also names the body's SHA-256 under the MAC:
// the header is checked before the body is read (onRequest, so a refused upload is never
// buffered), and the body against the digest once it is (preHandler), so a captured header
// cannot carry another body — a forged image — inside the window.
// A request without a valid header is answered 401 {code: UNAUTHENTICATED} and logged
// (rate-limited). Without a secret configured, the guard lets everything through.

import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { ClusterSecret } from './cluster-secret.js';
import { RefusalLog } from './refusal-log.js';

export const AUTHORIZATION_SCHEME = 'Tandem-HMAC';
/** How far a request's time may be from the server's clock, either way. */
export const HTTP_CLOCK_SKEW_MS_MAX = 5 * 60_000;

const HEADER_PATTERN = /^Tandem-HMAC t=(\d{1,16}), ?(?:sha256=([0-9a-f]{64}), ?)?mac=([0-9a-f]{64})$/;

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The headers an internal request to `url` (with `body`, if any) needs: {} without a secret. */
export function internalHeaders(secret: ClusterSecret | null | undefined, method: string, url: string, nowMs = Date.now(), body?: Uint8Array): Record<string, string> {
  if (!secret) return {};
  const parsed = new URL(url);
  const digest = body === undefined ? null : sha256Hex(body);
  const mac = secret.httpMac(method, parsed.pathname + parsed.search, nowMs, digest);
  return { authorization: `${AUTHORIZATION_SCHEME} t=${nowMs}, ${digest === null ? '' : `sha256=${digest}, `}mac=${mac}` };
}

/**
 * Why `header` does not authorize `method url` now ({problem}), or the body digest it
 * vouches for ({bodySha256}: null when it names none, and the request must have no body).
 */
export function checkHttpAuth(secret: ClusterSecret, header: string | undefined, method: string, url: string, nowMs: number): { problem: string } | { bodySha256: string | null } {
  if (header === undefined || header === '') return { problem: 'no Authorization header' };
  const match = HEADER_PATTERN.exec(header);
  if (!match) return { problem: `the Authorization header is not "${AUTHORIZATION_SCHEME} t=<ms>, [sha256=<hex>, ]mac=<hex>"` };
  const timeMs = Number(match[1]);
  if (Math.abs(nowMs - timeMs) > HTTP_CLOCK_SKEW_MS_MAX) {
    return { problem: `the request's time is ${Math.round((nowMs - timeMs) / 1000)} s from this server's clock (at most ${HTTP_CLOCK_SKEW_MS_MAX / 1000} s allowed)` };
  }
  const bodySha256 = match[2] ?? null;
  if (!secret.checkHttpMac(match[3]!, method, url, timeMs, bodySha256)) return { problem: 'wrong proof of the cluster secret' };
  return { bodySha256 };
}

export type HttpGuardHook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** Route options for internal routes: `server.put(path, guard, handler)`. */
export interface HttpGuard {
  /** The header, before the body is read: a refused request is never buffered. */
  onRequest: HttpGuardHook;
  /** The body (once parsed) against the digest the header vouches for. */
  preHandler: HttpGuardHook;
}

/**
 * The hooks of internal routes: `server.get(path, guard, handler)`. Per route rather than
 * for the whole server, so /health and /metrics added to the same server stay open to
 * load balancers and Prometheus.
 */
export function internalHttpGuard(opts: { secret: ClusterSecret | null | undefined; log: Logger; what: string }): HttpGuard {
  const secret = opts.secret;
  const refusals = new RefusalLog({ log: opts.log, what: opts.what });
  /** The body digest each admitted request's header vouches for. */
  const vouched = new WeakMap<FastifyRequest, string | null>();
  const refuse = async (req: FastifyRequest, reply: FastifyReply, problem: string): Promise<void> => {
    refusals.note({ remote: `${req.ip}:${req.socket.remotePort ?? '?'}`, request: `${req.method} ${req.url.slice(0, 200)}`, reason: problem });
    await reply
      .code(ERROR_CODES.UNAUTHENTICATED.httpStatus)
      .header('www-authenticate', AUTHORIZATION_SCHEME)
      .send({ code: 'UNAUTHENTICATED', message: `internal endpoint: ${problem}` });
  };
  return {
    onRequest: async (req, reply) => {
      if (!secret) return;
      const checked = checkHttpAuth(secret, req.headers.authorization, req.method, req.url, Date.now());
      if ('problem' in checked) return refuse(req, reply, checked.problem);
      vouched.set(req, checked.bodySha256);
    },
    preHandler: async (req, reply) => {
      if (!secret) return;
      const vouchedFor = vouched.get(req);
      if (vouchedFor === undefined) return refuse(req, reply, 'the request was not checked (invariant broken: onRequest did not run)');
      const body = req.body;
      if (body !== undefined && body !== null && !Buffer.isBuffer(body)) return refuse(req, reply, 'an internal request\'s body must be application/octet-stream');
      const bodyBytes = Buffer.isBuffer(body) && body.length > 0 ? body : null;
      if (vouchedFor === null) {
        if (bodyBytes !== null) return refuse(req, reply, 'the request has a body its proof does not name');
        return;
      }
      if (sha256Hex(bodyBytes ?? Buffer.alloc(0)) !== vouchedFor) return refuse(req, reply, 'the body is not the one its proof names');
    },
  };
}

/** The error for a failed internal GET: UNAUTHENTICATED for a 401, NOT_FOUND otherwise (as before). */
export function internalGetError(status: number, what: string): TandemError {
  if (status === ERROR_CODES.UNAUTHENTICATED.httpStatus) return new TandemError('UNAUTHENTICATED', `${what}: HTTP 401, the server refused our proof of the cluster secret`);
  return new TandemError('NOT_FOUND', `${what}: HTTP ${status}`);
}
