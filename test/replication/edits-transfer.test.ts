// Edits over HTTP: a dead master's storage, its in-progress segment torn mid-record, read
// ("sealed") up to the last whole record without being written to; and an image server's
// `GET /edits?from=` checked record by record on the receiving side.
import assert from 'node:assert/strict';
import { cp, readdir, readFile, truncate, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { createNamespaceMachine, type NamespaceState } from '../../src/namespace/machine.js';
import type { NamespaceMutation } from '../../src/namespace/ops.js';
import { fetchEdits, readEditsFrom } from '../../src/replication/edits-transfer.js';
import { scanRecords, SEGMENT_HEADER_BYTES } from '../../src/replication/record-codec.js';
import { ReplicationEngine } from '../../src/replication/engine.js';
import { startImageServer } from '../../src/replication/image-server.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';

const machine = createNamespaceMachine({ superuser: 'hdfs' });
type Engine = ReplicationEngine<NamespaceState, NamespaceMutation, unknown>;
const op = (i: number): NamespaceMutation => ({ type: 'mkdirs', path: `/e${i}`, user: 'hdfs', groups: [], clientId: 't', callId: i, time: i }) as NamespaceMutation;

test('a dead master\'s torn in-progress segment is read up to its last whole record, and nothing is written', async () => {
  const base = await tempDir();
  const live = join(base, 'live');
  const engine = (await ReplicationEngine.open({ dir: live, machine, limits: limitsWith({ segmentBytesMax: 2_048 }), log: silentLogger() })) as Engine;
  for (let i = 1; i <= 60; i++) await engine.submit(op(i));
  // What kill -9 leaves: the files as they are, the in-progress segment included.
  const dead = join(base, 'dead');
  await cp(live, dead, { recursive: true });
  await engine.close();
  const inProgress = (await readdir(dead)).find((n) => n.startsWith('edits_inprogress_'));
  assert.ok(inProgress, 'the copy has an in-progress segment');
  const path = join(dead, inProgress);
  // Tear the last record: cut the file 3 bytes before the end of its records (the writer
  // preallocates, so zeros follow the records in a live segment).
  const { endOffset } = scanRecords(await readFile(path), { start: SEGMENT_HEADER_BYTES });
  assert.ok((await stat(path)).size > endOffset, 'preallocated zeros follow the records');
  await truncate(path, endOffset - 3);
  const before = await readFile(path);

  const records = await readEditsFrom(dead, 1, { includeInProgress: true, recordsMax: 1_000 });
  assert.deepEqual(records.map((r) => r.txid), Array.from({ length: 59 }, (_, i) => i + 1), 'every whole record, the torn one left out');
  assert.equal((records[10]!.op as NamespaceMutation & { path: string }).path, '/e11');
  assert.deepEqual(await readFile(path), before, 'reading seals nothing on disk');
  const fromMiddle = await readEditsFrom(dead, 40, { includeInProgress: true, recordsMax: 5 });
  assert.deepEqual(fromMiddle.map((r) => r.txid), [40, 41, 42, 43, 44]);
  // Finalized segments only (what an image server serves): the in-progress records are not there.
  const finalized = await readEditsFrom(dead, 1, { includeInProgress: false, recordsMax: 1_000 });
  assert.ok(finalized.length < 59 && finalized.every((r, i) => r.txid === i + 1));
});

test('GET /edits?from= on an image server returns checked records from that txid', async () => {
  const dir = await tempDir();
  const engine = (await ReplicationEngine.open({ dir, machine, limits: limitsWith({ segmentBytesMax: 1_024 }), log: silentLogger() })) as Engine;
  for (let i = 1; i <= 40; i++) await engine.submit(op(i));
  await engine.maybeRoll();
  await engine.close();
  const { server, address } = await startImageServer({
    host: '127.0.0.1',
    port: 0,
    imageBytesMax: 1 << 20,
    log: silentLogger(),
    member: { dir: () => dir, activeEpoch: () => null, durableTxid: () => 40, imageStored: async () => undefined },
  });
  try {
    const records = await fetchEdits(address, 25, 5_000);
    assert.deepEqual(records.map((r) => r.txid), Array.from({ length: 16 }, (_, i) => i + 25));
    assert.equal((await fetchEdits(address, 41, 5_000)).length, 0);
    const bad = await fetch(`http://${address}/edits?from=zero`);
    assert.equal(bad.status, 400);
    const upload = await fetch(`http://${address}/images/10?epoch=1`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from('not an image') });
    assert.equal(upload.status, 503, 'a standby (not active) refuses checkpoints with NOT_ACTIVE');
  } finally {
    await server.close();
  }
});

test('records before the one asked for are stepped over by their lengths; a damaged length there serves nothing past it', async () => {
  const base = await tempDir();
  const live = join(base, 'live');
  const engine = (await ReplicationEngine.open({ dir: live, machine, limits: limitsWith(), log: silentLogger() })) as Engine;
  for (let i = 1; i <= 30; i++) await engine.submit(op(i));
  const dead = join(base, 'dead');
  await cp(live, dead, { recursive: true });
  await engine.close();
  const path = join(dead, (await readdir(dead)).find((n) => n.startsWith('edits_inprogress_'))!);
  const bytes = await readFile(path);
  // The offset of each record, from the segment's header on.
  const offsets: number[] = [];
  for (let offset = SEGMENT_HEADER_BYTES; offsets.length < 30; offset += 8 + bytes.readUInt32BE(offset)) offsets.push(offset);
  assert.deepEqual((await readEditsFrom(dead, 28, { includeInProgress: true, recordsMax: 100 })).map((r) => r.txid), [28, 29, 30]);

  // The payload of record 5 damaged: not read on the way to 28 (its CRC is not checked there), still refused when asked for.
  const damagedPayload = Buffer.from(bytes);
  damagedPayload[offsets[4]! + 8 + 2]! ^= 0xff;
  await writeFile(path, damagedPayload);
  assert.deepEqual((await readEditsFrom(dead, 28, { includeInProgress: true, recordsMax: 100 })).map((r) => r.txid), [28, 29, 30]);
  assert.deepEqual((await readEditsFrom(dead, 1, { includeInProgress: true, recordsMax: 100 })).map((r) => r.txid), [1, 2, 3, 4], 'a bad CRC ends a dead in-progress segment');

  // The length of record 5 damaged: the walk leaves the frames, and what it lands on is never served as a record.
  for (const length of [0, 3, 1 << 30]) {
    const damagedLength = Buffer.from(bytes);
    damagedLength.writeUInt32BE(length, offsets[4]!);
    await writeFile(path, damagedLength);
    assert.deepEqual(await readEditsFrom(dead, 28, { includeInProgress: true, recordsMax: 100 }), [], `length ${length}`);
  }
});
