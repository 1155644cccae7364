// The page alone in headless Chromium, over a made-up snapshot (no cluster): what it draws
// from each field, that it escapes what it shows, and that it keeps the last picture under
// a banner when the dashboard server stops answering.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { registerDashboard } from '../../src/dashboard/routes.js';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot.js';
import { waitFor } from '../helpers/zookeeper.js';

const NOW_MS = Date.UTC(2026, 0, 1, 12, 0, 0);

function snapshot(): DashboardSnapshot {
  const series = (f: (i: number) => number): Array<[number, number]> => Array.from({ length: 30 }, (_, i) => [NOW_MS - (29 - i) * 1_000, f(i)]);
  return {
    nowMs: NOW_MS,
    registry: { stale: true, ageMs: 12_345, error: 'COORDINATOR_UNAVAILABLE: down' },
    shards: [
      {
        shard: 'fms-0',
        epoch: 7,
        active: 'm3',
        isr: ['m3', 'm1'],
        members: [
          { member: 'm3', rpc: '127.0.0.1:7003', role: 'active', firstStandby: false, inIsr: true, txid: 5_000, lagTxids: 0, lagMsP50: null, streaming: null },
          { member: 'm1', rpc: '127.0.0.1:7001', role: 'standby', firstStandby: true, inIsr: true, txid: 4_990, lagTxids: 10, lagMsP50: 0.8, streaming: true },
          { member: '<img src=x>', rpc: null, role: 'gone', firstStandby: false, inIsr: false, txid: null, lagTxids: null, lagMsP50: null, streaming: null },
        ],
        status: { committedTxid: 5_000, appliedTxid: 5_000, ageMs: 300, error: null },
        txidsPerSec: 120.5,
        throughput: series((i) => 100 + i),
        lag: series((i) => i % 3),
      },
    ],
    datanodes: [
      { id: 'dn1', http: '127.0.0.1:9864', registered: true, live: true, capacityBytes: 2 ** 40, usedBytes: 2 ** 39, blocks: 42, lastHeartbeatAgoMs: 800 },
      { id: 'dn2', http: null, registered: false, live: false, capacityBytes: 2 ** 40, usedBytes: 0, blocks: 0, lastHeartbeatAgoMs: 65_000 },
    ],
    failovers: [{ shard: 'fms-0', atMs: NOW_MS - 10_000, from: 'm1', to: 'm3', fromEpoch: 6, toEpoch: 7, noActiveMs: 2_000 }],
    seriesWindowMs: 120_000,
  };
}

let app: FastifyInstance;
let browser: Browser;
let page: Page;

before(async () => {
  app = Fastify({ logger: false });
  registerDashboard(app, { snapshot });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  page = await browser.newPage();
  const response = await page.goto(`${address}/`);
  assert.equal(response?.headers()['content-security-policy']?.startsWith("default-src 'none'"), true);
});

after(async () => {
  await browser?.close();
  await app?.close();
});

async function text(selector: string): Promise<string> {
  return (await (await page.$(selector))?.textContent()) ?? '';
}

test('the page draws each part of the snapshot', async () => {
  await waitFor('the shard card', async () => (await page.$('[data-shard="fms-0"]')) !== null, 10_000, 50);
  assert.equal(await text('[data-shard="fms-0"] .active-member'), 'm3');
  assert.equal(await text('[data-shard="fms-0"] .epoch'), '7');
  assert.equal(await text('[data-shard="fms-0"] .isr'), 'm3, m1');
  assert.match(await text('[data-shard="fms-0"] tr[data-member="m1"]'), /m1 \(first standby\)standby✓4,99010.*0\.8 ms.*streaming/);
  assert.equal(await page.$('img'), null, 'member names are escaped, not markup');
  assert.equal(await text('[data-shard="fms-0"] tr[data-member="<img src=x>"] .role'), 'gone');
  assert.deepEqual(await page.$$eval('[data-shard="fms-0"] svg.chart', (svgs) => svgs.map((s) => s.getAttribute('data-points'))), ['30', '30']);
  assert.match(await text('#stale-banner'), /ZooKeeper unreachable: showing the registry as cached 12\.3 s ago/);
  assert.match(await text('#failover-list li'), /fms-0: m1 → m3, epoch 6 → 7 \(no active seen for 2\.0 s\)/);
  assert.match(await text('tr[data-datanode="dn1"]'), /dn1live1\.0 TiB512\.0 GiB42800 ms ago/);
  assert.match(await text('tr[data-datanode="dn2"]'), /dn2dead \(not in ZooKeeper\).*1 min 5 s ago/);
});

test('when the dashboard server stops answering, a banner says so and the last picture stays', async () => {
  await app.close();
  await waitFor('the fetch banner', async () => (await text('#fetch-banner')).includes('did not answer'), 15_000, 100);
  assert.equal(await text('[data-shard="fms-0"] .active-member'), 'm3');
  assert.equal(await page.$$eval('#datanode-table tr[data-datanode]', (trs) => trs.length), 2);
});
