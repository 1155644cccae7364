// Internal HTTP endpoints (the image server's /images and /edits) answer 401 UNAUTHENTICATED
// to a request without a valid proof of the cluster secret, and serve one with it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startImageServer } from '../../src/replication/image-server.js';
import { fetchEdits } from '../../src/replication/edits-transfer.js';
import { internalHeaders, HTTP_CLOCK_SKEW_MS_MAX } from '../../src/security/http-auth.js';
import { TandemError } from '../../src/errors.js';
import { capturingLogger } from '../helpers/log.js';
import { testSecret } from '../helpers/secret.js';
import { tempDir } from '../helpers/temp.js';

const secret = testSecret();
const { log, lines } = capturingLogger();
let server: FastifyInstance;
let http = '';

before(async () => {
  const dir = await tempDir();
  const started = await startImageServer({
    host: '127.0.0.1',
    port: 0,
    imageBytesMax: 1 << 20,
    log,
    secret,
    member: { dir: () => dir, activeEpoch: () => 1, durableTxid: () => 0, imageStored: async () => undefined },
  });
  server = started.server;
  http = started.address;
});
after(async () => {
  await server?.close();
});

async function send(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://${http}${path}`, { method, headers: { ...(body ? { 'content-type': 'application/octet-stream' } : {}), ...headers }, ...(body ? { body } : {}) });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as Record<string, unknown> };
}

test('PUT /images and GET /edits without the Authorization header are answered 401 UNAUTHENTICATED, and logged', async () => {
  const put = await send('PUT', '/images/1?epoch=1', {}, Buffer.from('not an image'));
  assert.equal(put.status, 401);
  assert.equal(put.body.code, 'UNAUTHENTICATED');
  const edits = await send('GET', '/edits?from=1');
  assert.equal(edits.status, 401);
  assert.equal(edits.body.code, 'UNAUTHENTICATED');
  for (const path of ['/images', '/images/1', '/edits/edits_1-2']) assert.equal((await send('GET', path)).status, 401, path);
  const logged = lines.filter((l) => l.code === 'UNAUTHENTICATED').map((l) => String(l.msg));
  assert.ok(logged.some((m) => /image server: refused PUT \/images\/1\?epoch=1 from 127\.0\.0\.1:\d+: no Authorization header/.test(m)), logged.join('\n'));
  assert.ok(logged.some((m) => /refused GET \/edits\?from=1/.test(m)));
});

test('a header made with another secret, for another request, or too old is refused', async () => {
  const url = `http://${http}/edits?from=1`;
  const cases: Array<[string, Record<string, string>]> = [
    ['another secret', internalHeaders(testSecret(), 'GET', url)],
    ['another path', internalHeaders(secret, 'GET', `http://${http}/edits?from=2`)],
    ['another method', internalHeaders(secret, 'PUT', url)],
    ['too old', internalHeaders(secret, 'GET', url, Date.now() - HTTP_CLOCK_SKEW_MS_MAX - 60_000)],
    ['not the scheme', { authorization: 'Bearer abc' }],
  ];
  for (const [why, headers] of cases) {
    const answer = await send('GET', '/edits?from=1', headers);
    assert.equal(answer.status, 401, why);
    assert.equal(answer.body.code, 'UNAUTHENTICATED', why);
  }
});

test('with a valid header the same endpoints serve, and fetchEdits proves the secret itself', async () => {
  const listing = await send('GET', '/images', internalHeaders(secret, 'GET', `http://${http}/images`));
  assert.equal(listing.status, 200);
  assert.deepEqual(listing.body, { images: [], edits: [] });
  // An upload that proves the secret reaches the checks behind it (here: txid 1 is not durable).
  const url = `http://${http}/images/1?epoch=1`;
  const body = Buffer.from('not an image');
  const put = await send('PUT', '/images/1?epoch=1', internalHeaders(secret, 'PUT', url, Date.now(), body), body);
  assert.equal(put.status, 400);
  assert.equal(put.body.code, 'INVALID_ARGUMENT');
  assert.deepEqual(await fetchEdits(http, 1, 5_000, secret), []);
  await assert.rejects(fetchEdits(http, 1, 5_000, null), (err: unknown) => err instanceof TandemError && err.code === 'UNAUTHENTICATED');
});

test('an upload\'s proof names its body: a captured header cannot carry another body, nor one without a digest any body', async () => {
  const url = `http://${http}/images/1?epoch=1`;
  const real = Buffer.from('the image the standby sent');
  const captured = internalHeaders(secret, 'PUT', url, Date.now(), real);
  const forged = await send('PUT', '/images/1?epoch=1', captured, Buffer.from('a forged image, same length!'));
  assert.equal(forged.status, 401);
  assert.equal(forged.body.code, 'UNAUTHENTICATED');
  assert.match(String(forged.body.message), /the body is not the one its proof names/);
  const noDigest = await send('PUT', '/images/1?epoch=1', internalHeaders(secret, 'PUT', url), Buffer.from('a forged image'));
  assert.equal(noDigest.status, 401);
  assert.match(String(noDigest.body.message), /a body its proof does not name/);
  // The digest is under the MAC: one swapped for the forged body's does not verify.
  const swapped = { authorization: captured.authorization!.replace(/sha256=[0-9a-f]{64}/, `sha256=${'0'.repeat(64)}`) };
  assert.equal((await send('PUT', '/images/1?epoch=1', swapped, Buffer.from('x'))).status, 401);
  // The real body with its header passes the proof (and reaches the checks behind it).
  assert.equal((await send('PUT', '/images/1?epoch=1', captured, real)).status, 400);
});
