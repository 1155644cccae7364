// Fuzzing the server with what a peer might send: random bytes, random msgpack values and
// near-miss requests, with and without a hello first. Whatever arrives, the server answers
// with well-formed frames (errors, or a reply if the input happened to be a valid call) and
// closes when the stream cannot be trusted — and a fresh well-behaved connection still works.
// A crash would surface as an uncaught exception failing this file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { limitsWith } from '../../src/config/limits.js';
import { silentLogger } from '../../src/util/log.js';
import { RpcServer } from '../../src/rpc/server.js';
import { RpcConnection } from '../../src/rpc/connection.js';
import { encodeFrame } from '../../src/rpc/frame.js';
import { isReplyFrame, PROTOCOL_VERSION } from '../../src/rpc/protocol.js';
import { RawPeer } from './raw-peer.js';

const HOST = '127.0.0.1';
const limits = limitsWith({ frameBytesMax: 64 * 1024, handshakeTimeoutMs: 2_000, inFlightPerConnectionMax: 64 });
const RUNS = 120;

let server: RpcServer;
let port: number;

before(async () => {
  server = new RpcServer({
    // A synchronous and an asynchronous echo, so both reply paths are reached.
    handler: (method, args) => (method === 'echo' ? args : Promise.resolve(args)),
    methods: new Set(['echo', 'asyncEcho']),
    limits,
    log: silentLogger(),
    serverName: 'fuzz-server',
  });
  ({ port } = await server.listen(HOST, 0));
});

after(async () => {
  await server.close();
});

function isServerHello(frame: unknown): boolean {
  const hello = (frame as { hello?: { version?: unknown; server?: unknown } }).hello;
  return hello?.version === PROTOCOL_VERSION && hello.server === 'fuzz-server';
}

/** Sends `bytes`, half-closes, and checks that all the server sent is well formed and that it closed. */
async function sendAndCheck(bytes: Uint8Array, withHello: boolean): Promise<void> {
  const peer = await RawPeer.connect(port);
  try {
    if (withHello) assert.ok(isServerHello(await peer.hello('fuzzer')));
    peer.send(bytes);
    peer.end();
    const frames = await peer.framesUntilClose(3_000);
    // Without our hello, the fuzzer's own bytes may be a valid hello and earn the server's.
    if (!withHello && frames.length > 0 && isServerHello(frames[0])) frames.shift();
    for (const frame of frames) {
      assert.ok(isReplyFrame(frame), `not a reply: ${inspect(frame)}`);
    }
    assert.ok(peer.closed);
  } finally {
    peer.destroy();
  }
}

function frameBytes(value: unknown): Buffer | undefined {
  try {
    return encodeFrame(value, limits.frameBytesMax);
  } catch {
    return undefined; // fast-check made something msgpack cannot carry; not interesting here
  }
}

async function wellBehavedClientWorks(): Promise<void> {
  const connection = await RpcConnection.connect(HOST, port, { limits, clientName: 'after-fuzz' });
  try {
    assert.deepEqual(await connection.call('echo', { still: 'alive' }), { still: 'alive' });
    assert.equal(await connection.call('asyncEcho', 7), 7);
  } finally {
    connection.close();
  }
}

// Values shaped like requests with each field sometimes wrong, to reach every validator branch.
const nearRequest = fc.record(
  {
    id: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double(), fc.string(), fc.constant(2 ** 53), fc.constant(null)),
    method: fc.oneof(fc.constantFrom('echo', 'asyncEcho', 'nope', ''), fc.string(), fc.integer()),
    args: fc.anything({ maxDepth: 3 }),
    deadlineMs: fc.oneof(fc.integer({ min: -5, max: 10_000 }), fc.double(), fc.constant(null), fc.string()),
    hello: fc.oneof(fc.anything({ maxDepth: 2 }), fc.record({ version: fc.integer({ min: 0, max: 3 }), client: fc.string() })),
  },
  { requiredKeys: [] },
);

describe('fuzzing the server', () => {
  for (const withHello of [true, false]) {
    const when = withHello ? 'after a hello' : 'without a hello';

    it(`random bytes ${when}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), (bytes) => sendAndCheck(bytes, withHello)),
        { numRuns: RUNS },
      );
      await wellBehavedClientWorks();
    });

    it(`random length prefix and bytes ${when}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 200 }), (length, body) => {
          const header = Buffer.alloc(4);
          header.writeUInt32BE(length % 3 === 0 ? body.length : length, 0);
          return sendAndCheck(Buffer.concat([header, body]), withHello);
        }),
        { numRuns: RUNS },
      );
      await wellBehavedClientWorks();
    });

    it(`random msgpack values as frames ${when}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.anything({ maxDepth: 4, withBigInt: true, withDate: true }), { minLength: 1, maxLength: 4 }), (values) => {
          const frames = values.map(frameBytes).filter((f): f is Buffer => f !== undefined);
          return sendAndCheck(Buffer.concat(frames), withHello);
        }),
        { numRuns: RUNS },
      );
      await wellBehavedClientWorks();
    });

    it(`near-miss requests ${when}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(nearRequest, { minLength: 1, maxLength: 6 }), (values) => {
          const frames = values.map(frameBytes).filter((f): f is Buffer => f !== undefined);
          return sendAndCheck(Buffer.concat(frames), withHello);
        }),
        { numRuns: RUNS },
      );
      await wellBehavedClientWorks();
    });
  }

  it('leaves no connection or call behind', async () => {
    const deadline = Date.now() + 3_000;
    while (server.stats().connections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual({ connections: server.stats().connections, inFlight: server.stats().inFlight }, { connections: 0, inFlight: 0 });
  });
});
