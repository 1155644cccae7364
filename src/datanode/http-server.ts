// The datanode's HTTP server, on its --http address (advertised as `http` in its
// registration and heartbeats). It answers `GET /health` itself (src/metrics/registry.ts);
// `/metrics` and the WebHDFS data endpoint plug in through `routes` — each a function
// given the fastify instance before it listens.

import Fastify, { type FastifyInstance } from 'fastify';
import { parseHostPort } from '../util/address.js';
import type { Logger } from '../util/log.js';
import { healthRoutes } from '../metrics/registry.js';

export type HttpRoutes<T> = (app: FastifyInstance, host: T) => void | Promise<void>;

export interface DatanodeHttpOptions<T> {
  /** HOST:PORT to listen on; port 0 (or none: 127.0.0.1:0) picks a free one. */
  http: string | undefined;
  /** Used when `http` is not given: the host the datanode's other servers bind. */
  defaultHost: string;
  log: Logger;
  routes: ReadonlyArray<HttpRoutes<T>>;
  host: T;
  /** What `GET /health` answers: ok, or why not. */
  health: () => { ok: boolean; reason?: string };
}

export async function startDatanodeHttp<T>(opts: DatanodeHttpOptions<T>): Promise<{ server: FastifyInstance; address: string }> {
  const server = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  healthRoutes(() => ({ ...opts.health(), detail: { role: 'datanode' } }))(server);
  for (const routes of opts.routes) await routes(server, opts.host);
  const { host, port } = opts.http ? parseHostPort(opts.http) : { host: opts.defaultHost, port: 0 };
  await server.listen({ host, port });
  const bound = server.server.address();
  if (bound === null || typeof bound === 'string') throw new Error('invariant broken: the datanode HTTP server has no TCP address');
  opts.log.info({ http: `${host}:${bound.port}` }, `HTTP on ${host}:${bound.port}`);
  return { server, address: `${host}:${bound.port}` };
}
