// RpcServer and RpcConnection together over real sockets on 127.0.0.1, plus raw peers for
// what a well-behaved client never sends.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { TandemError } from '../../src/errors.js';
import { limitsWith, type Limits } from '../../src/config/limits.js';
import { silentLogger, type Logger } from '../../src/util/log.js';
import { RpcServer, type RpcHandler } from '../../src/rpc/server.js';
import { RpcConnection } from '../../src/rpc/connection.js';
import { encodeFrame } from '../../src/rpc/frame.js';
import { PROTOCOL_VERSION } from '../../src/rpc/protocol.js';
import { RawPeer, sleep, startFakeServer, waitFor } from './raw-peer.js';

const HOST = '127.0.0.1';

const handler: RpcHandler = (method, args, ctx) => {
  const a = args as { value?: unknown; delayMs?: number; bytes?: number };
  switch (method) {
    case 'echo':
      return args;
    case 'asyncEcho':
      return Promise.resolve(args);
    case 'delayedEcho':
      return new Promise((resolve) => setTimeout(resolve, a.delayMs ?? 0, a.value));
    case 'hang':
      return new Promise(() => {});
    case 'fail':
      throw new TandemError('NOT_FOUND', 'no such file: /x');
    case 'rejectFail':
      return Promise.reject(new TandemError('FILE_EXISTS', 'already there: /y'));
    case 'crash':
      throw new Error('secret internal detail');
    case 'rejectCrash':
      return Promise.reject(new Error('secret internal detail'));
    case 'big':
      return Buffer.alloc(a.bytes ?? 0);
    case 'context':
      return { connectionId: ctx.connectionId, remote: ctx.remote, remainingMs: ctx.deadlineAt - performance.now() };
    case 'nothing':
      return undefined;
    default:
      throw new Error(`test handler has no ${method}`);
  }
};
const methods = new Set(['echo', 'asyncEcho', 'delayedEcho', 'hang', 'fail', 'rejectFail', 'crash', 'rejectCrash', 'big', 'context', 'nothing']);

const toClose: { close(): unknown }[] = [];
after(async () => {
  for (const item of toClose.reverse()) await item.close();
});

async function startServer(overrides: Partial<Limits> = {}, log: Logger = silentLogger()) {
  const limits = limitsWith({ handshakeTimeoutMs: 1_000, drainTimeoutMs: 1_000, ...overrides });
  const server = new RpcServer({ handler, methods, limits, log, serverName: 'test-server' });
  toClose.push(server);
  const { port } = await server.listen(HOST, 0);
  return { server, port, limits };
}

async function connectTo(port: number, overrides: Partial<Limits> = {}): Promise<RpcConnection> {
  const connection = await RpcConnection.connect(HOST, port, { limits: limitsWith(overrides), clientName: 'test-client' });
  toClose.push(connection);
  return connection;
}

