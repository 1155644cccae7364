// The dashboard end to end: a real ZooKeeper and cluster (NS with a standby, one FMS shard
// with a standby, two datanodes), the ClusterWatch reading ZooKeeper, the routes served by
// a fastify instance in this process, and the page in headless Chromium (Debian's, driven
// by playwright-core). The test reads the page as a person would — what the DOM shows —
// through a kill of the NS active and a ZooKeeper outage, and leaves a screenshot.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TandemClient } from '../../src/client/tandem-client.js';
import { ClusterWatch } from '../../src/dashboard/cluster-watch.js';
import { registerDashboard } from '../../src/dashboard/routes.js';
import { ZooKeeperRegistrySource } from '../../src/dashboard/zookeeper-source.js';
import { shardPaths } from '../../src/election/layout.js';
import { silentLogger } from '../../src/util/log.js';
import { DataCluster, type ClusterMember } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

const CHROMIUM = '/usr/bin/chromium';
/** Where the screenshot goes: dist/test-output/ of this checkout. */
const OUTPUT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-output');
const PAGE_WAIT_MS = 20_000;

let cluster: DataCluster;
let client: TandemClient;
let watch: ClusterWatch;
let app: FastifyInstance;
let browser: Browser;
let page: Page;
let url: string;
let nsActive: ClusterMember;
/** Namespace writes in the background, so the throughput charts have something to draw. */
let load: { stop: () => Promise<void> } | null = null;

