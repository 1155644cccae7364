// Internal HTTP endpoints (the image server's /images and /edits, the monitor's /edits)
// answer only requests that prove the cluster secret, in an Authorization header:
//
//   Authorization: Tandem-HMAC t=<unix ms>, mac=<hex HMAC(http key, METHOD \n path?query \n t)>
//
// The MAC binds the method and the exact path and query, so a captured header cannot be
// reused for another request, and the time, so it cannot be replayed after
// HTTP_CLOCK_SKEW_MS_MAX (clocks of the cluster's hosts must agree to within that; the same
// request replayed inside the window does what it did — reads, or an idempotent upload).
// A request without a valid header is answered 401 {code: UNAUTHENTICATED} and logged
// (rate-limited). Without a secret configured, the guard lets everything through.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { ClusterSecret } from './cluster-secret.js';
import { RefusalLog } from './refusal-log.js';

export const AUTHORIZATION_SCHEME = 'Tandem-HMAC';
/** How far a request's time may be from the server's clock, either way. */
export const HTTP_CLOCK_SKEW_MS_MAX = 5 * 60_000;

const HEADER_PATTERN = /^Tandem-HMAC t=(\d{1,16}), ?mac=([0-9a-f]{64})$/;

/** The headers an internal request to `url` needs: {} without a secret. */
export function internalHeaders(secret: ClusterSecret | null | undefined, method: string, url: string, nowMs = Date.now()): Record<string, string> {
  if (!secret) return {};
  const parsed = new URL(url);
  const mac = secret.httpMac(method, parsed.pathname + parsed.search, nowMs);
  return { authorization: `${AUTHORIZATION_SCHEME} t=${nowMs}, mac=${mac}` };
}

/** Why `header` does not authorize `method url` now, or null when it does. */
export function httpAuthProblem(secret: ClusterSecret, header: string | undefined, method: string, url: string, nowMs: number): string | null {
  if (header === undefined || header === '') return 'no Authorization header';
  const match = HEADER_PATTERN.exec(header);
  if (!match) return `the Authorization header is not "${AUTHORIZATION_SCHEME} t=<ms>, mac=<hex>"`;
  const timeMs = Number(match[1]);
  if (Math.abs(nowMs - timeMs) > HTTP_CLOCK_SKEW_MS_MAX) {
    return `the request's time is ${Math.round((nowMs - timeMs) / 1000)} s from this server's clock (at most ${HTTP_CLOCK_SKEW_MS_MAX / 1000} s allowed)`;
  }
  if (!secret.checkHttpMac(match[2]!, method, url, timeMs)) return 'wrong proof of the cluster secret';
  return null;
}

export type HttpGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * An onRequest hook for internal routes: `server.get(path, { onRequest: guard }, handler)`.
 * Per route rather than for the whole server, so /health and /metrics added to the same
 * server stay open to load balancers and Prometheus.
 */
export function internalHttpGuard(opts: { secret: ClusterSecret | null | undefined; log: Logger; what: string }): HttpGuard {
  const secret = opts.secret;
  const refusals = new RefusalLog({ log: opts.log, what: opts.what });
  return async (req, reply) => {
    if (!secret) return;
    const problem = httpAuthProblem(secret, req.headers.authorization, req.method, req.url, Date.now());
    if (problem === null) return;
    refusals.note({ remote: `${req.ip}:${req.socket.remotePort ?? '?'}`, request: `${req.method} ${req.url.slice(0, 200)}`, reason: problem });
    await reply
      .code(ERROR_CODES.UNAUTHENTICATED.httpStatus)
      .header('www-authenticate', AUTHORIZATION_SCHEME)
      .send({ code: 'UNAUTHENTICATED', message: `internal endpoint: ${problem}` });
  };
}

/** The error for a failed internal GET: UNAUTHENTICATED for a 401, NOT_FOUND otherwise (as before). */
export function internalGetError(status: number, what: string): TandemError {
  if (status === ERROR_CODES.UNAUTHENTICATED.httpStatus) return new TandemError('UNAUTHENTICATED', `${what}: HTTP 401, the server refused our proof of the cluster secret`);
  return new TandemError('NOT_FOUND', `${what}: HTTP ${status}`);
}
