// The RPC handshake's proof of the cluster secret (src/rpc/protocol.ts): internal methods
// need it, client-facing ones do not, both ends of a link with different secrets refuse
// each other, and refusals are logged without flooding the log.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { limitsWith } from '../../src/config/limits.js';
import { RpcConnection } from '../../src/rpc/connection.js';
import { RpcServer } from '../../src/rpc/server.js';
import type { ClusterSecret } from '../../src/security/cluster-secret.js';
import { RefusalLog } from '../../src/security/refusal-log.js';
import type { Logger } from '../../src/util/log.js';
import { silentLogger } from '../../src/util/log.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { capturingLogger } from '../helpers/log.js';
import { testSecret } from '../helpers/secret.js';
import { RawPeer } from '../rpc/raw-peer.js';

const limits = limitsWith({ handshakeTimeoutMs: 5_000 });
const closing: Array<{ close(): unknown }> = [];
after(async () => {
  for (const item of closing.reverse()) await item.close();
});

/** A server with one client-facing method (ns.echo) and one internal one (repl.echo). */
async function startServer(secret: ClusterSecret | null, log: Logger = silentLogger()): Promise<{ server: RpcServer; port: number }> {
  const server = new RpcServer({
    handler: (_method, args) => args,
    methods: new Set(['ns.echo', 'repl.echo']),
    limits,
    log,
    serverName: 'test master',
    secret,
    internal: (method) => method.startsWith('repl.'),
  });
  closing.push(server);
  const { port } = await server.listen('127.0.0.1', 0);
  return { server, port };
}

async function connect(port: number, secret: ClusterSecret | null, clientName = 'test client'): Promise<RpcConnection> {
  const connection = await RpcConnection.connect('127.0.0.1', port, { limits, clientName, secret });
  closing.push(connection);
  return connection;
}

test('with the same secret on both ends, internal and client-facing methods answer', async () => {
  const secret = testSecret();
  const { port } = await startServer(secret);
  const connection = await connect(port, secret);
  assert.deepEqual(await connection.call('repl.echo', { n: 1 }), { n: 1 });
  assert.deepEqual(await connection.call('ns.echo', { n: 2 }), { n: 2 });
});

test('a client without the secret gets UNAUTHENTICATED for internal methods only, and the refusal is logged', async () => {
  const { log, lines } = capturingLogger();
  const { server, port } = await startServer(testSecret(), log);
  const connection = await connect(port, null, 'some user');
  assert.deepEqual(await connection.call('ns.echo', { path: '/a' }), { path: '/a' });
  await rejectsWithCode(connection.call('repl.echo', {}), 'UNAUTHENTICATED', /repl\.echo is internal.*no proof of the cluster secret/);
  // The connection stays usable for what the client may do.
  assert.deepEqual(await connection.call('ns.echo', { path: '/b' }), { path: '/b' });
  const refusals = lines.filter((l) => l.code === 'UNAUTHENTICATED');
  assert.equal(refusals.length, 1);
  assert.equal(refusals[0]!.request, 'repl.echo');
  assert.equal(refusals[0]!.client, 'some user');
  assert.match(String(refusals[0]!.msg), /refused repl\.echo from 127\.0\.0\.1:\d+: it sent no proof of the cluster secret/);
  assert.equal(server.stats().unauthenticatedTotal, 1);
});

test('a client with another secret is refused by the server, and refuses the server in turn', async () => {
  const { log, lines } = capturingLogger();
  const { port } = await startServer(testSecret(), log);
  // The client sends its (wrong) proof, then finds the server's proof wrong too.
  await rejectsWithCode(connect(port, testSecret(), 'datanode dn-bad'), 'UNAUTHENTICATED', /did not prove it holds the cluster secret/);
  const refusal = await waitForLine(lines, (l) => l.code === 'UNAUTHENTICATED');
  assert.equal(refusal.client, 'datanode dn-bad');
  assert.match(String(refusal.msg), /refused the handshake .*proof of the cluster secret was wrong/);
});

