// The hot-path histogram renders exactly what prom-client's own Histogram renders for the
// same observations (boundaries included), default labels and all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { TwoLabelHistogram } from '../../src/metrics/fast-histogram.js';
import { Scrape } from '../helpers/prometheus.js';

test('TwoLabelHistogram gives the exposition of prom-client\'s Histogram', async () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const ours = new Registry();
  const theirs = new Registry();
  for (const r of [ours, theirs]) r.setDefaultLabels({ shard: 'ns', member: 'm1' });
  const fast = new TwoLabelHistogram('rpc_seconds', 'calls', ['method', 'outcome'], buckets, ours);
  const reference = new Histogram({ name: 'rpc_seconds', help: 'calls', labelNames: ['method', 'outcome'], buckets, registers: [theirs] });
  const observations: Array<[string, string, number]> = [
    ['ns.mkdirs', 'ok', 0.0005],
    ['ns.mkdirs', 'ok', 0.001], // on a boundary: counted in le="0.001"
    ['ns.mkdirs', 'error', 0.2],
    ['admin.status', 'ok', 5], // above every bucket: only +Inf
    ['ns.mkdirs', 'ok', 0.05],
  ];
  for (const [method, outcome, value] of observations) {
    fast.observe(method, outcome, value);
    reference.observe({ method, outcome }, value);
  }
  // The same samples (label order aside), and the same HELP and TYPE lines.
  const samples = async (r: Registry) => {
    const text = await r.metrics();
    const lines = new Scrape(text).samples.map((x) => `${x.name}${JSON.stringify(Object.entries(x.labels).sort())} ${x.value}`);
    return [...text.split('\n').filter((l) => l.startsWith('#')), ...lines.sort()];
  };
  const expected = await samples(theirs);
  assert.equal(expected.length, 2 + 3 * (buckets.length + 3), 'three series of buckets, +Inf, sum and count');
  assert.deepEqual(await samples(ours), expected);
  assert.equal(new Scrape(await ours.metrics()).value('rpc_seconds_bucket', { method: 'ns.mkdirs', outcome: 'ok', le: '0.001' }), 2, 'a value on a boundary counts in its bucket');
  fast.reset();
  assert.doesNotMatch(await ours.metrics(), /rpc_seconds_count/);
});
