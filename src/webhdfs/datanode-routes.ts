// The datanode side of WebHDFS, on a datanode's HTTP server: step two of CREATE, APPEND and
// OPEN, where the bytes move. The namenode side (namenode-routes.ts) redirects here with
// the operation's checked parameters; the bytes go through a TandemClient of the caller
// (NS → FMS → a pipeline of datanodes), streamed with backpressure both ways.

import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { WebHdfsClient } from './file-system.js';
import { bodyStream, registerWebHdfsScope, readBodyBounded } from './http-scope.js';
import { fileChecksumJson } from './json.js';
import { DEFAULT_WEBHDFS_LIMITS, type WebHdfsLimits } from './params.js';
import { encodePath } from './namenode-routes.js';

export interface DatanodeWebHdfsDeps {
  /** The client acting as `user` (cached per user: see UserClients). */
  clientFor(user: string): WebHdfsClient;
  log?: Logger;
  limits?: Partial<WebHdfsLimits>;
}

/** Registers the datanode's `/webhdfs/v1` endpoint on `app` (in its own scope). */
export function registerDatanodeWebHdfs(app: FastifyInstance, deps: DatanodeWebHdfsDeps): void {
  const limits = { ...DEFAULT_WEBHDFS_LIMITS, ...deps.limits };

  registerWebHdfsScope(app, {
    log: deps.log,
    side: 'datanode',
    limits,
    handler: async ({ params, op, path, user }, request, reply) => {
      const fs = deps.clientFor(user);
      switch (op) {
        case 'CREATE': {
          const writer = await fs.createFile(path, {
            overwrite: params.boolean('overwrite', false),
            replication: params.integer('replication') ?? 3,
            permission: params.permission() ?? 0o644,
            ...optional('blockSize', params.integer('blocksize')),
          });
          await pipeline(bodyStream(request) ?? Readable.from([]), writer);
          deps.log?.info({ path, user }, `WebHDFS CREATE ${path} as ${user}: written`);
          const host = request.headers.host ?? 'localhost';
          return reply.code(201).header('location', `webhdfs://${host}${encodePath(path)}`).header('content-length', '0').send();
        }
        case 'APPEND': {
          const writer = await fs.appendFile(path);
          await pipeline(bodyStream(request) ?? Readable.from([]), writer);
          return reply.code(200).header('content-length', '0').send();
        }
        case 'OPEN': {
          await readBodyBounded(request, limits.bodyBytesMax);
          const offset = params.integer('offset') ?? 0;
          const length = params.integer('length');
          const bytes = await fs.openFile(path, { offset, ...optional('length', length) });
          // The first piece is read before answering, so a file that cannot be read (a block
          // with no live replica) is a RemoteException, not a 200 cut short.
          return reply.code(200).type('application/octet-stream').send(await startedStream(bytes));
        }
        case 'GETFILECHECKSUM':
          await readBodyBounded(request, limits.bodyBytesMax);
          return fileChecksumJson(await fs.getFileChecksum(path));
        default:
          throw new TandemError('INVALID_ARGUMENT', `Invalid value for webhdfs parameter "op": ${op} is answered by the adapter's /webhdfs/v1, not by a datanode`);
      }
    },
  });
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** `source` with its first piece already read (its errors thrown here), as a Readable that yields everything. */
async function startedStream(source: Readable): Promise<Readable> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await iterator.next();
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      // The reader went away (or finished): stop the source too.
      await iterator.return?.();
    }
  }
  return Readable.from(rest(), { objectMode: false });
}
