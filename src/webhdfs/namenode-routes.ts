// The WebHDFS REST API (`/webhdfs/v1/<path>?op=…`) as the adapter serves it: Hadoop's
// namenode side. Metadata operations are answered here through a TandemClient of the
// caller (`user.name`), so the masters enforce permissions; CREATE, APPEND and OPEN answer
// 307 to a live datanode's own `/webhdfs/v1` endpoint (datanode-routes.ts), which moves the
// bytes — or, with `noredirect=true`, 200 and `{"Location": …}`. docs/webhdfs.md is the
// reference: every operation, its JSON and the error mapping.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { checkBlockSize } from '../client/file-writer.js';
import { TandemError } from '../errors.js';
import type { FileStatus } from '../namespace/ops.js';
import type { Logger } from '../util/log.js';
import type { WebHdfsClient } from './file-system.js';
import { registerWebHdfsScope, readBodyBounded, sendEmpty, hasUnreadBody } from './http-scope.js';
import { contentSummaryJson, fileChecksumJson, fileStatusesJson, hadoopFileStatus, type HadoopFileStatus } from './json.js';
import { DEFAULT_WEBHDFS_LIMITS, Params, WEBHDFS_PREFIX, type WebHdfsLimits, type WebHdfsOp } from './params.js';

export interface WebHdfsDatanode {
  id: string;
  /** HOST:PORT of its HTTP server, which serves the data side of WebHDFS. */
  http: string;
}

export interface WebHdfsDeps {
  /** The client acting as `user` (cached per user by the host: see UserClients). */
  clientFor(user: string): WebHdfsClient;
  /** Live datanodes to redirect CREATE, APPEND and OPEN to. */
  datanodes(): ReadonlyArray<WebHdfsDatanode>;
  log?: Logger;
  limits?: Partial<WebHdfsLimits>;
}

/** HDFS's default replication (dfs.replication) when CREATE or SETREPLICATION names none. */
const DEFAULT_REPLICATION = 3;
/** Hadoop's WebHDFS default permissions: files 644, directories (MKDIRS, SETPERMISSION) 755. */
const FILE_PERMISSION_DEFAULT = 0o644;
const DIRECTORY_PERMISSION_DEFAULT = 0o755;
/** LISTSTATUS_BATCH page size (HDFS's dfs.ls.limit); the namespace may page smaller. */
const BATCH_ENTRIES_MAX = 1_000;
/** Bytes of a name in `startAfter`. */
const NAME_BYTES_MAX = 255;

/** Registers `/webhdfs/v1` and everything under it on `app` (in its own scope). */
export function registerWebHdfs(app: FastifyInstance, deps: WebHdfsDeps): void {
  const limits = { ...DEFAULT_WEBHDFS_LIMITS, ...deps.limits };
  let nextDatanode = 0;
  const pickDatanode = (): WebHdfsDatanode => {
    const live = deps.datanodes();
    if (live.length === 0) throw new TandemError('NO_DATANODES', 'no live datanode to send the data operation to');
    // Round-robin over whatever is live now; the list may change between calls.
    return live[nextDatanode++ % live.length]!;
  };

  registerWebHdfsScope(app, {
    log: deps.log,
    side: 'namenode',
    limits,
    handler: async ({ params, op, path, user }, request, reply) => {
      if (op !== 'CREATE' && op !== 'APPEND') await readBodyBounded(request, limits.bodyBytesMax);
      const fs = deps.clientFor(user);
      const context: OpContext = { fs, params, path, user, limits, reply, pickDatanode, hasBody: hasUnreadBody(request) };
      return OPERATIONS[op](context);
    },
  });
}

interface OpContext {
  fs: WebHdfsClient;
  params: Params;
  path: string;
  user: string;
  limits: WebHdfsLimits;
  reply: FastifyReply;
  pickDatanode: () => WebHdfsDatanode;
  /** The request came with a body not read (CREATE/APPEND at this step take none). */
  hasBody: boolean;
}