function isCode(code: string, messagePattern?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof TandemError, `expected a TandemError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (messagePattern !== undefined) assert.match(err.message, messagePattern);
    return true;
  };
}

describe('calls', async () => {
  const { server, port } = await startServer({ inFlightPerConnectionMax: 20_000 });
  const connection = await connectTo(port, { inFlightPerConnectionMax: 20_000 });

  it('handshakes and round-trips a value', async () => {
    assert.equal(connection.serverName, 'test-server');
    const args = { path: '/a/b', list: [1, 2.5, 'x'], nested: { flag: true, none: null }, data: Buffer.from([1, 2, 3]) };
    const result = await connection.call<typeof args>('echo', args);
    assert.deepEqual({ ...result, data: Buffer.from(result.data) }, args);
    assert.deepEqual(await connection.call('asyncEcho', 'x'), 'x');
    assert.equal(await connection.call('nothing', null), null); // undefined travels as nil
  });

  it('gives the handler its context with the caller deadline', async () => {
    const ctx = await connection.call<{ connectionId: number; remote: string; remainingMs: number }>('context', null, { deadlineMs: 5_000 });
    assert.ok(ctx.connectionId >= 1);
    assert.match(ctx.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(ctx.remainingMs > 4_000 && ctx.remainingMs <= 5_000, `remaining ${ctx.remainingMs}`);
  });

  it('answers 10,000 pipelined calls completing out of order, each with its own result', async () => {
    const calls: Promise<number>[] = [];
    for (let i = 0; i < 10_000; i++) {
      calls.push(connection.call<number>('delayedEcho', { value: i, delayMs: Math.floor(Math.random() * 5) }));
    }
    const results = await Promise.all(calls);
    for (let i = 0; i < results.length; i++) assert.equal(results[i], i);
    assert.equal(connection.inFlight, 0);
  });

  it('answers UNKNOWN_METHOD and keeps the connection open', async () => {
    await assert.rejects(connection.call('noSuchMethod', null), isCode('UNKNOWN_METHOD', /noSuchMethod/));
    assert.equal(await connection.call('echo', 1), 1);
  });

  it('passes a handler TandemError through, thrown or rejected', async () => {
    await assert.rejects(connection.call('fail', null), isCode('NOT_FOUND', /no such file: \/x/));
    await assert.rejects(connection.call('rejectFail', null), isCode('FILE_EXISTS', /already there/));
  });

  it('turns any other handler error into INTERNAL with a generic message', async () => {
    for (const method of ['crash', 'rejectCrash']) {
      await assert.rejects(connection.call(method, null), (err) => {
        isCode('INTERNAL')(err);
        assert.doesNotMatch((err as Error).message, /secret/);
        return true;
      });
    }
    assert.equal(await connection.call('echo', 2), 2);
  });

  it('answers FRAME_TOO_LARGE for a reply over the limit and stays open', async () => {
    const { port: smallPort } = await startServer({ frameBytesMax: 10_000 });
    const small = await connectTo(smallPort);
    await assert.rejects(small.call('big', { bytes: 20_000 }), isCode('FRAME_TOO_LARGE'));
    assert.equal(((await small.call('big', { bytes: 100 })) as Buffer).length, 100);
  });

  it('refuses to send a request over the limit, locally', async () => {
    const small = await RpcConnection.connect(HOST, port, { limits: limitsWith({ frameBytesMax: 100 }), clientName: 'small' });
    toClose.push(small);
    await assert.rejects(small.call('echo', 'x'.repeat(200)), isCode('FRAME_TOO_LARGE'));
    assert.equal(await small.call('echo', 'ok'), 'ok');
  });

  it('counts calls and errors', () => {
    const stats = server.stats();
    assert.ok(stats.callsTotal > 10_000);
    assert.ok(stats.errorsTotal >= 5);
    assert.equal(stats.inFlight, 0);
    assert.ok(stats.connections >= 1);
  });
});

describe('deadlines', async () => {
  const { server, port } = await startServer();
  const connection = await connectTo(port);

  it('rejects locally with DEADLINE_EXCEEDED when no reply comes in time', async () => {
    const started = performance.now();
    await assert.rejects(connection.call('hang', null, { deadlineMs: 50 }), isCode('DEADLINE_EXCEEDED'));
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs >= 45 && elapsedMs < 500, `took ${elapsedMs} ms`);
    await waitFor(() => server.stats().inFlight === 0);
  });

  it('server answers DEADLINE_EXCEEDED at the deadline and drops the late result', async () => {
    const peer = await RawPeer.connect(port);
    try {
      await peer.hello();
      const started = performance.now();
      peer.sendValue({ id: 5, method: 'delayedEcho', args: { value: 'late', delayMs: 300 }, deadlineMs: 60 });
      const reply = (await peer.nextFrame()) as { id: number; error: { code: string } };
      const elapsedMs = performance.now() - started;
      assert.equal(reply.id, 5);
      assert.equal(reply.error.code, 'DEADLINE_EXCEEDED');
      assert.ok(elapsedMs >= 55 && elapsedMs < 250, `answered after ${elapsedMs} ms`);
      // The handler finishes at 300 ms; nothing more may arrive for id 5.
      peer.sendValue({ id: 6, method: 'delayedEcho', args: { value: 'marker', delayMs: 350 } });
      assert.deepEqual(await peer.nextFrame(), { id: 6, ok: 'marker' });
    } finally {
      peer.destroy();
    }
  });

  it('a call arriving with deadlineMs 0 is answered DEADLINE_EXCEEDED at once', async () => {
    const peer = await RawPeer.connect(port);
    try {
      await peer.hello();
      peer.sendValue({ id: 1, method: 'echo', args: 1, deadlineMs: 0 });
      assert.equal(((await peer.nextFrame()) as { error: { code: string } }).error.code, 'DEADLINE_EXCEEDED');
    } finally {
      peer.destroy();
    }
  });
});

describe('handshake and bad input', async () => {
  const { port } = await startServer({ handshakeTimeoutMs: 150, frameBytesMax: 64 * 1024 });

  async function expectConnectionError(peer: RawPeer, code: string): Promise<void> {
    const frames = await peer.framesUntilClose();
    assert.equal(frames.length, 1, JSON.stringify(frames));
    const frame = frames[0] as { id: number; error: { code: string } };
    assert.equal(frame.id, 0);
    assert.equal(frame.error.code, code);
    assert.ok(peer.closed);
  }

  it('answers a hello of another version with VERSION_MISMATCH and closes', async () => {
    const peer = await RawPeer.connect(port);
    peer.sendValue({ hello: { version: PROTOCOL_VERSION + 1, client: 'future' } });
    await expectConnectionError(peer, 'VERSION_MISMATCH');
  });

  it('answers a request before hello with HANDSHAKE_REQUIRED and closes', async () => {
    const peer = await RawPeer.connect(port);
    peer.sendValue({ id: 1, method: 'echo', args: 1 });
    await expectConnectionError(peer, 'HANDSHAKE_REQUIRED');
  });

  it('closes a connection that says nothing within handshakeTimeoutMs', async () => {
    const peer = await RawPeer.connect(port);
    const started = performance.now();
    await expectConnectionError(peer, 'HANDSHAKE_REQUIRED');
    assert.ok(performance.now() - started >= 140);
  });

  it('answers non-msgpack bytes with MALFORMED_FRAME and closes', async () => {
    const peer = await RawPeer.connect(port);
    await peer.hello();
    peer.send(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]));
    await expectConnectionError(peer, 'MALFORMED_FRAME');
  });

  it('answers a malformed request with MALFORMED_FRAME carrying its id, and closes', async () => {
    const peer = await RawPeer.connect(port);
    await peer.hello();
    peer.sendValue({ id: 4, method: 42 });
    const frames = await peer.framesUntilClose();
    assert.deepEqual(
      frames.map((f) => [(f as { id: number }).id, (f as { error: { code: string } }).error.code]),
      [[4, 'MALFORMED_FRAME']],
    );
  });

  it('answers an oversized length prefix with FRAME_TOO_LARGE before any body arrives', async () => {
    const peer = await RawPeer.connect(port);
    await peer.hello();
    // Only the 4 length bytes: if the server waited for the body it would never answer.
    peer.send(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await expectConnectionError(peer, 'FRAME_TOO_LARGE');
  });

  it('decodes frames that arrive one byte at a time', async () => {
    // Its own server, with a handshake timeout that a trickled hello meets on a loaded machine (40 bytes, 1 ms apart at best).
    const trickle = await startServer({ handshakeTimeoutMs: 30_000, frameBytesMax: 64 * 1024 });
    const peer = await RawPeer.connect(trickle.port);
    try {
      const bytes = Buffer.concat([
        encodeFrame({ hello: { version: PROTOCOL_VERSION, client: 'trickle' } }, 1024),
        encodeFrame({ id: 1, method: 'echo', args: 'trickled' }, 1024),
      ]);
      for (const byte of bytes) {
        peer.send(Buffer.from([byte]));
        await sleep(1);
      }
      assert.deepEqual(await peer.nextFrame(), { hello: { version: PROTOCOL_VERSION, server: 'test-server' } });
      assert.deepEqual(await peer.nextFrame(), { id: 1, ok: 'trickled' });
    } finally {
      peer.destroy();
    }
  });

  it('closes the connection on a duplicate in-flight id', async () => {
    const peer = await RawPeer.connect(port);
    await peer.hello();
    peer.sendValue({ id: 3, method: 'hang', args: null });
    peer.sendValue({ id: 3, method: 'hang', args: null });
    await expectConnectionError(peer, 'MALFORMED_FRAME');
  });

  it('RpcConnection.connect rejects VERSION_MISMATCH when the server refuses or speaks another version', async () => {
    const refusing = await startFakeServer((socket) => {
      socket.once('data', () => socket.end(encodeFrame({ id: 0, error: { code: 'VERSION_MISMATCH', message: 'v1 only' } }, 1024)));
    });
    toClose.push(refusing.server);
    await assert.rejects(
      RpcConnection.connect(HOST, refusing.port, { limits: limitsWith(), clientName: 'c' }),
      isCode('VERSION_MISMATCH', /v1 only/),
    );
    const newer = await startFakeServer((socket) => {
      socket.once('data', () => socket.write(encodeFrame({ hello: { version: PROTOCOL_VERSION + 1, server: 'new' } }, 1024)));
    });
    toClose.push(newer.server);
    await assert.rejects(RpcConnection.connect(HOST, newer.port, { limits: limitsWith(), clientName: 'c' }), isCode('VERSION_MISMATCH'));
  });

  it('RpcConnection.connect rejects CONNECTION_LOST when nothing listens or nothing answers', async () => {
    const silent = await startFakeServer(() => {});
    toClose.push(silent.server);
    await assert.rejects(
      RpcConnection.connect(HOST, silent.port, { limits: limitsWith(), clientName: 'c', connectTimeoutMs: 100 }),
      isCode('CONNECTION_LOST', /handshake/),
    );
    silent.server.close();
    await sleep(10);
    await assert.rejects(RpcConnection.connect(HOST, silent.port, { limits: limitsWith(), clientName: 'c' }), isCode('CONNECTION_LOST'));
  });
});

describe('limits', async () => {
  it('answers TOO_MANY_IN_FLIGHT for calls beyond the per-connection limit', async () => {
    const { port } = await startServer({ inFlightPerConnectionMax: 2 });
    const peer = await RawPeer.connect(port);
    try {
      await peer.hello();
      for (let id = 1; id <= 3; id++) peer.sendValue({ id, method: 'hang', args: null });
      // The server cannot know a handler is synchronous before running it, so any call counts.
      peer.sendValue({ id: 4, method: 'echo', args: 'also refused' });
      const tooMany = { code: 'TOO_MANY_IN_FLIGHT', message: '2 calls in flight on this connection, the limit' };
      assert.deepEqual(await peer.nextFrame(), { id: 3, error: tooMany });
      assert.deepEqual(await peer.nextFrame(), { id: 4, error: tooMany });
    } finally {
      peer.destroy();
    }
  });

  it('answers TOO_MANY_IN_FLIGHT beyond the server-wide limit, whichever connection asks', async () => {
    const { port } = await startServer({ inFlightTotalMax: 2 });
    const a = await connectTo(port);
    const b = await connectTo(port);
    const held = [a.call('hang', null), b.call('hang', null)].map((call) => assert.rejects(call, isCode('CONNECTION_LOST')));
    await sleep(20); // both calls are in the server's in-flight table
    await assert.rejects(b.call('asyncEcho', 1), isCode('TOO_MANY_IN_FLIGHT', /2 calls in flight on this server/));
    a.close();
    b.close();
    await Promise.all(held);
  });

  it('the client caps its own in-flight calls', async () => {
    const { port } = await startServer();
    const connection = await connectTo(port, { inFlightPerConnectionMax: 2 });
    // Expectations attached at once: the rejections must not count as unhandled.
    const held = [connection.call('hang', null), connection.call('hang', null)].map((call) => assert.rejects(call, isCode('CONNECTION_LOST')));
    await assert.rejects(connection.call('echo', 1), isCode('TOO_MANY_IN_FLIGHT'));
    connection.close();
    await Promise.all(held);
  });

  it('refuses connections beyond connectionsMax', async () => {
    const { server, port } = await startServer({ connectionsMax: 1 });
    const first = await connectTo(port);
    await assert.rejects(
      RpcConnection.connect(HOST, port, { limits: limitsWith(), clientName: 'second' }),
      isCode('CONNECTION_LOST'),
    );
    assert.equal(await first.call('echo', 'still fine'), 'still fine');
    assert.equal(server.stats().connections, 1);
  });
});

describe('shutdown and connection loss', async () => {
  it('close() drains calls in flight and answers new ones SHUTTING_DOWN', async () => {
    const { server, port } = await startServer();
    const connection = await connectTo(port);
    const slow = connection.call('delayedEcho', { value: 'drained', delayMs: 200 });
    slow.catch(() => {}); // awaited below; this keeps an early failure from counting as unhandled
    await waitFor(() => server.stats().inFlight === 1);
    const closing = server.close();
    await assert.rejects(connection.call('echo', 1), isCode('SHUTTING_DOWN'));
    assert.equal(await slow, 'drained');
    await closing;
    await waitFor(() => connection.closed);
    await assert.rejects(RpcConnection.connect(HOST, port, { limits: limitsWith(), clientName: 'late' }), isCode('CONNECTION_LOST'));
  });

  it('close() gives up on calls that outlive drainTimeoutMs', async () => {
    const { server, port } = await startServer({ drainTimeoutMs: 100 });
    const connection = await connectTo(port);
    const stuck = assert.rejects(connection.call('hang', null), isCode('CONNECTION_LOST'));
    await waitFor(() => server.stats().inFlight === 1);
    const started = performance.now();
    await server.close();
    assert.ok(performance.now() - started < 1_000);
    await stuck;
  });

  it('rejects every pending call with CONNECTION_LOST when the socket closes', async () => {
    const fake = await startFakeServer((socket) => {
      let said = false;
      socket.on('data', () => {
        if (!said) {
          said = true;
          socket.write(encodeFrame({ hello: { version: PROTOCOL_VERSION, server: 'fake' } }, 1024));
        } else {
          setTimeout(() => socket.destroy(), 20);
        }
      });
    });
    toClose.push(fake.server);
    const connection = await connectTo(fake.port);
    let closeEvents = 0;
    connection.on('close', () => closeEvents++);
    await Promise.all([1, 2, 3].map((n) => assert.rejects(connection.call('echo', n), isCode('CONNECTION_LOST'))));
    await waitFor(() => closeEvents === 1);
    assert.ok(connection.closed);
    await assert.rejects(connection.call('echo', 4), isCode('CONNECTION_LOST'));
  });

  it('logs an unexpected handler error with its stack', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
    const { port } = await startServer({}, log);
    const connection = await connectTo(port);
    await assert.rejects(connection.call('crash', null), isCode('INTERNAL'));
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; err?: { stack?: string } });
    assert.ok(logged.some((entry) => /crash/.test(entry.msg) && /secret internal detail/.test(entry.err?.stack ?? '')), lines.join('\n'));
  });
});