test('a raw peer: a right proof opens internal methods; after a wrong one, the connection stays closed to them', async () => {
  const secret = testSecret();
  const { port } = await startServer(secret);
  const helloOf = (frame: unknown) => (frame as { hello: { nonce: string; proof?: string } }).hello;
  // Right proof: internal methods answer.
  const good = await RawPeer.connect(port);
  closing.push({ close: () => good.destroy() });
  const goodHello = helloOf(await good.hello('peer a'));
  assert.match(goodHello.nonce, /^[0-9a-f]{32}$/);
  assert.equal(goodHello.proof, undefined); // the peer sent no nonce: the server proves nothing
  good.sendValue({ auth: { proof: secret.rpcProof('client', goodHello.nonce, 'peer a') } });
  good.sendValue({ id: 1, method: 'repl.echo', args: 7 });
  assert.deepEqual(await good.nextFrame(), { id: 1, ok: 7 });
  // Wrong proof, then the right one: the second is not considered.
  const bad = await RawPeer.connect(port);
  closing.push({ close: () => bad.destroy() });
  const badHello = helloOf(await bad.hello('peer b'));
  bad.sendValue({ auth: { proof: testSecret().rpcProof('client', badHello.nonce, 'peer b') } });
  bad.sendValue({ auth: { proof: secret.rpcProof('client', badHello.nonce, 'peer b') } });
  bad.sendValue({ id: 1, method: 'repl.echo', args: 7 });
  const refused = (await bad.nextFrame()) as { id: number; error: { code: string; message: string } };
  assert.equal(refused.error.code, 'UNAUTHENTICATED');
  assert.match(refused.error.message, /proof of the cluster secret was wrong/);
  bad.sendValue({ id: 2, method: 'ns.echo', args: 8 });
  assert.deepEqual(await bad.nextFrame(), { id: 2, ok: 8 });
});

test('a client with a secret refuses a server without one', async () => {
  const { port } = await startServer(null);
  await rejectsWithCode(connect(port, testSecret()), 'UNAUTHENTICATED', /runs without a cluster secret/);
});

test('a server without a secret leaves every method open (and a client without one is served)', async () => {
  const { port } = await startServer(null);
  const connection = await connect(port, null);
  assert.deepEqual(await connection.call('repl.echo', { n: 3 }), { n: 3 });
});

test('a proof fits only its nonce, its prover\'s name and its role', () => {
  // Every connection gets a fresh server nonce: a proof captured on one does not fit another.
  const secret = testSecret();
  const nonceA = 'aa'.repeat(16);
  const nonceB = 'bb'.repeat(16);
  const proof = secret.rpcProof('client', nonceA, 'active m1');
  assert.equal(secret.checkRpcProof(proof, 'client', nonceA, 'active m1'), true);
  assert.equal(secret.checkRpcProof(proof, 'client', nonceB, 'active m1'), false);
  assert.equal(secret.checkRpcProof(proof, 'client', nonceA, 'active m2'), false);
  // A server's proof cannot be reflected back as a client's.
  assert.equal(secret.checkRpcProof(secret.rpcProof('server', nonceA, 'active m1'), 'client', nonceA, 'active m1'), false);
  assert.equal(secret.checkRpcProof(proof.toUpperCase(), 'client', nonceA, 'active m1'), false);
});

test('refusals are logged at most linesPerWindowMax times per window, then summed up once', () => {
  const { log, lines } = capturingLogger();
  let nowMs = 0;
  const refusals = new RefusalLog({ log, what: 'rpc server test', windowMs: 10_000, linesPerWindowMax: 3, now: () => nowMs });
  for (let i = 0; i < 1_000; i++) refusals.note({ remote: `10.0.0.1:${1000 + i}`, request: 'repl.hello', reason: 'no proof' });
  assert.equal(lines.length, 3);
  nowMs = 10_000;
  refusals.note({ remote: '10.0.0.1:1', request: 'repl.hello', reason: 'no proof' });
  assert.equal(lines.length, 5);
  assert.match(String(lines[3]!.msg), /suppressed 997 more unauthenticated requests in the last 10 s/);
  assert.match(String(lines[4]!.msg), /refused repl\.hello from 10\.0\.0\.1:1: no proof/);
  assert.equal(refusals.refusalsTotal, 1_001);
});

async function waitForLine(lines: Array<Record<string, unknown>>, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  // Up to ~10 s: the server is in this process, but a loaded machine can hold its turn back a while.
  for (let attempt = 0; attempt < 1_000; attempt++) {
    const line = lines.find(match);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('the expected log line never came');
}
