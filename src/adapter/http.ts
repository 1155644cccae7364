// The adapter's HTTP server (fastify): `GET /status` (the registry cache, with its age),
// `GET /health` for load balancers, and `GET /shards/<shard>/<rest>` answered with a 307
// to that shard's active (DESIGN §1: "a web status page that redirects web requests to
// the active"). WebHDFS, the dashboard and /metrics plug in through `routes`, each given
// the fastify instance and the adapter before the server listens.

import { webHdfsFrameworkErrors } from '../webhdfs/http-scope.js';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { TandemError, type ErrorCode } from '../errors.js';
import { healthRoutes } from '../metrics/registry.js';
import { parseHostPort } from '../util/address.js';
import type { Logger } from '../util/log.js';
import type { AdapterSnapshot } from './snapshot.js';
import { shardMapOf } from './snapshot.js';

export type AdapterHttpRoutes<A> = (app: FastifyInstance, adapter: A) => void | Promise<void>;

export interface AdapterHttpOptions<A> {
  /** HOST:PORT; port 0 picks a free one. */
  http: string;
  log: Logger;
  snapshot: () => AdapterSnapshot;
  routes: ReadonlyArray<AdapterHttpRoutes<A>>;
  adapter: A;
}

/** An error body: `{error: {code, message}}` with the code's HTTP status. */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  return reply.code(new TandemError(code).httpStatus).send({ error: { code, message } });
}

export async function startAdapterHttp<A>(opts: AdapterHttpOptions<A>): Promise<{ server: FastifyInstance; address: string }> {
  // WebHDFS plugs in here: a URL fastify cannot decode still gets a RemoteException under /webhdfs/v1.
  const server = Fastify({ logger: false, frameworkErrors: webHdfsFrameworkErrors });
  server.get('/status', async () => opts.snapshot());
  healthRoutes(() => {
    const snapshot = opts.snapshot();
    // Stale is still useful (the cache is what a ZooKeeper outage leaves); never read is not.
    const ok = snapshot.readAt !== '';
    return { ok, ...(ok ? {} : { reason: 'ZooKeeper not read yet' }), detail: { stale: snapshot.stale, ageMs: snapshot.ageMs } };
  })(server);
  const redirect = async (shard: string, rest: string, rawUrl: string, reply: FastifyReply): Promise<FastifyReply> => {
    const map = shardMapOf(opts.snapshot());
    const entry = map.shards[shard];
    if (!entry) return sendError(reply, 'NOT_FOUND', `no shard ${JSON.stringify(shard)} in the registry (shards: ${Object.keys(map.shards).join(', ')})`);
    const active = entry.active;
    if (!active) return sendError(reply, 'NOT_ACTIVE', `shard ${shard} has no active right now${map.stale ? ` (cache stale, ${map.ageMs} ms old)` : ''}; retry shortly`);
    if (!active.http) return sendError(reply, 'NOT_ACTIVE', `the active of shard ${shard} (${active.member}) serves no HTTP`);
    const query = rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?')) : '';
    return reply.code(307).header('location', `http://${active.http}/${rest}${query}`).send();
  };
  server.get<{ Params: { shard: string; '*': string } }>('/shards/:shard/*', (req, reply) => redirect(req.params.shard, req.params['*'], req.raw.url ?? '', reply));
  server.get<{ Params: { shard: string } }>('/shards/:shard', (req, reply) => redirect(req.params.shard, '', req.raw.url ?? '', reply));
  try {
    for (const routes of opts.routes) await routes(server, opts.adapter);
    const { host, port } = parseHostPort(opts.http);
    await server.listen({ host, port });
  } catch (err) {
    // Routes may have started work that their onClose hook stops (the dashboard's poll
    // loop): a server that never listened is closed too, or that work runs on forever.
    await server.close().catch(() => undefined);
    throw err;
  }
  const { host } = parseHostPort(opts.http);
  const bound = server.server.address();
  if (bound === null || typeof bound === 'string') throw new Error('invariant broken: the adapter HTTP server has no TCP address');
  return { server, address: `${host}:${bound.port}` };
}
