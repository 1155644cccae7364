// A ZooKeeper connection dropped in the middle of a reply frame: the next connection must be
// parsed from its own first byte (startEachConnectionClean), not after the stale half frame
// node-zookeeper-client would otherwise keep. A fake server on 127.0.0.1 speaks just enough
// of the protocol: the session handshake, `exists` answered NONODE, pings.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, test } from 'node:test';
import { createClient, type Client } from 'node-zookeeper-client';
import { startEachConnectionClean } from '../../src/election/zk-coordinator.js';

const OP_EXISTS = 3;
const OP_PING = 11;
const ERR_NONODE = -101;

function frame(body: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length);
  return Buffer.concat([length, body]);
}

/** ConnectResponse: protocolVersion, timeOut, sessionId, passwd (16 bytes). */
function connectResponse(): Buffer {
  const body = Buffer.alloc(4 + 4 + 8 + 4 + 16);
  body.writeInt32BE(0, 0);
  body.writeInt32BE(6_000, 4);
  body.writeBigInt64BE(42n, 8);
  body.writeInt32BE(16, 16);
  return frame(body);
}

/** ReplyHeader: xid, zxid, err (no payload). */
function reply(xid: number, err: number): Buffer {
  const body = Buffer.alloc(16);
  body.writeInt32BE(xid, 0);
  body.writeBigInt64BE(1n, 4);
  body.writeInt32BE(err, 12);
  return frame(body);
}

/** The first connection answers its first request with half a frame and drops; later ones answer properly. */
function fakeZooKeeper(): Promise<{ server: net.Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const n = ++connections;
    let handshaken = false;
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const body = pending.subarray(4, 4 + pending.readInt32BE(0));
        pending = pending.subarray(4 + body.length);
        if (!handshaken) {
          handshaken = true;
          socket.write(connectResponse());
          continue;
        }
        const xid = body.readInt32BE(0);
        const type = body.readInt32BE(4);
        if (n === 1) {
          // 12 of the reply's 20 bytes, then the connection is gone.
          socket.write(reply(xid, ERR_NONODE).subarray(0, 12), () => setTimeout(() => socket.destroy(), 50));
          return;
        }
        if (type === OP_EXISTS) socket.write(reply(xid, ERR_NONODE));
        else if (type === OP_PING) socket.write(reply(xid, 0));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port, connections: () => connections })));
}

const clients: Client[] = [];
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
after(() => {
  for (const client of clients) client.close();
  for (const server of servers) server.close();
  // The fake server never answers closeSession: its connections end here.
  for (const socket of sockets) socket.destroy();
});

function exists(client: Client, path: string): Promise<string> {
  return new Promise((resolve) => client.exists(path, (err, stat) => resolve(err ? String(err) : stat ? 'exists' : 'no node')));
}

test('a connection dropped in the middle of a reply frame: the next connection is parsed from its own first byte', { timeout: 20_000 }, async () => {
  const zk = await fakeZooKeeper();
  servers.push(zk.server);
  const client = createClient(`127.0.0.1:${zk.port}`, { sessionTimeout: 6_000, spinDelay: 50, retries: 0 });
  clients.push(client);
  startEachConnectionClean(client);
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  await connected;
  // The half frame, then the drop: the call is lost with its connection.
  assert.match(await exists(client, '/x'), /CONNECTION_LOSS/);
  // The client reconnects on its own; the new connection's answers must parse.
  const deadline = Date.now() + 10_000;
  let answer = '';
  while (Date.now() < deadline && answer !== 'no node') {
    answer = await Promise.race([exists(client, '/x'), new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 2 s'), 2_000))]);
  }
  assert.equal(answer, 'no node', `after the reconnect (${zk.connections()} connections): ${answer}`);
  assert.ok(zk.connections() >= 2);
});
