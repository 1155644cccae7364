// `tandem bench data` and `tandem bench fms` run briefly, as commands, against a cluster of
// real processes (ZooKeeper, NS, two FMS shards, three datanodes): their JSON lines carry
// every figure, the data benchmark read back (and compared) every byte it wrote, and the
// FMS benchmark spread its files over both shards without an error. No speed is asserted.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { BenchContent } from '../../src/bench/data.js';
import type { ClusterFile } from '../../src/cli/cluster-address.js';
import { CLI_ENTRY } from '../../src/cluster/master-process.js';
import { DataCluster } from '../helpers/data-cluster.js';
import { waitFor } from '../helpers/zookeeper.js';

const run = promisify(execFile);
let cluster: DataCluster;

/** cluster.json as `tandem up` writes it, so the commands find this cluster with --cluster. */
async function writeClusterFile(c: DataCluster): Promise<void> {
  const [connect, ...chroot] = c.zkAddress.split('/');
  const file: ClusterFile = {
    zk: { connect: connect!, chroot: `/${chroot.join('/')}`, pid: c.zk.pids[0] ?? null, sessionTimeoutMs: 2_000, tickTimeMs: c.zk.tickTimeMs, dataDir: '' },
    zkAuth: c.zkAuth,
    shards: Object.fromEntries(
      ['ns', ...c.poolMap.shards].map((shard) => [
        shard,
        { members: c.members.filter((m) => m.shard === shard).map((m) => ({ member: m.name, rpc: m.process.rpc, pid: m.process.pid, dir: m.dir, log: m.log })) },
      ]),
    ),
    datanodes: c.datanodes.map((d) => ({ id: d.id, rpc: d.process.rpc, data: '', pid: d.process.pid, dir: d.dir, log: d.log })),
    supervisorPid: process.pid,
  };
  await writeFile(join(c.base, 'cluster.json'), JSON.stringify(file));
}

async function benchJson(args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [CLI_ENTRY, 'bench', ...args, '--cluster', cluster.base, '--json'], { timeout: 60_000 });
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one JSON line, got: ${stdout}`);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

before(async () => {
  cluster = await DataCluster.start({ fmsShards: 2, fmsMembers: 1, datanodes: 3 });
  await writeClusterFile(cluster);
  await waitFor(
    'three datanodes heard by every FMS active',
    async () => {
      for (const shard of cluster.poolMap.shards) {
        const active = await cluster.active(shard);
        if (!active || (await cluster.status(active)).liveDatanodes !== 3) return false;
      }
      return true;
    },
    20_000,
    100,
  );
});
after(async () => {
  await cluster?.stop();
});

test('bench content: a piece read back anywhere, in any cutting, matches; a changed byte or a misplaced piece does not', () => {
  const content = new BenchContent(7, 4096);
  const pieces = [...content.pieces(3, 3 * 4096 + 100)];
  assert.deepEqual(
    pieces.map((p) => p.length),
    [4096, 4096, 4096, 100],
  );
  const whole = Buffer.concat(pieces);
  for (const [from, to] of [
    [0, whole.length],
    [5, 17],
    [4090, 4200],
    [8192, whole.length],
  ] as const) {
    content.verify(3, from, whole.subarray(from, to));
  }
  assert.throws(() => content.verify(4, 0, whole.subarray(0, 20)), { code: 'CHECKSUM_MISMATCH' }, 'another file has other stamps');
  assert.throws(() => content.verify(3, 4096, pieces[0]!), { code: 'CHECKSUM_MISMATCH' }, 'piece 0 read where piece 1 belongs');
  const changed = Buffer.from(whole);
  changed[6000]! ^= 1;
  assert.throws(() => content.verify(3, 0, changed), { code: 'CHECKSUM_MISMATCH' });
});

test('tandem bench data --json: write and read figures next to the disk\'s, every byte read back compared', { timeout: 90_000 }, async () => {
  const r = await benchJson(['data', '--size-mb', '3', '--files', '2', '--block-mb', '2', '--keep-cache']);
  for (const key of ['writeMBps1', 'writeMBps3', 'readMBps', 'readMBps1', 'readMBpsStream', 'diskWriteMBps', 'diskReadMBps', 'diskRatioWrite3', 'diskRatioRead']) {
    assert.equal(typeof r[key], 'number', `${key} is a number: ${JSON.stringify(r)}`);
    assert.ok((r[key] as number) > 0, `${key} > 0`);
  }
  // Both replication factors' files, 2 × 3 MiB each, were read back and compared byte for byte (the replication-3 ones twice).
  assert.equal(r.verifiedBytes, 3 * 2 * 3 * 2 ** 20);
  assert.equal(r.files, 2);
  assert.equal(r.sizeMB, 3);
  assert.equal(r.cacheDropped, false, 'asked to keep the page cache');
  assert.equal(r.sameDevice, true, 'the disk file sits beside the datanodes');
  assert.deepEqual(Object.keys(r.phaseMs as object).sort(), ['diskRead', 'diskWrite', 'read1', 'read3', 'read3Stream', 'write1', 'write3']);
  // The benchmark removes its files: the namespace holds no /bench-data/<run> any more.
  const client = cluster.client();
  try {
    const left = await client.getFileInfo(`/bench-data/${String(r.runId)}`);
    assert.equal(left, null);
  } finally {
    client.close();
  }
});

test('tandem bench fms --json: addBlock + complete calls per second over both FMS shards, no errors', { timeout: 90_000 }, async () => {
  const r = await benchJson(['fms', '--n', '400', '--window', '32', '--warmup', '50']);
  assert.equal(r.n, 400);
  assert.equal(r.errors, 0, `no call failed (first error: ${String(r.firstError)})`);
  assert.equal(r.shards, 2);
  const perShard = r.filesPerShard as Record<string, number>;
  assert.deepEqual(Object.keys(perShard).sort(), ['fms-0', 'fms-1']);
  assert.equal(perShard['fms-0']! + perShard['fms-1']!, 400);
  assert.ok(perShard['fms-0']! > 0 && perShard['fms-1']! > 0, 'both shards took files');
  for (const key of ['callsPerSec', 'filesPerSec', 'addBlockP50Ms', 'addBlockP99Ms', 'completeP50Ms', 'completeP99Ms']) {
    assert.equal(typeof r[key], 'number', key);
    assert.ok((r[key] as number) > 0, `${key} > 0`);
  }
  // complete of a block of length 0 does not wait for a datanode report (none comes): no FMS gave up waiting.
  for (const member of cluster.members.filter((m) => m.shard !== 'ns')) {
    assert.deepEqual(await cluster.logLines(member.log, 'no datanode reported'), [], `${member.shard}/${member.name} never waited for a report`);
  }
  const cpu = r.cpu as { processes: Record<string, number> };
  assert.ok('fms-0/m1' in cpu.processes && 'fms-1/m1' in cpu.processes, 'the FMS actives are watched for CPU');
});
