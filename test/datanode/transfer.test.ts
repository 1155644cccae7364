// Write pipelines, reads and copies between real DataTransferServers on 127.0.0.1, each with
// its own block store: replication 3 byte-identical everywhere; a datanode killed
// mid-write and the pipeline rebuilt (resumeRbw + copy + resend), or rebuilt at offset 0
// after a failure before any ack; a corrupt replica caught
// by the reader; a vanished client; malformed requests.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readlink, open as openFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockStore } from '../../src/datanode/block-store.js';
import { DEFAULT_DATANODE_CONFIG } from '../../src/datanode/config.js';
import { computeChunkCrcs } from '../../src/datanode/chunk-checksums.js';
import { TransferDecoder, encodeMessage, encodePacketHead, parseResponse } from '../../src/datanode/packet.js';
import { BlockWriter, PipelineError, copyBlock, readBlock } from '../../src/datanode/transfer-client.js';
import { DataTransferServer } from '../../src/datanode/transfer-server.js';
import { silentLogger } from '../../src/util/log.js';
import { tempDir } from '../helpers/temp.js';

const MiB = 1 << 20;
const config = DEFAULT_DATANODE_CONFIG;

interface Node {
  id: string;
  dir: string;
  store: BlockStore;
  server: DataTransferServer;
  finalized: string[];
}

const running: Node[] = [];
after(async () => {
  await Promise.all(running.map((n) => n.server.close()));
});

async function startNode(id: string): Promise<Node> {
  const dir = await tempDir(`tandem-dn-${id}-`);
  const store = await BlockStore.open(dir, silentLogger(), config);
  const finalized: string[] = [];
  const server = await DataTransferServer.start({
    store,
    host: '127.0.0.1',
    port: 0,
    log: silentLogger(),
    config,
    onBlockFinalized: (r) => finalized.push(r.blockId),
  });
  const node = { id, dir, store, server, finalized };
  running.push(node);
  return node;
}

const target = (n: Node) => ({ id: n.id, data: n.server.address });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(node: Node, blockId: string, genStamp: number, offset: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of readBlock(node.server.address, blockId, genStamp, offset, length, config)) parts.push(part);
  return Buffer.concat(parts);
}

/** Polls `check` until it is true or `timeoutMs` passes (bounded, so a hang fails the test). */
async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Files under `dir` this process holds open (Linux /proc). */
async function openFilesUnder(dir: string): Promise<string[]> {
  const held: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const path = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (path.startsWith(dir)) held.push(path);
  }
  return held;
}

test('a 100 MiB block written with replication 3 reads back byte-identical from every replica', { timeout: 120_000 }, async () => {
  const nodes = [await startNode('a1'), await startNode('a2'), await startNode('a3')];
  const data = randomBytes(100 * MiB + 12_345); // ends mid-chunk
  const writer = await BlockWriter.open({ targets: nodes.map(target), blockId: 'fms-0_1', genStamp: 1, config });
  // Uneven writes exercise the staging of partial packets as well as whole-packet views.
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = [3 * MiB, 777_777, 64 * 1024, 1][i % 4] as number;
    await writer.write(data.subarray(offset, Math.min(data.length, offset + size)));
    offset += size;
  }
  const result = await writer.finish();
  assert.deepEqual(result, { blockId: 'fms-0_1', genStamp: 1, length: data.length });
  const expected = sha256(data);
  for (const node of nodes) {
    assert.deepEqual(node.store.get('fms-0_1'), { blockId: 'fms-0_1', genStamp: 1, length: data.length, finalized: true }, node.id);
    assert.deepEqual(node.finalized, ['fms-0_1']);
    assert.equal(sha256(await readAll(node, 'fms-0_1', 1, 0, data.length)), expected, `replica on ${node.id}`);
  }
  // A range that starts and ends mid-chunk.
  assert.deepEqual(await readAll(nodes[1] as Node, 'fms-0_1', 1, 70_000, 5 * MiB), data.subarray(70_000, 70_000 + 5 * MiB));
  await assert.rejects(readAll(nodes[0] as Node, 'fms-0_1', 2, 0, 1), { code: 'BLOCK_NOT_FOUND' });
  for (const node of nodes) await node.server.close();
});