const OPERATIONS: Record<WebHdfsOp, (c: OpContext) => Promise<unknown>> = {
  // ---- reads
  GETFILESTATUS: async ({ fs, path }) => ({ FileStatus: hadoopFileStatus(await statusOf(fs, path), '') }),

  LISTSTATUS: async ({ fs, path, limits }) => {
    const self = await statusOf(fs, path);
    if (self.type === 'file') return fileStatusesJson([hadoopFileStatus(self, '')]);
    const statuses: HadoopFileStatus[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await fs.listStatus(path, startAfter === undefined ? {} : { startAfter });
      for (const entry of page.entries) statuses.push(hadoopFileStatus(entry, entry.name));
      const last = page.entries.at(-1);
      if (page.remaining === 0 || !last) return fileStatusesJson(statuses);
      if (statuses.length + page.remaining > limits.listEntriesMax) {
        throw new TandemError('INVALID_ARGUMENT', `${path} has more than ${limits.listEntriesMax} entries: list it with LISTSTATUS_BATCH`);
      }
      startAfter = last.name;
    }
  },

  LISTSTATUS_BATCH: async ({ fs, path, params }) => {
    const startAfter = params.string('startafter');
    if (startAfter !== undefined && (startAfter.includes('/') || Buffer.byteLength(startAfter) > NAME_BYTES_MAX)) {
      throw new TandemError('INVALID_ARGUMENT', `Invalid value for webhdfs parameter "startAfter": a name of at most ${NAME_BYTES_MAX} bytes without '/'`);
    }
    const self = await statusOf(fs, path);
    if (self.type === 'file') return directoryListing([hadoopFileStatus(self, '')], 0);
    const page = await fs.listStatus(path, { ...(startAfter === undefined ? {} : { startAfter }), limit: BATCH_ENTRIES_MAX });
    return directoryListing(page.entries.map((entry) => hadoopFileStatus(entry, entry.name)), page.remaining);
  },

  GETCONTENTSUMMARY: async ({ fs, path }) => contentSummaryJson(await fs.contentSummary(path)),

  GETFILECHECKSUM: async ({ fs, path }) => fileChecksumJson(await fs.getFileChecksum(path)),

  GETHOMEDIRECTORY: async ({ user }) => ({ Path: `/user/${user}` }),

  // ---- namespace changes
  MKDIRS: async ({ fs, path, params }) => ({ boolean: await fs.mkdirs(path, { permission: params.permission() ?? DIRECTORY_PERMISSION_DEFAULT }) }),

  RENAME: async ({ fs, path, params, limits }) => ({ boolean: await fs.rename(path, params.required('destination', params.path('destination', limits))) }),

  DELETE: async ({ fs, path, params }) => {
    const recursive = params.boolean('recursive', false);
    try {
      return { boolean: await fs.delete(path, { recursive }) };
    } catch (err) {
      // HDFS refuses to delete the root with the value false, not an exception.
      if (err instanceof TandemError && err.code === 'ROOT_NOT_DELETABLE') return { boolean: false };
      throw err;
    }
  },

  SETPERMISSION: async ({ fs, path, params, reply }) => {
    await fs.setPermission(path, params.permission() ?? DIRECTORY_PERMISSION_DEFAULT);
    return sendEmpty(reply);
  },

  SETOWNER: async ({ fs, path, params, reply }) => {
    const owner = principal(params, 'owner');
    const group = principal(params, 'group');
    if (owner === undefined && group === undefined) throw new TandemError('INVALID_ARGUMENT', 'Both owner and group are empty.');
    await fs.setOwner(path, { ...(owner === undefined ? {} : { owner }), ...(group === undefined ? {} : { group }) });
    return sendEmpty(reply);
  },

  SETREPLICATION: async ({ fs, path, params }) => ({ boolean: await fs.setReplication(path, params.integer('replication') ?? DEFAULT_REPLICATION) }),

  SETTIMES: async ({ fs, path, params, reply }) => {
    // -1 (or absent) leaves that time unchanged, as in HDFS.
    const mtime = params.integer('modificationtime') ?? -1;
    const atime = params.integer('accesstime') ?? -1;
    if (mtime === -1 && atime === -1) await statusOf(fs, path);
    else await fs.setTimes(path, { ...(mtime === -1 ? {} : { mtime }), ...(atime === -1 ? {} : { atime }) });
    return sendEmpty(reply);
  },

  TRUNCATE: async ({ fs, path, params }) => ({ boolean: await fs.truncate(path, params.required('newlength', params.integer('newlength'))) }),

  CONCAT: async ({ fs, path, params, limits, reply }) => {
    const sources = params.required('sources', params.string('sources')).split(',');
    if (sources.length > limits.concatSourcesMax) throw new TandemError('INVALID_ARGUMENT', `CONCAT takes at most ${limits.concatSourcesMax} sources, got ${sources.length}`);
    const checked = sources.map((source) => {
      const p = new Params({ sources: source }, limits);
      return p.required('sources', p.path('sources', limits));
    });
    await fs.concat(path, checked);
    return sendEmpty(reply);
  },

  // ---- data: step one of two, a redirect to a datanode
  CREATE: async (c) => {
    const overwrite = c.params.boolean('overwrite', false);
    const replication = c.params.integer('replication') ?? DEFAULT_REPLICATION;
    const blockSize = c.params.integer('blocksize');
    // Refused here, before the redirect: at the datanode the file would be created first.
    if (blockSize !== undefined) checkBlockSize(blockSize);
    const permission = c.params.permission() ?? FILE_PERMISSION_DEFAULT;
    // Checked here too so a refusal comes before the client sends its data; the datanode's create decides.
    const existing = await c.fs.getFileInfo(c.path);
    if (existing?.type === 'directory') throw new TandemError('FILE_EXISTS', `${c.path} already exists as a directory`);
    if (existing && !overwrite) throw new TandemError('FILE_EXISTS', `${c.path} for client ${c.user} already exists`);
    return redirect(c, 'CREATE', {
      overwrite: String(overwrite),
      replication: String(replication),
      permission: permission.toString(8),
      ...(blockSize === undefined ? {} : { blocksize: String(blockSize) }),
    });
  },

  APPEND: async (c) => {
    await fileToRead(c.fs, c.path);
    return redirect(c, 'APPEND', {});
  },

  OPEN: async (c) => {
    const offset = c.params.integer('offset') ?? 0;
    const length = c.params.integer('length');
    const file = await fileToRead(c.fs, c.path);
    if (offset > file.length) throw new TandemError('INVALID_ARGUMENT', `Offset=${offset} out of the range [0, ${file.length}]; the file is ${file.length} bytes`);
    return redirect(c, 'OPEN', { offset: String(offset), ...(length === undefined ? {} : { length: String(length) }) });
  },
};

