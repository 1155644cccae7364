// TandemClient: the typed, promise-based SDK (DESIGN §6). Every call goes to a shard's
// active through a ShardCaller (src/client/shard-caller.ts), which retries it — with the
// SAME (clientId, callId), fixed here once per call — until its deadline; the retry cache
// on the master makes that exactly-once.

import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { DEFAULT_LIMITS, type Limits } from '../config/limits.js';
import type { ConcatResult, ContentSummary, CreateResult, FileHandle, FileStatus, ListingPage, NameListingPage } from '../namespace/ops.js';
import { decodeFileStatus, decodeListingPage } from '../namespace/file-status-wire.js';

const decodeFileStatusOrNull = (wire: unknown): FileStatus | null => (wire === null ? null : decodeFileStatus(wire));
import type { LengthAnswer } from '../filemeta/ops.js';
import { fileChecksumOf, type FileChecksum } from './file-checksum.js';
import type { BackoffOptions } from './backoff.js';
import { ShardCaller, type ActiveResolver } from './shard-caller.js';

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TandemError } from '../errors.js';
import type { z } from 'zod';
import { MUTATION_SCHEMAS, QUERY_SCHEMAS, type MutationMethod } from '../master/namespace-methods.js';
import { toPositional } from '../master/positional-args.js';
import { shardOfPool, type PoolMap } from '../election/pool-map.js';
import { checkBlockSize, FileWriter } from './file-writer.js';
import { locateFile, readFileBytes, type FileReadOptions, type LocatedFile } from './file-reader.js';

export type { ActiveResolver } from './shard-caller.js';
export type { FileChecksum } from './file-checksum.js';

/** Default bytes per block, as HDFS. */
export const DEFAULT_BLOCK_BYTES = 128 * 1024 * 1024;

export interface TandemClientOptions {
  /** Master addresses (HOST:PORT); tried in turn when one fails. Not needed with a resolver. */
  masters?: string[];
  /** Resolves the active (through ZooKeeper); takes precedence over `masters`. */
  resolver?: ActiveResolver;
  user?: string;
  groups?: string[];
  /** Overall budget for one call, retries included. */
  deadlineMs?: number;
  backoff?: BackoffOptions;
  limits?: Limits;
  /** Stable across retries; a new client gets a new one. */
  clientId?: string;
  /** The data path: where the pool map and each FMS shard's active are found (ZooKeeper). */
  fms?: {
    poolMap: () => Promise<PoolMap | null>;
    target: (shard: string) => { masters?: string[]; resolver?: ActiveResolver };
  };
}

export interface CreateFileOptions {
  overwrite?: boolean;
  permission?: number;
  replication?: number;
  /** Bytes per block: a multiple of 64 KiB (default 128 MiB). */
  blockSize?: number;
}

export interface OpenFileOptions {
  /** Byte range: [offset, offset + length). */
  offset?: number;
  length?: number;
  onReplica?: FileReadOptions['onReplica'];
  onReplicaError?: FileReadOptions['onReplicaError'];
}

export class TandemClient {
  readonly clientId: string;
  readonly user: string;
  readonly groups: string[];
  readonly deadlineMs: number;
  /** The namespace shard's active. */
  private readonly ns: ShardCaller;
  private nextCallId = 1;
  private poolMap: PoolMap | null = null;
  private poolMapReading: Promise<PoolMap | null> | null = null;
  private readonly fmsCallers: Map<string, ShardCaller>;
  /** False for a client made by forUser: the callers (and their connections) belong to its parent. */
  private readonly ownsCallers: boolean;

  /** `shareCallersOf` is forUser's: the new client calls through that client's connections. */
  constructor(
    private readonly opts: TandemClientOptions,
    shareCallersOf?: TandemClient,
  ) {
    this.user = opts.user ?? os.userInfo().username;
    this.groups = opts.groups ?? [];
    this.deadlineMs = opts.deadlineMs ?? 30_000;
    this.clientId = opts.clientId ?? randomUUID();
    this.ownsCallers = shareCallersOf === undefined;
    this.fmsCallers = shareCallersOf?.fmsCallers ?? new Map<string, ShardCaller>();
    this.ns =
      shareCallersOf?.ns ?? this.shardCaller('shard ns', { ...(opts.masters ? { masters: opts.masters } : {}), ...(opts.resolver ? { resolver: opts.resolver } : {}) });
  }