test('the middle datanode dies mid-write: PIPELINE_FAILED at index 1, then resume on a rebuilt pipeline', { timeout: 60_000 }, async () => {
  const [first, middle, last, spare] = [await startNode('b1'), await startNode('b2'), await startNode('b3'), await startNode('b4')] as [Node, Node, Node, Node];
  const data = randomBytes(48 * MiB + 1_000);
  const blockId = 'fms-1_7';
  const writer = await BlockWriter.open({ targets: [first, middle, last].map(target), blockId, genStamp: 5, config });
  let failure: unknown;
  let offset = 0;
  while (offset < 40 * MiB) {
    if (offset === 8 * MiB) {
      await eventually(() => writer.ackedBytes >= 4 * MiB, 'the first packets to be acked');
      void middle.server.close(); // kill it: its sockets are destroyed
    }
    try {
      await writer.write(data.subarray(offset, offset + 512 * 1024));
    } catch (err) {
      failure = err;
      break;
    }
    offset += 512 * 1024;
  }
  failure ??= await writer.finish().then(
    () => assert.fail('the pipeline should fail'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof PipelineError, String(failure));
  assert.equal(failure.code, 'PIPELINE_FAILED');
  assert.equal(failure.failedIndex, 1);
  assert.match(failure.message, /b2/, 'the message names the datanode');
  const acked = failure.ackedBytes;
  assert.equal(writer.ackedBytes, acked);
  assert.ok(acked >= 4 * MiB && acked <= 40 * MiB, `acked ${acked}`);
  const unacked = writer.unackedData();
  assert.equal(acked + unacked.length, writer.writtenBytes);
  assert.deepEqual(unacked, data.subarray(acked, writer.writtenBytes));

  // The first node holds at least every acked byte, intact.
  await eventually(() => first.store.openWriters === 0 && last.store.openWriters === 0, 'the broken transfers to close');
  const firstReplica = first.store.get(blockId);
  assert.ok(firstReplica && !firstReplica.finalized && firstReplica.length >= acked, JSON.stringify(firstReplica));
  assert.deepEqual(await readAll(first, blockId, 5, 0, acked), data.subarray(0, acked));

  // Pipeline recovery: survivors cut to the acked length at a new genStamp, the spare gets it by copy, the writer resends.
  await first.store.resumeRbw(blockId, 5, 6, acked);
  await last.store.resumeRbw(blockId, 5, 6, acked);
  await copyBlock(first.server.address, { blockId, genStamp: 6, length: acked, targets: [target(spare)], finalize: false }, config);
  assert.deepEqual(spare.store.get(blockId), { blockId, genStamp: 6, length: acked, finalized: false });
  const resumed = await BlockWriter.open({ targets: [first, last, spare].map(target), blockId, genStamp: 6, offset: acked, config });
  const resumeFrom = writer.writtenBytes;
  await resumed.write(unacked);
  await resumed.write(data.subarray(resumeFrom));
  assert.deepEqual(await resumed.finish(), { blockId, genStamp: 6, length: data.length });
  const expected = sha256(data);
  for (const node of [first, last, spare]) {
    assert.deepEqual(node.store.get(blockId), { blockId, genStamp: 6, length: data.length, finalized: true }, node.id);
    assert.equal(sha256(await readAll(node, blockId, 6, 0, data.length)), expected, `replica on ${node.id}`);
    assert.deepEqual(await node.store.verify(blockId), { ok: true, length: data.length });
  }
  for (const node of [first, last, spare]) await node.server.close();
});

test('a pipeline that failed before any ack is rebuilt at offset 0: the survivors take over the empty replicas at the new genStamp', { timeout: 30_000 }, async () => {
  const [e1, e2, dead] = [await startNode('e1'), await startNode('e2'), await startNode('e3')] as [Node, Node, Node];
  const blockId = 'fms-3_9';
  const deadTarget = target(dead);
  await dead.server.close();
  const failure = await BlockWriter.open({ targets: [target(e1), target(e2), deadTarget], blockId, genStamp: 3, config }).then(
    () => assert.fail('the pipeline should fail at its dead last node'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof PipelineError, String(failure));
  assert.equal(failure.failedIndex, 2);
  assert.equal(failure.ackedBytes, 0);
  // The survivors made their replicas before the dead node was found out.
  await eventually(() => e1.store.get(blockId) !== undefined && e2.store.get(blockId) !== undefined, 'the survivors\' empty replicas');
  // The same genStamp again is no rebuild: refused.
  await assert.rejects(
    BlockWriter.open({ targets: [target(e1), target(e2)], blockId, genStamp: 3, config }).then((w) => w.finish()),
    (err: unknown) => err instanceof PipelineError && /already exists/.test(err.message),
  );
  const data = randomBytes(300_000);
  const rebuilt = await BlockWriter.open({ targets: [target(e1), target(e2)], blockId, genStamp: 4, offset: 0, config });
  await rebuilt.write(data);
  assert.deepEqual(await rebuilt.finish(), { blockId, genStamp: 4, length: data.length });
  for (const node of [e1, e2]) {
    assert.deepEqual(node.store.get(blockId), { blockId, genStamp: 4, length: data.length, finalized: true }, node.id);
    assert.deepEqual(await readAll(node, blockId, 4, 0, data.length), data, `replica on ${node.id}`);
  }
  for (const node of [e1, e2]) await node.server.close();
});

test('a copy onto a datanode holding a stale finalized replica of the block resumes it at the new genStamp', { timeout: 30_000 }, async () => {
  // The FMS copies a complete block onto a datanode that finalized it at an older genStamp
  // before failing its pipeline (src/filemeta/block-map.ts): the copy takes that replica over.
  const [source, stale] = [await startNode('s1'), await startNode('s2')] as [Node, Node];
  const blockId = 'fms-3_12';
  const old = await BlockWriter.open({ targets: [target(stale)], blockId, genStamp: 1, config });
  await old.write(randomBytes(200_000));
  await old.finish();
  const data = randomBytes(300_000);
  const writer = await BlockWriter.open({ targets: [target(source)], blockId, genStamp: 2, config });
  await writer.write(data);
  await writer.finish();
  assert.deepEqual(await copyBlock(source.server.address, { blockId, genStamp: 2, length: data.length, targets: [target(stale)] }, config), { length: data.length });
  assert.deepEqual(stale.store.get(blockId), { blockId, genStamp: 2, length: data.length, finalized: true });
  assert.deepEqual(await readAll(stale, blockId, 2, 0, data.length), data);
  for (const node of [source, stale]) await node.server.close();
});

test('a copy onto a datanode holding what a failed copy of the block left in rbw/ writes it anew; a client write at 0 is still refused there', { timeout: 30_000 }, async () => {
  // A copy that breaks leaves its target an unfinished replica at the block's genStamp. The
  // FMS, told of the failure, schedules the copy again — often to the same target: it must
  // not be refused there for good ("a replica already exists").
  const [source, left] = [await startNode('a1'), await startNode('a2')] as [Node, Node];
  const blockId = 'fms-3_40';
  const data = randomBytes(3 * MiB + 11);
  const writer = await BlockWriter.open({ targets: [target(source)], blockId, genStamp: 4, config });
  await writer.write(data);
  await writer.finish();
  const broken = await BlockWriter.open({ targets: [target(left)], blockId, genStamp: 4, config });
  await broken.write(data.subarray(0, 2 * MiB));
  await eventually(() => broken.ackedBytes >= MiB, 'part of it acked');
  broken.abort();
  await eventually(() => left.store.openWriters === 0 && left.server.transfers === 0, 'the broken transfer closed');
  const leftover = left.store.get(blockId)!;
  assert.ok(!leftover.finalized && leftover.length < data.length, JSON.stringify(leftover));
  // Not a copy: refused as before (a second pipeline at the same genStamp is a mistake).
  await assert.rejects(BlockWriter.open({ targets: [target(left)], blockId, genStamp: 4, config }), /already exists/);
  assert.deepEqual(await copyBlock(source.server.address, { blockId, genStamp: 4, length: data.length, targets: [target(left)] }, config), { length: data.length });
  assert.deepEqual(left.store.get(blockId), { blockId, genStamp: 4, length: data.length, finalized: true });
  assert.deepEqual(await readAll(left, blockId, 4, 0, data.length), data);
  // A finalized replica is never discarded: a second copy is refused.
  await assert.rejects(copyBlock(source.server.address, { blockId, genStamp: 4, length: data.length, targets: [target(left)] }, config), /already exists/);
  for (const node of [source, left]) await node.server.close();
});

test('a byte corrupted on disk: readBlock throws CHECKSUM_MISMATCH and verify() finds the chunk', { timeout: 30_000 }, async () => {
  const node = await startNode('c1');
  const data = randomBytes(3 * MiB + 5);
  const writer = await BlockWriter.open({ targets: [target(node)], blockId: 'fms-2_3', genStamp: 9, config });
  await writer.write(data);
  await writer.finish();
  const badAt = 2 * MiB + 100_000;
  const handle = await openFile(join(node.dir, 'finalized', 'fms-2_3'), 'r+');
  await handle.write(Buffer.from([(data[badAt] as number) ^ 0x20]), 0, 1, badAt);
  await handle.close();
  const chunk = Math.floor(badAt / config.chunkBytes);
  await assert.rejects(readAll(node, 'fms-2_3', 9, 0, data.length), { code: 'CHECKSUM_MISMATCH', message: new RegExp(`chunk ${chunk} of fms-2_3`) });
  // A read that stays clear of the bad chunk is fine.
  assert.deepEqual(await readAll(node, 'fms-2_3', 9, 0, MiB), data.subarray(0, MiB));
  assert.deepEqual(await node.store.verify('fms-2_3'), { ok: false, chunkIndex: chunk });
  await node.server.close();
});

test('a client that vanishes mid-write leaves rbw replicas and no open file handles', { timeout: 30_000 }, async () => {
  const nodes = [await startNode('d1'), await startNode('d2'), await startNode('d3')];
  const writer = await BlockWriter.open({ targets: nodes.map(target), blockId: 'fms-4_1', genStamp: 2, config });
  const data = randomBytes(6 * MiB);
  await writer.write(data);
  await eventually(() => writer.ackedBytes >= 4 * MiB, 'some packets acked');
  writer.abort();
  for (const node of nodes) {
    await eventually(() => node.store.openWriters === 0 && node.server.transfers === 0, `${node.id} to close the transfer`);
    const replica = node.store.get('fms-4_1');
    assert.ok(replica && !replica.finalized && replica.length >= writer.ackedBytes, `${node.id}: ${JSON.stringify(replica)}`);
    assert.deepEqual(await openFilesUnder(node.dir), [], `${node.id} holds no files`);
    assert.deepEqual(await readAll(node, 'fms-4_1', 2, 0, replica.length), data.subarray(0, replica.length));
  }
  for (const node of nodes) await node.server.close();
});

/** Sends raw bytes and collects what comes back until the server closes (or 2 s pass). */
async function rawExchange(address: string, bytes: Buffer): Promise<Buffer> {
  const [host, port] = address.split(':') as [string, string];
  const socket = net.connect({ host, port: Number(port) });
  const received: Buffer[] = [];
  socket.on('data', (c: Buffer) => received.push(c));
  socket.on('error', () => undefined);
  socket.write(bytes);
  await Promise.race([new Promise((resolve) => socket.once('close', resolve)), sleep(2_000)]);
  socket.destroy();
  return Buffer.concat(received);
}

function errorCodeOf(bytes: Buffer): string {
  const decoder = new TransferDecoder(config);
  decoder.push(bytes);
  const response = parseResponse(decoder.nextFrame());
  assert.equal(response.ok, false);
  return response.ok ? '' : response.code;
}

test('malformed requests get an error reply and a closed socket; the server keeps serving', { timeout: 30_000 }, async () => {
  const node = await startNode('e1');
  const huge = Buffer.alloc(8);
  huge.writeUInt32BE(0xffffffff);
  assert.equal(errorCodeOf(await rawExchange(node.server.address, huge)), 'FRAME_TOO_LARGE');
  const garbage = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0xc1, 0xc1, 0xc1])]);
  assert.equal(errorCodeOf(await rawExchange(node.server.address, garbage)), 'MALFORMED_FRAME');
  const wrongShape = encodeMessage({ op: 'write', blockId: 'x/../../y', genStamp: 1, offset: 0, targets: [] }, config.requestBytesMax);
  assert.equal(errorCodeOf(await rawExchange(node.server.address, wrongShape)), 'INVALID_ARGUMENT');
  // A valid write request followed by a packet with a garbage header: an error ack, then the socket closes.
  const request = encodeMessage({ op: 'write', blockId: 'fms-5_1', genStamp: 1, offset: 0, targets: [] }, config.requestBytesMax);
  const reply = await rawExchange(node.server.address, Buffer.concat([request, randomBytes(64).fill(0xee, 0, 24)]));
  const decoder = new TransferDecoder(config);
  decoder.push(reply);
  assert.deepEqual(parseResponse(decoder.nextFrame()), { ok: true });
  assert.notEqual(decoder.nextAck()?.status, 0, 'the garbage packet is answered with a failing ack');
  // Half a request, then silence and a close: nothing breaks.
  await rawExchange(node.server.address, request.subarray(0, 5));
  await eventually(() => node.server.transfers === 0 && node.store.openWriters === 0, 'the bad connections to close');

  // Still serving.
  const writer = await BlockWriter.open({ targets: [target(node)], blockId: 'fms-5_2', genStamp: 1, config });
  const data = randomBytes(100_000);
  await writer.write(data);
  await writer.finish();
  assert.deepEqual(await readAll(node, 'fms-5_2', 1, 0, data.length), data);
  await node.server.close();
});

