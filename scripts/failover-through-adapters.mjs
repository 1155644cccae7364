// How long a client's longest call lasts across a kill -9 of the namespace active, finding
// the active through the cluster's adapters or through ZooKeeper (one run each, alternated).
//   node scripts/failover-through-adapters.mjs DIR [ROUNDS]    (DIR: a running `tandem up --dir DIR`)
// Each round: creates files one at a time for 8 s, kills the active (its pid from admin.status)
// after 2 s; `up` restarts it as a standby, and the next round waits 6 s for that.
import { readFileSync } from 'node:fs';
import { TandemClient } from '../dist/src/client/tandem-client.js';
import { throughAdapters } from '../dist/src/client/adapter-resolver.js';
import { ZooKeeperResolver } from '../dist/src/client/zk-resolver.js';
import { coordinatorFactory, zooKeeperTarget } from '../dist/src/cli/cluster-address.js';

const [dir, roundsText = '3'] = process.argv.slice(2);
if (!dir) throw new Error('usage: node scripts/failover-through-adapters.mjs DIR [ROUNDS]');
const cluster = JSON.parse(readFileSync(`${dir}/cluster.json`, 'utf8'));
const backoff = { baseMs: 25, capMs: 1_000 };

function clientThrough(mode) {
  if (mode === 'adapters') {
    const { shardMaps: _maps, ...found } = throughAdapters(cluster.adapters.map((a) => a.rpc));
    return new TandemClient({ ...found, user: 'root', backoff });
  }
  return new TandemClient({ resolver: new ZooKeeperResolver(coordinatorFactory(zooKeeperTarget({ cluster: dir }))), user: 'root', backoff });
}

async function round(mode) {
  const client = clientThrough(mode);
  let longestMs = 0;
  let calls = 0;
  let killed = false;
  const startMs = performance.now();
  while (performance.now() - startMs < 8_000) {
    if (!killed && performance.now() - startMs > 2_000) {
      process.kill((await client.status()).pid, 'SIGKILL');
      killed = true;
    }
    const callMs = performance.now();
    await client.create(`/failover-through-${mode}-${Date.now()}-${calls++}`);
    longestMs = Math.max(longestMs, performance.now() - callMs);
  }
  client.close();
  return { mode, calls, longestCallMs: Math.round(longestMs), retries: client.retries };
}

for (let i = 0; i < Number(roundsText); i++) {
  for (const mode of ['adapters', 'zk']) {
    console.log(JSON.stringify(await round(mode)));
    await new Promise((r) => setTimeout(r, 6_000));
  }
}
process.exit(0);