  /**
   * A client acting as another user over this client's connections (and resolvers), with
   * its own clientId and callIds. For servers that act for many users (the adapter's
   * WebHDFS): one set of connections to the actives, not one per user. Closing it closes
   * nothing; closing this client closes the connections under both.
   */
  forUser(user: string, groups: string[] = []): TandemClient {
    const { clientId: _ownId, ...shared } = this.opts;
    // The pool map too is read through this client, once: not once per user (a ZooKeeper
    // session per read for a client through ZooKeeper, and the user is whoever a WebHDFS
    // caller says it is).
    const fms = shared.fms ? { ...shared.fms, poolMap: () => this.pools() } : undefined;
    return new TandemClient({ ...shared, ...(fms ? { fms } : {}), user, groups }, this);
  }

  /** Calls that were retried at least once, to the namespace and to FMS shards (for benchmarks and tests). */
  get retries(): number {
    let retries = this.ns.retries;
    for (const caller of this.fmsCallers.values()) retries += caller.retries;
    return retries;
  }

  /** A retrying caller of one shard's active, with this client's deadline and backoff. */
  shardCaller(label: string, target: { masters?: string[]; resolver?: ActiveResolver }): ShardCaller {
    return new ShardCaller({
      label,
      ...target,
      deadlineMs: this.deadlineMs,
      backoff: this.opts.backoff ?? { baseMs: 25, capMs: 1_000 },
      limits: this.opts.limits ?? DEFAULT_LIMITS,
      clientName: `tandem-client ${this.clientId}`,
    });
  }

  // ---- namespace mutations (journaled, exactly-once)

  mkdirs(path: string, opts: { permission?: number } = {}): Promise<boolean> {
    return this.mutate('ns.mkdirs', { path, ...opts });
  }

  create(path: string, opts: { overwrite?: boolean; permission?: number; replication?: number; blockSize?: number } = {}): Promise<CreateResult> {
    return this.mutate('ns.create', { path, ...opts });
  }

  complete(path: string, fileId: number, length: number): Promise<boolean> {
    return this.mutate('ns.complete', { path, fileId, length });
  }

  delete(path: string, opts: { recursive?: boolean } = {}): Promise<boolean> {
    return this.mutate('ns.delete', { path, ...opts });
  }

  rename(src: string, dst: string): Promise<boolean> {
    return this.mutate('ns.rename', { src, dst });
  }

  setPermission(path: string, permission: number): Promise<void> {
    return this.mutate('ns.setPermission', { path, permission });
  }

  setOwner(path: string, owner: { owner?: string; group?: string }): Promise<void> {
    return this.mutate('ns.setOwner', { path, ...owner });
  }

  setTimes(path: string, times: { mtime?: number; atime?: number }): Promise<void> {
    return this.mutate('ns.setTimes', { path, ...times });
  }

  // ---- namespace reads

  /** The inode at `path`, or null when nothing is there. */
  getFileInfo(path: string): Promise<FileStatus | null> {
    // On the wire a status is a positional tuple (src/namespace/file-status-wire.ts).
    const args = toPositional(QUERY_SCHEMAS['ns.getFileInfo'], { path, user: this.user, groups: this.groups });
    return this.call<unknown>('ns.getFileInfo', args).then(decodeFileStatusOrNull);
  }

  async listStatus(path: string, opts: { startAfter?: string; limit?: number } = {}): Promise<ListingPage> {
    return decodeListingPage(await this.call<unknown>('ns.listStatus', { path, ...opts, ...this.caller() }));
  }

  /** One page of a directory's names only (cheaper than listStatus when attributes are not needed). */
  async listNames(path: string, opts: { startAfter?: string; limit?: number } = {}): Promise<NameListingPage> {
    // On the wire the names are one '/'-joined string (see encodeNameListing in the master).
    const page = await this.call<{ names: string; remaining: number }>('ns.listNames', { path, ...opts, ...this.caller() });
    return { names: page.names === '' ? [] : page.names.split('/'), remaining: page.remaining };
  }