function startLoad(c: TandemClient): { stop: () => Promise<void> } {
  let stopped = false;
  const done = (async () => {
    for (let i = 0; i < 100_000 && !stopped; i++) {
      // Errors while the NS fails over or ZooKeeper is down are expected here: the client retries up to its deadline.
      await c.mkdirs(`/load/d${i}`).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/** Text of the first element matching `selector`, '' when none. */
async function text(selector: string): Promise<string> {
  const element = await page.$(selector);
  return (await element?.textContent()) ?? '';
}

/** Waits until the page shows what `check` wants (re-read once a second by the page itself). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(`the dashboard to show ${what}`, check, PAGE_WAIT_MS, 200);
}

describe('the dashboard in headless Chromium', () => {
  before(async () => {
    cluster = await DataCluster.start({ nsMembers: 2, fmsShards: 1, fmsMembers: 2, datanodes: 2 });
    client = cluster.client('root', 10_000);
    await cluster.waitForLiveDatanodes();
    nsActive = await cluster.waitForActive('ns');
    for (let i = 0; i < 3; i++) await client.writeFile(`/data/f${i}`, Buffer.alloc(64 * 1024, i), { replication: 2 });
    load = startLoad(client);

    watch = new ClusterWatch({ source: new ZooKeeperRegistrySource(cluster.connect, { log: silentLogger() }), log: silentLogger() });
    watch.start();
    app = Fastify({ logger: false });
    registerDashboard(app, watch);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    url = `${address}/`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const response = await page.goto(url);
    assert.equal(response?.status(), 200);
  });

  after(async () => {
    await load?.stop();
    await browser?.close();
    await app?.close();
    await watch?.stop();
    client?.close();
    await cluster?.stop();
  });

  test('every shard with its active and epoch, its members and ISR, and the datanodes', async () => {
    const session = await cluster.coordinator();
    const nsEpoch = (await session.get<number>(shardPaths('ns').epoch))!.data;
    const fmsActive = await cluster.waitForActive('fms-0');
    await until('ns and fms-0 with their actives', async () => (await text('[data-shard="ns"] .active-member')) === nsActive.name && (await text('[data-shard="fms-0"] .active-member')) === fmsActive.name);
    assert.equal(await text('[data-shard="ns"] .epoch'), String(nsEpoch));
    await until('both NS members, the standby streaming and in the ISR', async () => {
      const roles = await page.$$eval('[data-shard="ns"] tr[data-member]', (rows) => rows.map((r) => `${r.getAttribute('data-member')}:${r.querySelector('.role')?.textContent}`));
      return roles.length === 2 && roles.includes(`${nsActive.name}:active`) && (await text('[data-shard="ns"] .isr')).split(', ').length === 2 && (await text('[data-shard="ns"] tbody')).includes('streaming');
    });
    await until('two live datanodes holding the written blocks', async () => {
      const rows = await page.$$eval('#datanode-table tr[data-datanode]', (trs) => trs.map((tr) => `${tr.getAttribute('data-datanode')}:${tr.querySelector('.live') ? 'live' : '-'}:${tr.querySelector('.blocks')?.textContent}`));
      return rows.length === 2 && rows.every((r) => r.endsWith(':live:3'));
    });
    assert.match(await text('#datanode-table'), /ago/, 'last heartbeats are shown as ages');
  });

  test('charts of throughput and lag fill with points', async () => {
    await until('a throughput line and a lag line for ns', async () => {
      const points = await page.$$eval('[data-shard="ns"] svg.chart', (svgs) => svgs.map((s) => Number(s.getAttribute('data-points'))));
      const line = await page.$('[data-shard="ns"] svg.chart-throughput polyline');
      return points.length === 2 && points.every((n) => n >= 3) && line !== null;
    });
    // The chart's scale is its largest point: the NS commits records every second under the test's load.
    const scale = await text('[data-shard="ns"] svg.chart-throughput text');
    assert.ok(Number(scale.replace(/^max /, '').replace(/,/g, '')) > 0, `the throughput chart's scale says "${scale}"`);
  });

  test('a failover on the timeline after the NS active is killed: new active, higher epoch', async () => {
    const epochBefore = Number(await text('[data-shard="ns"] .epoch'));
    await nsActive.process.kill9();
    const next = await cluster.waitForActive('ns', nsActive);
    await until(`${next.name} active in a later epoch, and the failover listed`, async () =>
      (await text('[data-shard="ns"] .active-member')) === next.name &&
      Number(await text('[data-shard="ns"] .epoch')) > epochBefore &&
      (await page.$('#failover-list li[data-shard="ns"]')) !== null,
    );
    const item = await text('#failover-list li[data-shard="ns"]');
    assert.match(item, new RegExp(`ns: ${nsActive.name} → ${next.name}, epoch ${epochBefore} → ${epochBefore + 1}`));
    assert.equal(await page.$$eval('#failover-timeline .failover-mark[data-shard="ns"]', (marks) => marks.length), 1);
    nsActive = next;
  });

  test('with ZooKeeper down: a stale banner with the cache age, and the rest still on screen; a screenshot', async () => {
    await cluster.zk.kill(0);
    await until('the stale banner with an age', async () => /ZooKeeper unreachable.*cached [\d.]+ (ms|s) ago/.test(await text('#stale-banner')));
    const firstAge = await text('#stale-age');
    await until('the age growing', async () => (await text('#stale-age')) !== firstAge);
    assert.equal(await text('[data-shard="ns"] .active-member'), nsActive.name, 'the cached registry stays on screen');
    assert.equal(await page.$$eval('#datanode-table tr[data-datanode]', (trs) => trs.length), 2);
    assert.equal(await page.$$eval('#failover-list li', (lis) => lis.length), 1);
    assert.ok(await page.isVisible('#stale-banner'));

    await mkdir(OUTPUT_DIR, { recursive: true });
    const file = join(OUTPUT_DIR, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = await readFile(file);
    assert.ok((await stat(file)).size > 10_000, `a screenshot of the page, not an empty image: ${png.length} bytes`);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
    process.stdout.write(`dashboard screenshot: ${file}\n`);

    await cluster.zk.start(0);
    await until('the banner gone once ZooKeeper is back', async () => !(await page.isVisible('#stale-banner')));
  });
});
