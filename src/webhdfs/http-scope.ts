// What the namenode-side and datanode-side WebHDFS routes share: their own fastify scope
// (so their body handling and error replies do not leak into the rest of the server), every
// request body left as a stream for the handler, every failure answered as a
// RemoteException, and bounded reading of bodies that carry nothing.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { Params, pathOfUrl, WEBHDFS_PREFIX, type WebHdfsLimits, type WebHdfsOp } from './params.js';
import { isServerFailure, remoteException } from './remote-exception.js';

/** What every WebHDFS handler starts from: the checked parameters, the operation, the path and the caller. */
export interface WebHdfsRequest {
  params: Params;
  op: WebHdfsOp;
  path: string;
  user: string;
}

export type WebHdfsHandler = (parsed: WebHdfsRequest, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * Registers `/webhdfs/v1` and everything under it on `app`, in a scope of its own (raw
 * body streams, RemoteException errors); `handler` gets each request parsed and checked.
 */
export function registerWebHdfsScope(app: FastifyInstance, opts: { log: Logger | undefined; side: string; limits: WebHdfsLimits; handler: WebHdfsHandler }): void {
  const { limits } = opts;
  const handler = (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const params = new Params(request.query, limits);
    const op = params.op(request.method);
    const path = pathOfUrl(request.url, limits);
    const user = params.user();
    params.checkAll();
    return opts.handler({ params, op, path, user }, request, reply);
  };
  void app.register(
    async (scope) => {
      prepareWebHdfsScope(scope, opts.log, opts.side);
      scope.route({ method: ['GET', 'PUT', 'POST', 'DELETE'], url: '/', handler });
      scope.route({ method: ['GET', 'PUT', 'POST', 'DELETE'], url: '/*', handler });
    },
    { prefix: WEBHDFS_PREFIX },
  );
}

/** Sets up a WebHDFS scope: raw body streams, RemoteException errors, a RemoteException for an unrouted request. */
function prepareWebHdfsScope(scope: FastifyInstance, log: Logger | undefined, side: string): void {
  // Every content type (and none) reaches the handler as the unread request stream: CREATE
  // and APPEND stream it into the file with backpressure; other operations read at most
  // bodyBytesMax of it (readBodyBounded).
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  scope.setErrorHandler((err, request, reply) => {
    const { status, body } = remoteException(err);
    if (isServerFailure(err)) log?.warn({ err, method: request.method, url: request.url.slice(0, 200), status }, `WebHDFS (${side}) ${request.method} failed: ${body.RemoteException.message}`);
    // A body left unread must not be drained by Node for keep-alive: close the connection instead.
    if (hasUnreadBody(request)) void reply.header('connection', 'close');
    return reply.code(status).type('application/json').send(body);
  });
  scope.setNotFoundHandler((request, reply) => {
    const { status, body } = remoteException(new TandemError('UNSUPPORTED', `no WebHDFS operation answers HTTP ${request.method} ${request.url.split('?', 1)[0]!.slice(0, 200)}`));
    return reply.code(status).type('application/json').send(body);
  });
}

/** The request body stream, if the request has one fastify handed over unread. */
export function bodyStream(request: FastifyRequest): Readable | undefined {
  const body = request.body as Readable | undefined;
  return body && typeof body.pipe === 'function' ? body : undefined;
}

export function hasUnreadBody(request: FastifyRequest): boolean {
  const body = bodyStream(request);
  return body !== undefined && !body.readableEnded;
}

/** Reads and ignores a body of at most `bytesMax` (an operation that takes none); more is a 413. */
export async function readBodyBounded(request: FastifyRequest, bytesMax: number): Promise<void> {
  const body = bodyStream(request);
  if (!body || body.readableEnded) return;
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > bytesMax) throw bodyTooLarge(bytesMax);
  let bytes = 0;
  for await (const chunk of body) {
    bytes += (chunk as Buffer).length;
    if (bytes > bytesMax) throw bodyTooLarge(bytesMax);
  }
}

function bodyTooLarge(bytesMax: number): Error & { statusCode: number } {
  return Object.assign(new Error(`the request body is larger than ${bytesMax} bytes; this operation takes no body`), { statusCode: 413 });
}

/** An empty 200, as Hadoop answers SETPERMISSION, SETOWNER, SETTIMES and CONCAT. */
export function sendEmpty(reply: FastifyReply, status = 200): FastifyReply {
  return reply.code(status).header('content-length', '0').send();
}

/**
 * For the host's `Fastify({ frameworkErrors })`: a URL fastify cannot even decode (bad
 * percent-encoding) is refused before any route runs; under /webhdfs/v1 it still gets a
 * RemoteException rather than fastify's own error shape.
 */
export function webHdfsFrameworkErrors(err: Error, request: FastifyRequest, reply: FastifyReply): void {
  const status = (err as { statusCode?: number }).statusCode ?? 400;
  if (request.url.startsWith('/webhdfs/')) {
    const failure = remoteException(new TandemError('INVALID_PATH', `the URL is not valid: ${err.message}`));
    void reply.code(failure.status).type('application/json').send(failure.body);
    return;
  }
  void reply.code(status).send({ error: err.message, statusCode: status });
}
