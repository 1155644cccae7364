// The WebHDFS probes of `tandem bench chaos`: the gap arithmetic (pure), and the probe loop
// against a small stand-in for an adapter's WebHDFS MKDIRS — next to an adapter that refuses
// connections, which the probes must step over.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import Fastify from 'fastify';
import { gapsAroundKills, WebHdfsProbes } from '../../src/bench/webhdfs-probe.js';
import { sleep } from '../../src/client/backoff.js';

test('gapsAroundKills: the longest silence from the last success before each kill until the next kill', () => {
  const successes = [1, 2, 3, 10, 11, 30];
  assert.deepEqual(gapsAroundKills(successes, [3.5, 11, 29, 31]), [7, 19, 19, null], 'kill at 11: no success before the next kill at 29, measured to the one at 30');
  assert.deepEqual(gapsAroundKills(successes, [3.5], 12), [7], 'the window ends at endTime');
  assert.deepEqual(gapsAroundKills(successes, [0], 2.5), [1], 'a kill before any success is measured from the kill');
  assert.deepEqual(gapsAroundKills([], [5]), [null]);
  assert.deepEqual(gapsAroundKills(successes, []), []);
  // A reply already sent by the dead active lands just after the kill: the silence after it is the outage.
  assert.deepEqual(gapsAroundKills([1, 2, 3, 3.5, 9, 9.5, 10], [3.25]), [5.5]);
  assert.deepEqual(gapsAroundKills([1, 2, 3, 3.5], [3.25, 5]), [0.5, null], 'no success after the kill: not measured');
  assert.deepEqual(gapsAroundKills([1, 2, 9, 9.5], [3, 5, 8]), [7, 7, 7], 'one silence across kills is measured whole for each');
});

/** A port nothing listens on. */
async function deadAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

test('WebHdfsProbes make directories through the adapter that answers, and measure a held call as a gap', async () => {
  const made = new Set<string>();
  // A failover, without timing: once `hold` is set every call waits for its release. Each
  // worker makes one call at a time, so when `held` counts both workers no reply is on
  // its way and the next success comes after the release.
  let hold: Promise<void> | null = null;
  let held = 0;
  const app = Fastify();
  app.put('/webhdfs/v1/*', async (req, reply) => {
    const query = req.query as Record<string, string>;
    if (query.op !== 'MKDIRS' || query['user.name'] !== 'prober') return reply.code(400).send({});
    if (hold) {
      held++;
      await hold;
    }
    made.add(decodeURIComponent(req.url.slice('/webhdfs/v1'.length).split('?')[0]!));
    return reply.send({ boolean: true });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const live = `127.0.0.1:${(app.server.address() as { port: number }).port}`;
  let release = (): void => undefined;
  try {
    // Worker 0 starts on the dead adapter, worker 1 on the live one.
    const probes = new WebHdfsProbes({ adapters: [await deadAddress(), live], workers: 2, dir: '/chaos/t', user: 'prober' });
    await probes.start();
    await waitUntil('both probes making directories', () => made.size >= 20);
    hold = new Promise<void>((resolve) => (release = resolve));
    await waitUntil('both probes held', () => held >= 2);
    const killedAt = performance.now();
    await sleep(300);
    release();
    await waitUntil('the probes going on after the release', () => probes.successTimes().filter((t) => t > killedAt).length >= 2);
    const result = await probes.stop();
    assert.ok(result.acked >= 20, `the probes made directories (${result.acked})`);
    assert.deepEqual(Object.keys(result.errors), [], 'the setup stepped over the dead adapter; the load never went back to it');
    assert.equal(result.made.length, 2);
    for (const dirs of result.made) {
      assert.ok(dirs.length > 0);
      for (const d of dirs) assert.ok(made.has(d), `${d}, acknowledged, was made on the server`);
    }
    const [gap] = gapsAroundKills(probes.successTimes(), [killedAt]);
    assert.ok(gap !== null && gap !== undefined && gap >= 300, `a held call shows up as a gap of at least the hold (${gap} ms)`);
  } finally {
    release();
    await app.close();
  }
});

/** Polls `condition` every 10 ms, for at most 20 s. */
async function waitUntil(what: string, condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('WebHdfsProbes: a setup no adapter answers fails, naming each', async () => {
  const probes = new WebHdfsProbes({ adapters: [await deadAddress(), await deadAddress()], workers: 1, dir: '/chaos/x', user: 'prober' });
  await assert.rejects(probes.start(), /failed on every adapter: .* answered transport; .* answered transport/);
  await probes.stop();
});
