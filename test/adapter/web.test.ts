// What a `tandem adapter` process serves over HTTP besides /status (src/adapter/web.ts), against
// real processes: WebHDFS through the adapter's own cache (a file written and read back with
// the two-step CREATE/OPEN through a datanode), the dashboard page and its JSON naming every
// shard's active, and the adapter's Prometheus metrics.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

let cluster: DataCluster;
let base: string;
before(async () => {
  cluster = await DataCluster.start({ fmsShards: 1, fmsMembers: 1, datanodes: 1, adapters: 1 });
  await cluster.waitForLiveDatanodes();
  base = `http://${cluster.adapters[0]!.http}`;
});
after(async () => {
  await cluster?.stop();
});

test('WebHDFS on the adapter: MKDIRS, CREATE and OPEN through a datanode, GETFILESTATUS, and a RemoteException for a missing path', { timeout: 60_000 }, async () => {
  const user = 'root'; // the cluster's superuser
  const mkdirs = await fetch(`${base}/webhdfs/v1/web/d?op=MKDIRS&user.name=${user}`, { method: 'PUT' });
  assert.deepEqual(await mkdirs.json(), { boolean: true });

  const body = Buffer.from('bytes through the adapter and a datanode\n');
  const step1 = await fetch(`${base}/webhdfs/v1/web/d/f.txt?op=CREATE&user.name=${user}`, { method: 'PUT', redirect: 'manual' });
  assert.equal(step1.status, 307);
  const location = step1.headers.get('location')!;
  const registered = (await (await fetch(`${base}/status`)).json()) as { datanodes: Array<{ id: string; http: string }> };
  const dnHttp = registered.datanodes.find((d) => d.id === cluster.datanodes[0]!.id)?.http;
  assert.ok(dnHttp && location.startsWith(`http://${dnHttp}/webhdfs/v1/web/d/f.txt?`), `redirected to the datanode's HTTP port (${location}, datanode ${dnHttp})`);
  const step2 = await fetch(location, { method: 'PUT', body });
  assert.equal(step2.status, 201);

  const read = await fetch(`${base}/webhdfs/v1/web/d/f.txt?op=OPEN&user.name=${user}`);
  assert.equal(read.status, 200);
  assert.deepEqual(Buffer.from(await read.arrayBuffer()), body);

  const stat = (await (await fetch(`${base}/webhdfs/v1/web/d/f.txt?op=GETFILESTATUS&user.name=${user}`)).json()) as { FileStatus: { length: number; type: string; owner: string } };
  assert.equal(stat.FileStatus.length, body.length);
  assert.equal(stat.FileStatus.type, 'FILE');
  assert.equal(stat.FileStatus.owner, user);

  const missing = await fetch(`${base}/webhdfs/v1/web/nope?op=GETFILESTATUS`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { RemoteException: { exception: string } }).RemoteException.exception, 'FileNotFoundException');
});

test('the dashboard at the adapter: the page, and its JSON with every shard and its active', { timeout: 60_000 }, async () => {
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await page.text(), /<title>Tandem dashboard<\/title>/);
  const nsActive = (await cluster.active('ns'))!;
  await waitFor('the dashboard JSON names both shards with their actives', async () => {
    const snapshot = (await (await fetch(`${base}/dashboard.json`)).json()) as { shards: Array<{ shard: string; active: string | null }>; registry: { stale: boolean } };
    const ns = snapshot.shards.find((s) => s.shard === 'ns');
    const fms = snapshot.shards.find((s) => s.shard === 'fms-0');
    return !snapshot.registry.stale && ns?.active === nsActive.name && typeof fms?.active === 'string';
  }, 20_000, 200);
});

test("the adapter's /metrics: its cache's freshness and the datanodes it knows, labelled with its id", { timeout: 30_000 }, async () => {
  const text = await (await fetch(`${base}/metrics`)).text();
  const id = cluster.adapters[0]!.id;
  assert.match(text, new RegExp(`^tandem_adapter_cache_stale\\{adapter="${id}"\\} 0$`, 'm'));
  assert.match(text, new RegExp(`^tandem_adapter_datanodes\\{adapter="${id}"\\} 1$`, 'm'));
  assert.match(text, /^tandem_adapter_cache_age_seconds\{[^}]*\} \d/m);
  assert.match(text, /^process_cpu_user_seconds_total/m, 'process metrics too');
});
