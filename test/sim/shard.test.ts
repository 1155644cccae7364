// Runs the seeded shard simulation (test/sim/shard-sim.ts) over many seeds. A failure names
// its seed; TANDEM_SIM_SEED=<seed> npm test -- shard replays exactly that run, and
// TANDEM_SIM_SEEDS=<n> runs more seeds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShardSim } from './shard-sim.js';

const STEPS = 600;
const one = process.env.TANDEM_SIM_SEED;
const seeds = one !== undefined ? [Number(one)] : Array.from({ length: Number(process.env.TANDEM_SIM_SEEDS ?? 300) }, (_, i) => 1 + i * 7919);

test(`seeded shard simulation: ${seeds.length} seeds × ${STEPS} steps of crashes, torn writes, lost disks, lost messages and session expiry`, { timeout: 120_000 }, () => {
  const totals = { acked: 0, failovers: 0, crashes: 0, expiries: 0, drops: 0, truncations: 0, isrAdds: 0, diskLosses: 0, tailsTaken: 0 };
  for (const seed of seeds) {
    const sim = new ShardSim(seed);
    try {
      for (let i = 0; i < STEPS; i++) sim.step();
      sim.heal();
    } catch (err) {
      assert.fail(`seed ${seed} failed: ${(err as Error).message}\nlast steps:\n${sim.trace.join('\n')}\nreplay: TANDEM_SIM_SEED=${seed} npm test -- shard`);
    }
    const r = sim.result();
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += r[k];
  }
  // The runs must actually exercise what they claim to.
  assert.ok(totals.acked > seeds.length, `only ${totals.acked} writes acknowledged`);
  if (seeds.length >= 50) {
    for (const k of ['failovers', 'crashes', 'expiries', 'drops', 'truncations', 'isrAdds', 'diskLosses', 'tailsTaken'] as const) assert.ok(totals[k] > 0, `no ${k} happened in ${seeds.length} seeds`);
  }
  console.log(`simulation totals over ${seeds.length} seeds: ${JSON.stringify(totals)}`);
});
