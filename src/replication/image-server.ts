// The image server every master runs (DESIGN §3, "Standbys", "Checkpoints"; Peta2's image
// server): HTTP on the member's --http address.
//
//   GET /images                → {images: [{txid, name, bytes}], edits: [{name, firstTxid, lastTxid}]}
//   GET /images/<txid>         → the fsimage file (header, payload, CRC32C trailer)
//   GET /edits?from=<txid>     → the records from <txid> on in the finalized segments (at most
//                                EDITS_PER_RESPONSE_MAX), in their journal encoding
//   GET /edits/<name>          → a finalized edit segment, as stored
//   PUT /images/<txid>?epoch=E → a checkpoint uploaded by a standby; stored only if its
//                                header and CRC check out, E is this active's epoch and
//                                <txid> is durable here; then retention runs
//   GET /metrics, GET /health  → added by the master (src/metrics/, docs/metrics.md)
//
// A new or far-behind standby downloads the newest image from here, then streams the
// edits after it over RPC. The active never pauses to checkpoint: standbys do it and push
// the image here.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { TandemError } from '../errors.js';
import type { ClusterSecret } from '../security/cluster-secret.js';
import { internalGetError, internalHeaders, internalHttpGuard } from '../security/http-auth.js';
import type { Logger } from '../util/log.js';
import { checkImageBytes } from './image-store.js';
import { encodeRecords, readEditsFrom } from './edits-transfer.js';

/** Records in one `GET /edits?from=` answer; the caller asks again from where it ended. */
export const EDITS_PER_RESPONSE_MAX = 100_000;
import { imageName, listImages, listSegments, writeFileDurably } from './storage-layout.js';

export interface ImageServerHost {
  /** The storage directory of the member now (it changes when a standby re-bootstraps). */
  dir(): string;
  /** The epoch this member is active in, or null when it is not active (uploads are refused). */
  activeEpoch(): number | null;
  durableTxid(): number;
  /** A checkpoint was stored: note it and apply retention. */
  imageStored(txid: number): Promise<void>;
}

export interface ImageListing {
  images: Array<{ txid: number; name: string; bytes: number }>;
  edits: Array<{ name: string; firstTxid: number; lastTxid: number }>;
}

export async function listStorage(dir: string): Promise<ImageListing> {
  const images = await Promise.all(
    (await listImages(dir)).map(async (i) => ({ txid: i.txid, name: i.name, bytes: (await stat(i.path)).size })),
  );
  const edits = (await listSegments(dir))
    .filter((s) => !s.inProgress && s.lastTxid !== null)
    .map((s) => ({ name: s.name, firstTxid: s.firstTxid, lastTxid: s.lastTxid! }));
  return { images, edits };
}

function httpError(err: TandemError): { statusCode: number; body: { code: string; message: string } } {
  return { statusCode: err.httpStatus, body: err.toWire() };
}