async function statusOf(fs: WebHdfsClient, path: string): Promise<FileStatus> {
  const status = await fs.getFileInfo(path);
  if (!status) throw new TandemError('NOT_FOUND', `File does not exist: ${path}`);
  return status;
}

async function fileToRead(fs: WebHdfsClient, path: string): Promise<FileStatus> {
  const status = await statusOf(fs, path);
  if (status.type !== 'file') throw new TandemError('IS_DIRECTORY', `Path is not a file: ${path}`);
  return status;
}

function principal(params: Params, name: 'owner' | 'group'): string | undefined {
  const value = params.string(name);
  if (value !== undefined && !/^[^\s/:\0]{1,256}$/u.test(value)) throw new TandemError('INVALID_ARGUMENT', `Invalid value for webhdfs parameter "${name}": at most 256 characters, no space, '/', ':' or NUL`);
  return value;
}

function directoryListing(statuses: HadoopFileStatus[], remainingEntries: number): unknown {
  return { DirectoryListing: { partialListing: fileStatusesJson(statuses), remainingEntries } };
}

/** Percent-encodes each component of a path for a URL. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Step one of CREATE, APPEND and OPEN: 307 to a datanode, or 200 with the Location under noredirect=true. */
function redirect(c: OpContext, op: 'CREATE' | 'APPEND' | 'OPEN', extra: Record<string, string>): FastifyReply {
  const datanode = c.pickDatanode();
  const query = new URLSearchParams({ op, 'user.name': c.user, ...extra });
  const location = `http://${datanode.http}${WEBHDFS_PREFIX}${encodePath(c.path)}?${query.toString()}`;
  // A client that sent its data with this first request (curl -L -T) is not drained: the
  // connection closes after the answer and the data goes to the datanode.
  if (c.hasBody) void c.reply.header('connection', 'close');
  if (c.params.boolean('noredirect', false)) return c.reply.code(200).send({ Location: location });
  return c.reply.code(307).header('location', location).header('content-length', '0').send();
}