  /** Every entry of a directory, page by page. */
  async *listAll(path: string): AsyncGenerator<FileStatus> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.listStatus(path, startAfter === undefined ? {} : { startAfter });
      yield* page.entries;
      const last = page.entries.at(-1);
      if (page.remaining === 0 || !last) return;
      startAfter = last.name;
    }
  }

  contentSummary(path: string): Promise<ContentSummary> {
    return this.call('ns.contentSummary', { path, user: this.user, groups: this.groups });
  }

  // ---- file data (NS + FMS + datanodes)

  /**
   * Creates a file and returns a Writable for its bytes; the file is complete (and visible
   * with its length) once the stream finishes.
   */
  async createFile(path: string, opts: CreateFileOptions = {}): Promise<FileWriter> {
    const replication = opts.replication ?? 3;
    const blockSize = opts.blockSize ?? DEFAULT_BLOCK_BYTES;
    checkBlockSize(blockSize);
    const created = await this.create(path, { ...opts, replication, blockSize });
    const fms = await this.fmsOfPool(created.pool);
    return new FileWriter({
      path,
      fileId: created.fileId,
      pool: created.pool,
      replication,
      blockSize,
      fms,
      envelope: () => this.mutationEnvelope(),
      completeInNamespace: (length) => this.completeWritten(path, created.fileId, length),
    });
  }

  /**
   * NS.complete at the end of a write. FILE_NOT_OPEN with the same file there, closed at
   * this length, is success: the namespace's lease round closed it first, at the length
   * the FMS had (a write that ran past the lease limit between fms.complete and this).
   */
  private async completeWritten(path: string, fileId: number, length: number): Promise<void> {
    try {
      await this.complete(path, fileId, length);
    } catch (err) {
      if (!(err instanceof TandemError && err.code === 'FILE_NOT_OPEN')) throw err;
      const now = await this.getFileInfo(path);
      if (now?.fileId !== fileId || now.underConstruction || now.length !== length) throw err;
    }
  }

  // ---- setReplication, append, truncate, concat (docs/data-path.md, "Append, truncate,
  // concat, setReplication"): the namespace first (names, permissions, the file taken into
  // construction), then the file's FMS shard (the blocks), then the namespace again (closed
  // at the FMS's length). Every call keeps its own callId through its retries.

  /** HDFS setReplication: false when `path` is a directory. The FMS's target follows, so copies are made or trimmed. */
  async setReplication(path: string, replication: number): Promise<boolean> {
    const handle = await this.mutate<FileHandle | false>('ns.setReplication', { path, replication });
    if (handle === false) return false;
    if ((await this.dataPath()) !== null) await this.callFileMeta(handle.pool, 'fms.setReplication', { fileId: handle.fileId, replication });
    return true;
  }

  /**
   * Reopens a closed file and returns a Writable whose bytes go after its current end (in a
   * new block: a partial last block is not reopened). The file is closed, at its new length,
   * when the stream finishes. ALREADY_BEING_CREATED while someone else writes it.
   */
  async appendFile(path: string): Promise<FileWriter> {
    await this.requireDataPath('append');
    const handle = await this.mutate<FileHandle>('ns.append', { path });
    const fms = await this.fmsOfPool(handle.pool);
    const { fileId, pool, replication, blockSize } = handle;
    await fms.call<LengthAnswer>('fms.append', { fileId, pool, replication, blockSize, ...this.mutationEnvelope() });
    return new FileWriter({
      path,
      fileId,
      pool,
      replication,
      blockSize,
      fms,
      envelope: () => this.mutationEnvelope(),
      reopened: true,
      completeInNamespace: (length) => this.completeWritten(path, fileId, length),
    });
  }

  /**
   * HDFS truncate: true when the file is at its new length at once (the cut falls on a block
   * boundary, or there is nothing to cut); false when the datanodes are cutting the last
   * block — the file stays open (getFileInfo: underConstruction) and closes on its own.
   */
  async truncate(path: string, newLength: number): Promise<boolean> {
    await this.requireDataPath('truncate');
    const handle = await this.mutate<FileHandle>('ns.truncate', { path, newLength });
    if (!handle.underConstruction) return true;
    const answer = await this.callFileMeta<{ length: number; done: boolean }>(handle.pool, 'fms.truncate', { fileId: handle.fileId, newLength });
    if (!answer.done) return false;
    await this.completeWritten(path, handle.fileId, answer.length);
    return true;
  }

  /** HDFS concat: the sources' bytes, in order, go to the end of target and the sources go away. */
  async concat(target: string, sources: string[]): Promise<void> {
    await this.requireDataPath('concat');
    const result = await this.mutate<ConcatResult>('ns.concat', { target, sources });
    const { fileId, pool, replication, blockSize } = result;
    const answer = await this.callFileMeta<LengthAnswer>(pool, 'fms.concat', { fileId, pool, replication, blockSize, sources: result.sources });
    await this.completeWritten(target, fileId, answer.length);
  }

  /**
   * HDFS's MD5-of-MD5-of-CRC32C file checksum (WebHDFS GETFILECHECKSUM's shape), computed
   * here from the file's bytes — each chunk checked against its stored CRC32C on the way —
   * with 512-byte checksum chunks as HDFS's default, so equal bytes in equal blocks give
   * HDFS's value.
   */
  async getFileChecksum(path: string): Promise<FileChecksum> {
    const located = await this.getBlockLocations(path);
    return fileChecksumOf(
      located.blocks.map((block) => block.length),
      this.readFileReusing(path, { offset: 0, length: located.length }),
    );
  }

  /** Fails before the namespace takes a file into construction that no FMS shard could finish. */
  private async requireDataPath(op: string): Promise<void> {
    if ((await this.pools()) === null) throw new TandemError('NO_DATANODES', `${op}: the cluster has no file-metadata shards (no pool map in ZooKeeper): it stores names only`);
  }

  /** The pool map when this client has a data path and the cluster FMS shards, else null. */
  private async dataPath(): Promise<PoolMap | null> {
    return this.opts.fms ? this.pools() : null;
  }

  /** Writes a whole buffer as a new file. */
  async writeFile(path: string, data: Buffer, opts: CreateFileOptions = {}): Promise<number> {
    const writer = await this.createFile(path, opts);
    await pipeline(Readable.from([data]), writer);
    return writer.length!;
  }

  /** The bytes of a file, in order, checked against their CRC32Cs (a Readable). `on*` tell which replica serves or failed. */
  async openFile(path: string, range: OpenFileOptions = {}): Promise<Readable> {
    return Readable.from(readFileBytes({ ...(await this.fileToRead(path)), ...range }), { objectMode: false });
  }

  /** What readFileBytes needs to read the file at `path`. */
  private async fileToRead(path: string): Promise<{ fileId: number; fms: ShardCaller; caller: { user: string; groups: string[] }; namespaceLength: number }> {
    const info = await this.getFileInfo(path);
    if (info === null) throw new TandemError('NOT_FOUND', `cannot open ${JSON.stringify(path)}: no such file`);
    if (info.type !== 'file') throw new TandemError('IS_DIRECTORY', `cannot open ${JSON.stringify(path)}: it is a directory`);
    return { fileId: info.fileId, fms: await this.fmsOfPool(info.pool), caller: this.caller(), namespaceLength: info.length };
  }

  /**
   * Calls a mutating method of the FMS shard that owns `pool` with this client's envelope
   * (caller, clientId, a callId fixed once so retries are answered by the retry cache).
   * For tools and benchmarks that drive the FMS without moving data (bench fms).
   */
  async callFileMeta<T>(pool: number, method: string, args: Record<string, unknown>): Promise<T> {
    const fms = await this.fmsOfPool(pool);
    return fms.call<T>(method, { ...args, ...this.mutationEnvelope() });
  }

  /** The FMS shard that owns `pool`. */
  async fileMetaShardOf(pool: number): Promise<string> {
    await this.fmsOfPool(pool);
    return shardOfPool(this.poolMap!, pool);
  }

  /**
   * The bytes of a file like openFile, as an async iterator whose Buffers are valid only
   * until the next iteration: the reader receives into a few buffers used over and over
   * (like `read(buffer)` on a file handle), so it allocates nothing per MiB. For consumers
   * that process each piece before asking for the next (checksums, comparisons, writing it
   * out and awaiting); copy what you keep.
   */
  async *readFileReusing(path: string, range: { offset?: number; length?: number } = {}): AsyncGenerator<Buffer> {
    yield* readFileBytes({ ...(await this.fileToRead(path)), reuseBuffers: true, ...range });
  }

  /** A file's blocks and the live datanodes holding each (finalized replicas first). */
  async getBlockLocations(path: string): Promise<LocatedFile> {
    return locateFile(await this.fileToRead(path));
  }

  /** The FMS shard's caller for a pool (one per shard, made on first use). */
  private async fmsOfPool(pool: number): Promise<ShardCaller> {
    const poolMap = await this.pools();
    if (!poolMap) throw new TandemError('NO_DATANODES', 'the cluster has no file-metadata shards (no pool map in ZooKeeper): it stores names only');
    return this.fmsShard(shardOfPool(poolMap, pool));
  }

  /** The cluster's pool map (read once), or null when it has no file-metadata shards. */
  async pools(): Promise<PoolMap | null> {
    if (!this.opts.fms) throw new TandemError('INVALID_ARGUMENT', 'this client has no data path: connect it through adapters or ZooKeeper (--adapter, --zk or --cluster)');
    if (this.poolMap) return this.poolMap;
    // Concurrent first calls share one read; a failed read is tried again by the next call.
    const reading = (this.poolMapReading ??= this.opts.fms.poolMap().finally(() => {
      this.poolMapReading = null;
    }));
    this.poolMap = await reading;
    return this.poolMap;
  }

  /** The retrying caller of one FMS shard's active (one per shard, made on first use; closed with the client). */
  fmsShard(shard: string): ShardCaller {
    if (!this.opts.fms) throw new TandemError('INVALID_ARGUMENT', 'this client has no data path: connect it through adapters or ZooKeeper (--adapter, --zk or --cluster)');
    let caller = this.fmsCallers.get(shard);
    if (!caller) this.fmsCallers.set(shard, (caller = this.shardCaller(`shard ${shard}`, this.opts.fms.target(shard))));
    return caller;
  }

  /** The retrying caller of a shard's active: `ns` or an FMS shard (admin commands take `--shard`). */
  activeOf(shard: string): ShardCaller {
    return shard === 'ns' ? this.ns : this.fmsShard(shard);
  }

  /** The fields a mutating call to an FMS shard carries: who asks, and a fresh (clientId, callId) fixed for its retries. */
  mutationEnvelope(): { user: string; groups: string[]; clientId: string; callId: number } {
    return { ...this.caller(), clientId: this.clientId, callId: this.nextCallId++ };
  }

  // ---- administration

  status(): Promise<Record<string, unknown>> {
    return this.call('admin.status', {});
  }

  /** Graceful hand-over from the active to `to` (or the in-sync standby least behind). */
  failover(to?: string): Promise<{ from: string; to: string; txid: number; ms: number }> {
    // Not retried: a hand-over whose answer was lost must not run again on the new active.
    return this.call('admin.failover', to === undefined ? {} : { to }, { retry: false });
  }

  saveNamespace(): Promise<{ txid: number; file: string; bytes: number; ms: number }> {
    return this.call('admin.saveNamespace', {}, { deadlineMs: Math.max(this.deadlineMs, 600_000) });
  }

  close(): void {
    if (!this.ownsCallers) return;
    this.ns.close();
    for (const caller of this.fmsCallers.values()) caller.close();
    this.fmsCallers.clear();
  }

  // ---- plumbing

  private caller(): { user: string; groups: string[] } {
    return { user: this.user, groups: this.groups };
  }

  private mutate<T>(method: string, args: Record<string, unknown>): Promise<T> {
    // The callId is fixed here, once: every retry of this call carries the same one.
    const callId = this.nextCallId++;
    // `args` is the method's own fresh object: the envelope fields go onto it. (Spreading
    // it and the caller into a new object cost several µs a call: `tandem bench meta`.)
    args.user = this.user;
    args.groups = this.groups;
    args.clientId = this.clientId;
    args.callId = callId;
    const schema = MUTATION_SCHEMAS[method as MutationMethod] as z.ZodType | undefined;
    return this.call(method, schema ? toPositional(schema, args) : args);
  }

  /** Sends a call to the namespace's active, retrying retryable failures until the deadline. */
  call<T>(method: string, args: unknown, opts: { deadlineMs?: number; retry?: boolean } = {}): Promise<T> {
    return this.ns.call(method, args, opts);
  }
}