export async function startImageServer(opts: {
  host: string;
  port: number;
  imageBytesMax: number;
  log: Logger;
  member: ImageServerHost;
  /** More routes on this server: the master's `/metrics` and `/health` (src/metrics/). */
  routes?: ReadonlyArray<(app: FastifyInstance) => void>;
  /** Every route here is internal: with a secret, requests must prove it (src/security/http-auth.ts). */
  secret?: ClusterSecret | null;
}): Promise<{ server: FastifyInstance; address: string }> {
  const { member, log } = opts;
  const server = Fastify({ logger: false, bodyLimit: opts.imageBytesMax });
  server.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const internal = internalHttpGuard({ secret: opts.secret, log, what: 'image server' });

  server.get('/images', internal, async () => listStorage(member.dir()));

  server.get<{ Params: { txid: string } }>('/images/:txid', internal, async (req, reply) => {
    const txid = Number(req.params.txid);
    if (!Number.isSafeInteger(txid) || txid < 0) {
      const e = httpError(new TandemError('INVALID_ARGUMENT', `not a txid: ${req.params.txid}`));
      return reply.code(e.statusCode).send(e.body);
    }
    const path = join(member.dir(), imageName(txid));
    try {
      const size = (await stat(path)).size;
      return reply.header('content-type', 'application/octet-stream').header('content-length', size).send(createReadStream(path));
    } catch {
      const e = httpError(new TandemError('NOT_FOUND', `no image at txid ${txid}`));
      return reply.code(e.statusCode).send(e.body);
    }
  });

  server.get<{ Querystring: { from?: string } }>('/edits', internal, async (req, reply) => {
    const from = Number(req.query.from);
    if (!Number.isSafeInteger(from) || from < 1) {
      const e = httpError(new TandemError('INVALID_ARGUMENT', `/edits needs from=<txid>, got ${req.query.from}`));
      return reply.code(e.statusCode).send(e.body);
    }
    const records = await readEditsFrom(member.dir(), from, { includeInProgress: false, recordsMax: EDITS_PER_RESPONSE_MAX });
    return reply.header('content-type', 'application/octet-stream').send(encodeRecords(records));
  });

  server.get<{ Params: { name: string } }>('/edits/:name', internal, async (req, reply) => {
    const segment = (await listSegments(member.dir())).find((s) => s.name === req.params.name && !s.inProgress);
    if (!segment) {
      const e = httpError(new TandemError('NOT_FOUND', `no finalized segment ${req.params.name}`));
      return reply.code(e.statusCode).send(e.body);
    }
    return reply.header('content-type', 'application/octet-stream').send(createReadStream(segment.path));
  });

  server.put<{ Params: { txid: string }; Querystring: { epoch?: string }; Body: Buffer }>('/images/:txid', internal, async (req, reply) => {
    const txid = Number(req.params.txid);
    const epoch = Number(req.query.epoch);
    const refuse = (err: TandemError) => {
      log.warn({ txid: req.params.txid, epoch: req.query.epoch, remote: req.ip }, `refused an uploaded image: ${err.message}`);
      const e = httpError(err);
      return reply.code(e.statusCode).send(e.body);
    };
    if (!Buffer.isBuffer(req.body)) return refuse(new TandemError('INVALID_ARGUMENT', 'the body must be application/octet-stream'));
    if (!Number.isSafeInteger(txid) || txid < 1) return refuse(new TandemError('INVALID_ARGUMENT', `not a txid: ${req.params.txid}`));
    const activeEpoch = member.activeEpoch();
    if (activeEpoch === null) return refuse(new TandemError('NOT_ACTIVE', 'only the active takes checkpoints'));
    if (epoch !== activeEpoch) return refuse(new TandemError('STALE_EPOCH', `the upload names epoch ${req.query.epoch}, this active is in epoch ${activeEpoch}`));
    if (txid > member.durableTxid()) return refuse(new TandemError('INVALID_ARGUMENT', `image txid ${txid} is past this active's durable txid ${member.durableTxid()}`));
    const checked = checkImageBytes(req.body, txid);
    if (!checked.ok) return refuse(new TandemError('IMAGE_CORRUPT', `uploaded image for txid ${txid}: ${checked.why}`));
    const existing = (await listImages(member.dir())).some((i) => i.txid === txid);
    if (!existing) {
      await writeFileDurably(member.dir(), imageName(txid), req.body);
      log.info({ txid, bytes: req.body.length, remote: req.ip }, `stored checkpoint ${imageName(txid)} uploaded by a standby (${req.body.length} bytes)`);
      await member.imageStored(txid);
    }
    return reply.code(existing ? 200 : 201).send({ txid, stored: !existing });
  });

  for (const routes of opts.routes ?? []) routes(server);
  await server.listen({ host: opts.host, port: opts.port });
  const bound = server.server.address();
  if (bound === null || typeof bound === 'string') throw new Error('invariant broken: the image server has no TCP address');
  return { server, address: `${opts.host}:${bound.port}` };
}

/** Downloads and checks an image from a member's image server. */
export async function fetchImage(http: string, txid: number, secret: ClusterSecret | null, timeoutMs = 600_000): Promise<Buffer> {
  const url = `http://${http}/images/${txid}`;
  const response = await fetch(url, { headers: internalHeaders(secret, 'GET', url), signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw internalGetError(response.status, `GET ${url}`);
  const buf = Buffer.from(await response.arrayBuffer());
  const checked = checkImageBytes(buf, txid);
  if (!checked.ok) throw new TandemError('IMAGE_CORRUPT', `image ${txid} from ${http}: ${checked.why}`);
  return buf;
}

/** Uploads a checkpoint to the active's image server. */
export async function uploadImage(http: string, txid: number, epoch: number, bytes: Buffer, secret: ClusterSecret | null, timeoutMs = 600_000): Promise<{ stored: boolean }> {
  const url = `http://${http}/images/${txid}?epoch=${epoch}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', ...internalHeaders(secret, 'PUT', url, Date.now(), bytes) },
    body: bytes,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string; stored?: boolean };
  if (!response.ok) throw TandemError.fromWire(body);
  return { stored: body.stored === true };
}
