// kill -9 of a master under a create load, then a restart on the same storage: every
// create that was acknowledged must still be there (issue 2, "Must show"), and the
// client's retries — same (clientId, callId) — must not turn into FILE_EXISTS errors.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runMetaBench } from '../../src/bench/meta.js';
import { verifyAckLog } from '../../src/bench/verify.js';
import { TandemClient } from '../../src/client/tandem-client.js';
import { startMasterProcess, type MasterProcess } from '../../src/cluster/master-process.js';
import { tempDir } from '../helpers/temp.js';
import { waitFor } from '../helpers/zookeeper.js';
import { listImages } from '../../src/replication/storage-layout.js';

const started: MasterProcess[] = [];
after(async () => {
  for (const m of started) await m.kill9();
});

async function start(dir: string, rpc: string): Promise<MasterProcess> {
  const m = await startMasterProcess({ dir, rpc, logFile: join(dir, '..', 'master.log'), extraArgs: ['--log-level', 'info'] });
  started.push(m);
  return m;
}

test('kill -9 under a create load loses no acknowledged create', { timeout: 120_000 }, async () => {
  const base = await tempDir();
  const dir = join(base, 'ns');
  let master = await start(dir, '127.0.0.1:0');
  const rpc = master.rpc;
  const ackLog = join(base, 'acks.txt');
  const client = new TandemClient({ masters: [rpc], deadlineMs: 60_000, backoff: { baseMs: 20, capMs: 200 } });
  try {
    const load = runMetaBench(client, { op: 'create', n: 30_000, window: 256, ackLog });
    // Let a good share of the creates be acknowledged, then crash the master mid-stream.
    await new Promise((r) => setTimeout(r, 700));
    await master.kill9();
    master = await start(dir, rpc);
    const result = await load;
    assert.equal(result.errors, 0, `creates failed after the restart: ${result.firstError}`);
    assert.ok(client.retries > 0, 'the crash should have forced some calls to retry');
    const verified = await verifyAckLog(client, ackLog);
    assert.equal(verified.checked, 30_000);
    assert.equal(verified.missing, 0, `acknowledged but missing: ${verified.missingSample.join(' ')}`);
  } finally {
    client.close();
  }
  // A second kill -9 with nothing in flight, then a restart: still all there, and the file count is exact.
  await master.kill9();
  master = await start(dir, rpc);
  const check = new TandemClient({ masters: [rpc] });
  try {
    const summary = await check.contentSummary('/bench');
    assert.equal(summary.fileCount, 30_000);
    assert.equal((await verifyAckLog(check, ackLog)).missing, 0);
  } finally {
    check.close();
  }
  // That start replayed every edit (a lone master takes no checkpoints): it saves an image of
  // them, so the next start replays nothing.
  await waitFor('an image saved after the replay', async () => (await listImages(dir)).some((image) => image.txid > 30_000), 30_000);
  assert.equal(await master.stop(), 0, 'a SIGTERM stop exits 0');
  master = await start(dir, rpc);
  const starts = (await readFile(join(base, 'master.log'), 'utf8')).split('\n').filter((line) => line.includes('edits replayed after the image'));
  assert.match(starts.at(-1) ?? '', /\(0 edits replayed after the image\)/, `the last start replayed edits again: ${starts.at(-1)}`);
  assert.equal(await master.stop(), 0, 'a SIGTERM stop exits 0');
});

test('SIGTERM drains in-flight calls: each is answered, and every answered create survives', { timeout: 60_000 }, async () => {
  const base = await tempDir();
  const dir = join(base, 'ns');
  const master = await start(dir, '127.0.0.1:0');
  const client = new TandemClient({ masters: [master.rpc], deadlineMs: 3_000, backoff: { baseMs: 10, capMs: 50 } });
  await client.mkdirs('/drain');
  const acknowledged: string[] = [];
  const calls = Array.from({ length: 2_000 }, (_, i) =>
    client.create(`/drain/f${i}`).then(
      () => acknowledged.push(`/drain/f${i}`),
      () => undefined,
    ),
  );
  // Stop while the load is in full flow: some calls answered, many still in flight.
  for (let i = 0; i < 500 && acknowledged.length < 50; i++) await new Promise((r) => setTimeout(r, 2));
  const exitCode = master.stop();
  await Promise.all(calls);
  client.close();
  assert.equal(await exitCode, 0);
  assert.ok(acknowledged.length > 0, 'calls sent before the SIGTERM were answered');
  const restarted = await start(dir, '127.0.0.1:0');
  const check = new TandemClient({ masters: [restarted.rpc] });
  try {
    for (const path of acknowledged) assert.ok(await check.getFileInfo(path), `${path} was acknowledged before the stop but is missing`);
  } finally {
    check.close();
    await restarted.stop();
  }
});
