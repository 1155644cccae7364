// The dashboard's HTTP routes, to plug into any fastify instance (the adapter serves them
// at its `/`): the page, and the snapshot it polls.

import type { FastifyInstance } from 'fastify';
import type { DashboardSource } from './cluster-watch.js';
import { DASHBOARD_HTML } from './page.js';

/**
 * The page may load nothing from anywhere — no script, style, font or image from another
 * URL — and may fetch only from where it came from (its JSON).
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

export function registerDashboard(app: FastifyInstance, source: DashboardSource): void {
  app.get('/', async (_req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .send(DASHBOARD_HTML),
  );
  app.get('/dashboard.json', async (_req, reply) => reply.header('cache-control', 'no-store').send(source.snapshot()));
}