/** A fake datanode: answers every read with `ok`, then sends `after` and closes (or keeps the connection open). */
async function fakeReadServer(after: Buffer, close = true): Promise<{ address: string; stop: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write(encodeMessage({ ok: true, length: 1 }, config.requestBytesMax));
      if (close) socket.end(after);
      else socket.write(after);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('reads: a slow reader pauses the datanode and still gets every byte; a cut or malformed stream is a typed error', { timeout: 60_000 }, async () => {
  const node = await startNode('f1');
  const data = randomBytes(12 * MiB + 1234);
  const writer = await BlockWriter.open({ targets: [target(node)], blockId: 'fms-6_1', genStamp: 1, config });
  await writer.write(data);
  await writer.finish();
  // The reader queues at most a few packets, then stops reading until these slow steps take them.
  const parts: Buffer[] = [];
  for await (const part of readBlock(node.server.address, 'fms-6_1', 1, 0, data.length, config)) {
    parts.push(part);
    await sleep(15);
  }
  assert.deepEqual(Buffer.concat(parts), data);
  // Reusing its buffers, the reader hands out the same few pieces of memory again and again; each holds the right bytes while it is ours.
  const hash = createHash('sha256');
  const memories = new Set<ArrayBufferLike>();
  let pieces = 0;
  for await (const part of readBlock(node.server.address, 'fms-6_1', 1, 0, data.length, config, { reuseBuffers: true })) {
    hash.update(part);
    memories.add(part.buffer);
    pieces++;
    if (pieces % 3 === 0) await sleep(15);
  }
  assert.equal(hash.digest('hex'), sha256(data));
  assert.ok(pieces >= 13 && memories.size <= 6, `${pieces} pieces in ${memories.size} buffers`);
  // A range inside one packet, and one across packets.
  assert.deepEqual(await readAll(node, 'fms-6_1', 1, 5, 10), data.subarray(5, 15));
  assert.deepEqual(await readAll(node, 'fms-6_1', 1, MiB - 7, 2 * MiB), data.subarray(MiB - 7, 3 * MiB - 7));
  // An error answer is the datanode's typed error.
  await assert.rejects(readAll(node, 'fms-6_1', 2, 0, 10), { code: 'BLOCK_NOT_FOUND' });
  await node.server.close();

  const payload = randomBytes(1000);
  const packet = Buffer.concat([encodePacketHead(0, false, 0, payload.length, computeChunkCrcs(payload, config.chunkBytes)), payload]);
  // The connection ends in the middle of a packet.
  const cut = await fakeReadServer(packet.subarray(0, 500));
  await assert.rejects(readAll({ server: { address: cut.address } } as Node, 'fms-6_2', 1, 0, payload.length), { code: 'CONNECTION_LOST' });
  await cut.stop();
  // A packet header that breaks the limits.
  const head = encodePacketHead(0, false, 0, payload.length, computeChunkCrcs(payload, config.chunkBytes));
  head.writeUInt32BE(7, 20); // 7 CRCs for 1000 bytes
  const malformed = await fakeReadServer(Buffer.concat([head, payload]), false);
  await assert.rejects(readAll({ server: { address: malformed.address } } as Node, 'fms-6_2', 1, 0, payload.length), { code: 'MALFORMED_FRAME' });
  await malformed.stop();
});

test('a pipeline that fails while finish() waits for room: finish rejects with PipelineError, and nothing is left unhandled', { timeout: 30_000 }, async () => {
  // A datanode that takes the request, then never acks and hangs up once the window is full.
  const windowBytes = DEFAULT_DATANODE_CONFIG.packetsInFlightMax * DEFAULT_DATANODE_CONFIG.packetDataBytesMax;
  const server = net.createServer((socket) => {
    let received = 0;
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (!answered) {
        answered = true;
        socket.write(encodeMessage({ ok: true }, DEFAULT_DATANODE_CONFIG.requestBytesMax));
      }
      received += chunk.length;
      if (received > windowBytes) setTimeout(() => socket.destroy(), 50);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    const address = server.address() as net.AddressInfo;
    const writer = await BlockWriter.open({ targets: [{ id: 'mute', data: `127.0.0.1:${address.port}` }], blockId: 'fms-0_1', genStamp: 1 });
    await writer.write(randomBytes(windowBytes)); // the whole window in flight, none acked
    await assert.rejects(writer.finish(), (err: unknown) => err instanceof PipelineError && err.failedIndex === 0);
    await sleep(100); // an unhandled rejection is reported after the microtask queue drains
    assert.deepEqual(unhandled, [], 'no promise of the writer rejected unhandled');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    server.close();
  }
});
