// The adapter's HTTP server (src/adapter/http.ts) on its own, without ZooKeeper.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { startAdapterHttp } from '../../src/adapter/http.js';
import { silentLogger } from '../../src/util/log.js';

test('startAdapterHttp: when it cannot listen (port taken), the routes\' onClose hooks run (the dashboard stops polling)', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  let closed = false;
  try {
    await assert.rejects(
      startAdapterHttp({
        http: `127.0.0.1:${port}`,
        log: silentLogger(),
        snapshot: () => ({ readAt: '', stale: true, ageMs: 0, shards: {}, datanodes: [], pools: null, adapters: [], adapter: 'a1' }),
        adapter: null,
        routes: [
          (app) => {
            app.addHook('onClose', async () => {
              closed = true;
            });
          },
        ],
      }),
      (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
    );
    assert.equal(closed, true, 'the server that never listened was closed');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
