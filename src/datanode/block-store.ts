// A datanode's replicas on disk (docs/data-path.md, "Block storage").
//
//   DIR/rbw/<blockId>                      bytes of a replica being written
//   DIR/rbw/<blockId>_<genStamp>.meta      its checksums
//   DIR/finalized/<blockId>                the same two files once the replica is complete
//   DIR/finalized/<blockId>_<genStamp>.meta
//   *.tmp                                  never trusted; removed at open
//   *.corrupt                              set aside at open (bad meta header, orphan file); kept for an operator
//
// meta = "TBLK" | u32be version 1 | u32be chunkBytes | u32be reserved (0) | u32be CRC32C per chunk
//
// API
//   BlockStore.open(dir, log, config?)                  → BlockStore (recovers rbw/ from a crash)
//   store.createRbw(blockId, genStamp)                  → ReplicaWriter for a new replica
//   store.openRbw(blockId, genStamp, length)            → ReplicaWriter appending to an rbw replica that holds exactly `length` bytes
//   store.resumeRbw(blockId, oldGenStamp?, newGenStamp, length) → ReplicaInfo: pipeline recovery —
//                       stops a writer still open on the block, moves a finalized replica back to rbw/,
//                       truncates to `length` and renames the meta to the new genStamp
//   writer.append(offset, data, crcs)                   → Promise (throws at once on a bad argument or CRC)
//   writer.sync() / writer.finalize() / writer.close()
//   store.read(blockId, genStamp, offset, length)       → ReplicaReader: AsyncIterable<BlockPiece>, chunk-aligned pieces
//   store.verify(blockId) / store.delete(blockId) / store.get(blockId) / store.list() / store.usedBytes()
//   store.discardAbandoned(blockId, genStamp)           → true when an rbw replica at exactly that genStamp, with no
//                       writer open, was deleted (a failed copy's leftover, before the block is copied here anew)
//
// A replica's length counts bytes whose data and CRC writes both completed; only those are read.
// Durability: bytes reach the disk at sync()/finalize() (fsync of both files, then of the
// directories the renames touched); until then a crash may tear the tail, which open() cuts
// back to the longest prefix whose chunks match their CRCs.

import { open, readdir, rename, stat, unlink, mkdir, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { fsyncDirectory, truncateFileSync, writeFully, TEMP_SUFFIX } from '../replication/storage-layout.js';
import { CRC_BYTES, chunkCount, computeChunkCrcs, findBadChunk, findBadChunkInParts, partsBytes } from './chunk-checksums.js';
import { DEFAULT_DATANODE_CONFIG, type DatanodeConfig } from './config.js';

export const META_MAGIC = 'TBLK';
export const META_VERSION = 1;
export const META_HEADER_BYTES = 16;
export const BLOCK_ID_BYTES_MAX = 128;
export const BLOCK_ID_RE = /^[a-z0-9-]+_[0-9]+$/;
const META_NAME_RE = /^([a-z0-9-]+_[0-9]+)_([0-9]+)\.meta$/;
const CORRUPT_SUFFIX = '.corrupt';

export interface ReplicaInfo {
  blockId: string;
  genStamp: number;
  length: number;
  finalized: boolean;
}

/** A chunk-aligned stretch of a replica with the CRCs of its chunks, as stored. */
export interface BlockPiece {
  offset: number;
  data: Buffer;
  crcs: Buffer;
}

export type VerifyResult = { ok: true; length: number } | { ok: false; chunkIndex: number };

export function checkBlockId(blockId: unknown): string {
  if (typeof blockId !== 'string' || blockId.length > BLOCK_ID_BYTES_MAX || !BLOCK_ID_RE.test(blockId)) {
    throw new TandemError('INVALID_ARGUMENT', `"${String(blockId).slice(0, 200)}" is not a block id (<shard>_<seq>)`);
  }
  return blockId;
}

function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new TandemError('INVALID_ARGUMENT', `${what} ${value} is not a count`);
}

export function metaName(blockId: string, genStamp: number): string {
  return `${blockId}_${genStamp}.meta`;
}

export function encodeMetaHeader(chunkBytes: number): Buffer {
  const header = Buffer.alloc(META_HEADER_BYTES);
  header.write(META_MAGIC, 0, 'ascii');
  header.writeUInt32BE(META_VERSION, 4);
  header.writeUInt32BE(chunkBytes, 8);
  return header;
}

/** Why `header` is not a meta header this store can use, or null when it is. */
export function metaHeaderProblem(header: Buffer, chunkBytes: number): string | null {
  if (header.length < META_HEADER_BYTES) return `meta header is ${header.length} bytes, expected ${META_HEADER_BYTES}`;
  if (header.toString('ascii', 0, 4) !== META_MAGIC) return 'bad magic (not a Tandem block meta file)';
  const version = header.readUInt32BE(4);
  if (version !== META_VERSION) return `unsupported meta version ${version}`;
  const headerChunkBytes = header.readUInt32BE(8);
  if (headerChunkBytes !== chunkBytes) return `chunk size ${headerChunkBytes} differs from this datanode's ${chunkBytes}`;
  return null;
}

interface Replica extends ReplicaInfo {
  /** The one writer allowed on a replica at a time; null when none is open. */
  writer: ReplicaWriter | null;
}

async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let read = 0;
  while (read < buffer.length) {
    const { bytesRead } = await handle.read(buffer, read, buffer.length - read, position + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return read;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** pwritev of `buffers` at `position`, again for what a short write left. */
async function writevFully(handle: FileHandle, buffers: readonly Buffer[], position: number): Promise<void> {
  let left = buffers;
  let at = position;
  while (left.length > 0) {
    const { bytesWritten } = await handle.writev(left as Buffer[], at);
    if (bytesWritten <= 0) throw new Error(`writev returned ${bytesWritten} bytes`);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of left) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    left = rest;
  }
}

export class BlockStore {
  private readonly replicas = new Map<string, Replica>();
  readonly rbwDir: string;
  readonly finalizedDir: string;

  private constructor(
    readonly dir: string,
    private readonly log: Logger,
    readonly config: DatanodeConfig,
  ) {
    this.rbwDir = join(dir, 'rbw');
    this.finalizedDir = join(dir, 'finalized');
  }

  static async open(dir: string, log: Logger, config: DatanodeConfig = DEFAULT_DATANODE_CONFIG): Promise<BlockStore> {
    const store = new BlockStore(dir, log, config);
    await mkdir(store.rbwDir, { recursive: true });
    await mkdir(store.finalizedDir, { recursive: true });
    await store.load();
    return store;
  }

  // ---------------------------------------------------------------- recovery at open

  private async load(): Promise<void> {
    for (const d of [this.rbwDir, this.finalizedDir]) {
      for (const name of await readdir(d)) {
        if (name.endsWith(TEMP_SUFFIX)) {
          await unlink(join(d, name));
          this.log.info({ file: join(d, name) }, `removed stray temp file ${name}`);
        }
      }
    }
    await this.completeTornFinalizes();
    await this.loadDir(this.finalizedDir, true);
    await this.loadDir(this.rbwDir, false);
  }

  /** finalize renames the data, then the meta: a crash in between leaves the meta alone in rbw/. */
  private async completeTornFinalizes(): Promise<void> {
    const rbwNames = new Set(await readdir(this.rbwDir));
    const finalizedNames = new Set(await readdir(this.finalizedDir));
    for (const name of rbwNames) {
      const match = META_NAME_RE.exec(name);
      if (match?.[1] === undefined) continue;
      const blockId = match[1];
      if (rbwNames.has(blockId) || !finalizedNames.has(blockId)) continue;
      if ([...finalizedNames].some((n) => META_NAME_RE.exec(n)?.[1] === blockId)) continue;
      await rename(join(this.rbwDir, name), join(this.finalizedDir, name));
      await fsyncDirectory(this.finalizedDir);
      await fsyncDirectory(this.rbwDir);
      this.log.warn({ blockId }, `completed the finalize of ${blockId} a crash interrupted (its meta was still in rbw/)`);
    }
  }

  private async setAside(dirPath: string, names: string[], blockId: string, why: string): Promise<void> {
    for (const name of names) {
      if (await exists(join(dirPath, name))) await rename(join(dirPath, name), join(dirPath, name + CORRUPT_SUFFIX));
    }
    await fsyncDirectory(dirPath);
    this.log.error({ blockId, dir: dirPath, files: names, why }, `set replica ${blockId} aside as *.corrupt: ${why}`);
  }

  private async loadDir(dirPath: string, finalized: boolean): Promise<void> {
    const names = (await readdir(dirPath)).filter((n) => !n.endsWith(CORRUPT_SUFFIX)).sort();
    const metas = new Map<string, { name: string; genStamp: number }[]>();
    const dataNames = new Set<string>();
    for (const name of names) {
      const match = META_NAME_RE.exec(name);
      if (match?.[1] !== undefined && match[2] !== undefined) {
        const list = metas.get(match[1]) ?? [];
        list.push({ name, genStamp: Number(match[2]) });
        metas.set(match[1], list);
      } else if (BLOCK_ID_RE.test(name) && name.length <= BLOCK_ID_BYTES_MAX) {
        dataNames.add(name);
      } else {
        this.log.warn({ file: join(dirPath, name) }, `ignored unknown file ${name} in the block store`);
      }
    }
    for (const blockId of dataNames) {
      if (!metas.has(blockId)) await this.setAside(dirPath, [blockId], blockId, 'data file without a meta file');
    }
    for (const [blockId, list] of metas) {
      list.sort((a, b) => b.genStamp - a.genStamp);
      const newest = list[0];
      if (newest === undefined) continue;
      // resumeRbw renames the meta in one step, so two metas mean a copy was left behind by hand or a bug.
      for (const stale of list.slice(1)) await this.setAside(dirPath, [stale.name], blockId, `older meta of genStamp ${stale.genStamp}`);
      if (this.replicas.has(blockId)) {
        await this.setAside(dirPath, [blockId, newest.name], blockId, 'a replica of the same block is also in finalized/');
        continue;
      }
      if (!Number.isSafeInteger(newest.genStamp)) {
        await this.setAside(dirPath, [blockId, newest.name], blockId, 'genStamp out of range');
        continue;
      }
      const length = await this.recoverReplica(dirPath, blockId, newest.name, finalized, dataNames.has(blockId));
      if (length === null) continue;
      this.replicas.set(blockId, { blockId, genStamp: newest.genStamp, length, finalized, writer: null });
    }
  }

  /** The replica's usable length, or null when it was set aside. An rbw replica loses any torn tail. */
  private async recoverReplica(dirPath: string, blockId: string, meta: string, finalized: boolean, hasData: boolean): Promise<number | null> {
    const metaPath = join(dirPath, meta);
    const dataPath = join(dirPath, blockId);
    const metaBytes = await readFile(metaPath);
    const problem = metaHeaderProblem(metaBytes, this.config.chunkBytes);
    if (problem !== null) {
      await this.setAside(dirPath, hasData ? [blockId, meta] : [meta], blockId, problem);
      return null;
    }
    if (!hasData) {
      if (finalized) {
        await this.setAside(dirPath, [meta], blockId, 'finalized meta file without its data file');
        return null;
      }
      // A crash between creating the meta and the data file: an empty replica.
      await open(dataPath, 'w').then((h) => h.close());
    }
    const dataBytes = (await stat(dataPath)).size;
    const cb = this.config.chunkBytes;
    const crcsStored = Math.floor((metaBytes.length - META_HEADER_BYTES) / CRC_BYTES);
    if (finalized) {
      if (crcsStored !== chunkCount(dataBytes, cb) || (metaBytes.length - META_HEADER_BYTES) % CRC_BYTES !== 0) {
        await this.setAside(dirPath, [blockId, meta], blockId, `finalized replica of ${dataBytes} bytes has ${crcsStored} CRCs`);
        return null;
      }
      return dataBytes;
    }
    // rbw: keep the longest prefix whose chunks match their CRCs. Read chunk by chunk (bounded memory).
    let length = 0;
    const handle = await open(dataPath, 'r');
    try {
      const buffer = Buffer.allocUnsafe(cb);
      for (let i = 0; i < crcsStored && length < dataBytes; i++) {
        const bytes = await readFully(handle, buffer.subarray(0, Math.min(cb, dataBytes - length)), length);
        const crcs = metaBytes.subarray(META_HEADER_BYTES + i * CRC_BYTES, META_HEADER_BYTES + (i + 1) * CRC_BYTES);
        if (findBadChunk(buffer.subarray(0, bytes), crcs, cb) >= 0) break;
        length += bytes;
        if (bytes < cb) break;
      }
    } finally {
      await handle.close();
    }
    const crcsKept = chunkCount(length, cb);
    if (length !== dataBytes || crcsKept * CRC_BYTES + META_HEADER_BYTES !== metaBytes.length) {
      truncateFileSync(dataPath, length);
      truncateFileSync(metaPath, META_HEADER_BYTES + crcsKept * CRC_BYTES);
      this.log.warn(
        { blockId, dataBytes, length, crcsStored, crcsKept },
        `rbw replica ${blockId} had a torn tail: kept ${length} of ${dataBytes} bytes (the prefix whose chunks match their CRCs)`,
      );
    }
    return length;
  }

  // ---------------------------------------------------------------- writing

  private dirOf(replica: ReplicaInfo): string {
    return replica.finalized ? this.finalizedDir : this.rbwDir;
  }

  /** A new replica in rbw/. Refused when any replica of the block is here already. */
  async createRbw(blockId: string, genStamp: number): Promise<ReplicaWriter> {
    checkBlockId(blockId);
    checkCount(genStamp, 'genStamp');
    if (this.replicas.has(blockId)) throw new TandemError('INVALID_ARGUMENT', `a replica of ${blockId} already exists on this datanode`);
    const replica: Replica = { blockId, genStamp, length: 0, finalized: false, writer: null };
    // Reserve the id before the first await so a concurrent create is refused.
    this.replicas.set(blockId, replica);
    try {
      const meta = await open(join(this.rbwDir, metaName(blockId, genStamp)), 'w');
      const data = await open(join(this.rbwDir, blockId), 'w').catch(async (err: unknown) => {
        await meta.close();
        throw err;
      });
      await writeFully(meta, [encodeMetaHeader(this.config.chunkBytes)], 0);
      replica.writer = new ReplicaWriter(this, replica, data, meta);
      return replica.writer;
    } catch (err) {
      this.replicas.delete(blockId);
      throw err;
    }
  }

  /** A writer appending to an rbw replica at `genStamp` that holds exactly `length` bytes (a resumed pipeline). */
  async openRbw(blockId: string, genStamp: number, length: number): Promise<ReplicaWriter> {
    const replica = this.replicaAt(blockId, genStamp);
    if (replica.finalized) throw new TandemError('INVALID_ARGUMENT', `replica ${blockId} is finalized; resumeRbw reopens it`);
    if (replica.writer !== null) throw new TandemError('INVALID_ARGUMENT', `replica ${blockId} is already being written`);
    if (replica.length !== length) {
      throw new TandemError('INVALID_ARGUMENT', `replica ${blockId} holds ${replica.length} bytes, the writer expected ${length}`);
    }
    const data = await open(join(this.rbwDir, blockId), 'r+');
    const meta = await open(join(this.rbwDir, metaName(blockId, genStamp)), 'r+').catch(async (err: unknown) => {
      await data.close();
      throw err;
    });
    if (replica.writer !== null) {
      await Promise.all([data.close(), meta.close()]);
      throw new TandemError('INVALID_ARGUMENT', `replica ${blockId} is already being written`);
    }
    replica.writer = new ReplicaWriter(this, replica, data, meta);
    return replica.writer;
  }

  /**
   * Pipeline recovery: the replica (rbw, or finalized and reopened) is cut to `length` bytes
   * and renamed to `newGenStamp`. A writer still open on it (the old pipeline) is closed
   * first: recovery wins. `oldGenStamp`, when given, must match what is here.
   */
  async resumeRbw(blockId: string, oldGenStamp: number | undefined, newGenStamp: number, length: number): Promise<ReplicaInfo> {
    checkBlockId(blockId);
    checkCount(newGenStamp, 'genStamp');
    checkCount(length, 'length');
    const replica = this.replicas.get(blockId);
    if (replica === undefined || (oldGenStamp !== undefined && replica.genStamp !== oldGenStamp)) {
      throw new TandemError('BLOCK_NOT_FOUND', `no replica of ${blockId} at genStamp ${oldGenStamp ?? 'any'} here`);
    }
    if (newGenStamp < replica.genStamp) {
      throw new TandemError('INVALID_ARGUMENT', `genStamp ${newGenStamp} is older than ${blockId}'s ${replica.genStamp}`);
    }
    await replica.writer?.close();
    if (length > replica.length) {
      throw new TandemError('INVALID_ARGUMENT', `replica ${blockId} holds ${replica.length} bytes, fewer than ${length}`);
    }
    const oldMeta = metaName(blockId, replica.genStamp);
    if (replica.finalized) {
      // Meta first, then data: the reverse of finalize, so completeTornFinalizes never mistakes it.
      await rename(join(this.finalizedDir, oldMeta), join(this.rbwDir, oldMeta));
      await rename(join(this.finalizedDir, blockId), join(this.rbwDir, blockId));
      await fsyncDirectory(this.finalizedDir);
      replica.finalized = false;
    }
    if (length % this.config.chunkBytes !== 0) await this.recomputeLastCrc(replica, length);
    truncateFileSync(join(this.rbwDir, blockId), length);
    truncateFileSync(join(this.rbwDir, oldMeta), META_HEADER_BYTES + chunkCount(length, this.config.chunkBytes) * CRC_BYTES);
    if (newGenStamp !== replica.genStamp) await rename(join(this.rbwDir, oldMeta), join(this.rbwDir, metaName(blockId, newGenStamp)));
    await fsyncDirectory(this.rbwDir);
    this.log.info(
      { blockId, genStamp: replica.genStamp, newGenStamp, lengthBefore: replica.length, length },
      `resumed ${blockId} for pipeline recovery: genStamp ${replica.genStamp} → ${newGenStamp}, length ${replica.length} → ${length}`,
    );
    replica.genStamp = newGenStamp;
    replica.length = length;
    return this.infoOf(replica);
  }

  /**
   * A cut mid-chunk leaves a shorter last chunk: check the whole old chunk against its CRC
   * (so a corrupt prefix is never blessed), then store the CRC of the part that stays.
   */
  private async recomputeLastCrc(replica: Replica, length: number): Promise<void> {
    const cb = this.config.chunkBytes;
    const chunkIndex = Math.floor(length / cb);
    const chunkStart = chunkIndex * cb;
    const data = await open(join(this.rbwDir, replica.blockId), 'r');
    const meta = await open(join(this.rbwDir, metaName(replica.blockId, replica.genStamp)), 'r+');
    try {
      const chunk = Buffer.allocUnsafe(Math.min(cb, replica.length - chunkStart));
      const crc = Buffer.allocUnsafe(CRC_BYTES);
      const crcPosition = META_HEADER_BYTES + chunkIndex * CRC_BYTES;
      if ((await readFully(data, chunk, chunkStart)) !== chunk.length || (await readFully(meta, crc, crcPosition)) !== CRC_BYTES) {
        throw new TandemError('BLOCK_NOT_FOUND', `replica ${replica.blockId} is shorter than its recorded length`);
      }
      if (findBadChunk(chunk, crc, cb) >= 0) {
        throw new TandemError('CHECKSUM_MISMATCH', `chunk ${chunkIndex} of ${replica.blockId} fails its CRC32C; it cannot be resumed from here`);
      }
      await writeFully(meta, [computeChunkCrcs(chunk.subarray(0, length - chunkStart), cb)], crcPosition);
    } finally {
      await Promise.allSettled([data.close(), meta.close()]);
    }
  }

  /** @internal called by a writer that finalized: data first, then meta (see completeTornFinalizes). */
  async moveToFinalized(replica: Replica): Promise<void> {
    const meta = metaName(replica.blockId, replica.genStamp);
    await rename(join(this.rbwDir, replica.blockId), join(this.finalizedDir, replica.blockId));
    await rename(join(this.rbwDir, meta), join(this.finalizedDir, meta));
    await fsyncDirectory(this.finalizedDir);
    await fsyncDirectory(this.rbwDir);
    replica.finalized = true;
  }

  // ---------------------------------------------------------------- reading

  private replicaAt(blockId: string, genStamp: number): Replica {
    checkBlockId(blockId);
    const replica = this.replicas.get(blockId);
    if (replica === undefined || replica.genStamp !== genStamp) {
      throw new TandemError(
        'BLOCK_NOT_FOUND',
        replica === undefined
          ? `no replica of ${blockId} on this datanode`
          : `replica of ${blockId} here is at genStamp ${replica.genStamp}, not ${genStamp}`,
      );
    }
    return replica;
  }

  /**
   * Reads [offset, offset + length) of the replica, widened to whole chunks (the CRCs cover
   * whole chunks; a reader trims). Pieces are at most packetDataBytesMax.
   */
  async read(blockId: string, genStamp: number, offset: number, length: number): Promise<ReplicaReader> {
    checkCount(offset, 'offset');
    checkCount(length, 'length');
    const replica = this.replicaAt(blockId, genStamp);
    if (offset + length > replica.length) {
      throw new TandemError('INVALID_ARGUMENT', `read of [${offset}, ${offset + length}) is past the end of ${blockId} (${replica.length} bytes)`);
    }
    const cb = this.config.chunkBytes;
    const start = Math.floor(offset / cb) * cb;
    const end = length === 0 ? start : Math.min(replica.length, Math.ceil((offset + length) / cb) * cb);
    const dir = this.dirOf(replica);
    const data = await open(join(dir, blockId), 'r');
    const meta = await open(join(dir, metaName(blockId, genStamp)), 'r').catch(async (err: unknown) => {
      await data.close();
      throw err;
    });
    return new ReplicaReader(blockId, data, meta, start, end, cb, this.config.packetDataBytesMax);
  }

  /** Reads the whole replica and checks every chunk against its CRC. */
  async verify(blockId: string): Promise<VerifyResult> {
    const replica = this.replicas.get(checkBlockId(blockId));
    if (replica === undefined) throw new TandemError('BLOCK_NOT_FOUND', `no replica of ${blockId} on this datanode`);
    const reader = await this.read(blockId, replica.genStamp, 0, replica.length);
    const cb = this.config.chunkBytes;
    try {
      for await (const piece of reader) {
        const bad = findBadChunk(piece.data, piece.crcs, cb);
        if (bad >= 0) {
          const chunkIndex = piece.offset / cb + bad;
          this.log.error({ blockId, chunkIndex }, `replica ${blockId} is corrupt: chunk ${chunkIndex} fails its CRC32C`);
          return { ok: false, chunkIndex };
        }
      }
    } finally {
      await reader.close();
    }
    return { ok: true, length: replica.length };
  }

  /**
   * Deletes the replica of `blockId` if it is in rbw/ at exactly `genStamp` with no writer
   * open: what a transfer that failed left behind. The caller knows nobody resumes it (a copy
   * of a complete block, which is at that genStamp for good). False, and nothing done, otherwise.
   */
  async discardAbandoned(blockId: string, genStamp: number): Promise<boolean> {
    const replica = this.replicas.get(checkBlockId(blockId));
    if (replica === undefined || replica.genStamp !== genStamp || replica.finalized || replica.writer !== null) return false;
    return (await this.delete(blockId, genStamp)) === 'deleted';
  }

  /** Deletes a replica, unless it is at a genStamp above `genStampMax` (a delete meant for an older copy). */
  async delete(blockId: string, genStampMax = Number.MAX_SAFE_INTEGER): Promise<'deleted' | 'absent' | 'newer'> {
    const replica = this.replicas.get(checkBlockId(blockId));
    if (replica === undefined) return 'absent';
    if (replica.genStamp > genStampMax) return 'newer';
    await replica.writer?.close();
    this.replicas.delete(blockId);
    const dir = this.dirOf(replica);
    await unlink(join(dir, blockId)).catch(() => undefined);
    await unlink(join(dir, metaName(blockId, replica.genStamp))).catch(() => undefined);
    await fsyncDirectory(dir);
    this.log.info({ blockId, genStamp: replica.genStamp, length: replica.length }, `deleted replica ${blockId}`);
    return 'deleted';
  }

  get(blockId: string): ReplicaInfo | undefined {
    const replica = this.replicas.get(blockId);
    return replica === undefined ? undefined : this.infoOf(replica);
  }

  list(): ReplicaInfo[] {
    return [...this.replicas.values()].map((r) => this.infoOf(r));
  }

  /** Data and meta bytes of every replica. */
  usedBytes(): number {
    let bytes = 0;
    for (const r of this.replicas.values()) bytes += r.length + META_HEADER_BYTES + chunkCount(r.length, this.config.chunkBytes) * CRC_BYTES;
    return bytes;
  }

  /** Writers open now (each holds two file handles). */
  get openWriters(): number {
    let count = 0;
    for (const r of this.replicas.values()) if (r.writer !== null) count++;
    return count;
  }

  /** Closes every open writer; their replicas stay in rbw/. */
  async close(): Promise<void> {
    await Promise.all([...this.replicas.values()].map((r) => r.writer?.close()));
  }

  private infoOf(r: Replica): ReplicaInfo {
    return { blockId: r.blockId, genStamp: r.genStamp, length: r.length, finalized: r.finalized };
  }
}

/**
 * Appends to one rbw replica. Appends are queued in call order; each is checked (offset,
 * alignment, every chunk's CRC) synchronously before it is queued, so a caller can refuse
 * a bad packet before forwarding it. The first failed write makes the writer unusable.
 */
export class ReplicaWriter {
  /** Bytes accepted by append(), written or queued. Invariant: ≥ replica.length. */
  private acceptedLength: number;
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private closed: Promise<void> | null = null;
  /** Bytes written since the last write-behind flush started. */
  private unflushedBytes = 0;
  /** The write-behind fdatasync in flight, if any (at most one). */
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly store: BlockStore,
    private readonly replica: Replica,
    private readonly data: FileHandle,
    private readonly meta: FileHandle,
  ) {
    this.acceptedLength = replica.length;
  }

  get blockId(): string {
    return this.replica.blockId;
  }

  /** Bytes written (data and CRCs both in the page cache). */
  get length(): number {
    return this.replica.length;
  }

  private usable(): void {
    if (this.closed !== null) throw new TandemError('INVALID_ARGUMENT', `the writer of ${this.replica.blockId} is closed`);
    if (this.failure !== null) throw this.failure;
  }

  /**
   * Queues `data` (with one CRC per chunk in `crcs`) at `offset`. `data` is one buffer or
   * consecutive parts of one piece (the socket reads a packet came in, written with one
   * pwritev). Throws at once, writing nothing: INVALID_ARGUMENT unless offset is the
   * accepted length and on a chunk boundary, CHECKSUM_MISMATCH when a chunk fails its CRC.
   * The promise settles when the bytes are written (to the page cache).
   */
  append(offset: number, data: Buffer | readonly Buffer[], crcs: Buffer): Promise<void> {
    this.usable();
    const { chunkBytes, blockBytesMax } = this.store.config;
    const blockId = this.replica.blockId;
    const parts = Buffer.isBuffer(data) ? [data] : data;
    const dataBytes = partsBytes(parts);
    if (offset !== this.acceptedLength) throw new TandemError('INVALID_ARGUMENT', `append to ${blockId} at ${offset}, expected ${this.acceptedLength}`);
    if (offset % chunkBytes !== 0) {
      throw new TandemError('INVALID_ARGUMENT', `append to ${blockId} at ${offset}: not on a chunk boundary (only a block's final piece ends mid-chunk)`);
    }
    if (offset + dataBytes > blockBytesMax) throw new TandemError('INVALID_ARGUMENT', `block ${blockId} would exceed ${blockBytesMax} bytes`);
    if (crcs.length !== chunkCount(dataBytes, chunkBytes) * CRC_BYTES) {
      throw new TandemError('INVALID_ARGUMENT', `${crcs.length / CRC_BYTES} CRCs for ${dataBytes} bytes of ${blockId}`);
    }
    const bad = findBadChunkInParts(parts, crcs, chunkBytes);
    if (bad >= 0) throw new TandemError('CHECKSUM_MISMATCH', `chunk ${offset / chunkBytes + bad} of ${blockId} failed its CRC32C on arrival`);
    this.acceptedLength = offset + dataBytes;
    const write = this.tail.then(async () => {
      if (this.failure !== null) throw this.failure;
      try {
        await Promise.all([writevFully(this.data, parts, offset), writeFully(this.meta, [crcs], META_HEADER_BYTES + (offset / chunkBytes) * CRC_BYTES)]);
      } catch (err) {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        throw err;
      }
      this.replica.length = offset + dataBytes;
      this.writeBehind(dataBytes);
    });
    this.tail = write.catch(() => undefined);
    return write;
  }

  /**
   * Write-behind: every writeBehindBytes written, the data file's dirty pages start for the
   * disk (an fdatasync nobody waits for, one at a time) while packets keep arriving, so the
   * fsync at finalize has little left to do and the pipeline does not stall on it at each
   * block's end (HDFS's "sync behind writes"). Durability still comes only from sync().
   */
  private writeBehind(bytes: number): void {
    this.unflushedBytes += bytes;
    if (this.flushing !== null || this.unflushedBytes < this.store.config.writeBehindBytes) return;
    this.unflushedBytes = 0;
    this.flushing = this.data.datasync().then(
      () => {
        this.flushing = null;
      },
      (err: unknown) => {
        this.flushing = null;
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      },
    );
  }

  /** Waits for queued appends, then fsyncs data and meta. */
  async sync(): Promise<void> {
    this.usable();
    await this.tail;
    await this.flushing;
    if (this.failure !== null) throw this.failure;
    await Promise.all([this.data.sync(), this.meta.sync()]);
  }

  /** Makes the replica durable and complete: fsync, close, rename into finalized/, fsync the directories. */
  async finalize(): Promise<ReplicaInfo> {
    await this.sync();
    await this.close();
    await this.store.moveToFinalized(this.replica);
    return { blockId: this.replica.blockId, genStamp: this.replica.genStamp, length: this.replica.length, finalized: true };
  }

  /** Waits for queued appends (ignoring their failures) and closes both files. The replica stays in rbw/. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.tail;
      await this.flushing;
      await Promise.allSettled([this.data.close(), this.meta.close()]);
      if (this.replica.writer === this) this.replica.writer = null;
    })();
    return this.closed;
  }
}

/** Pieces of a replica, each a chunk-aligned stretch ≤ packetBytes with its CRCs. Close it if you stop early. */
export class ReplicaReader implements AsyncIterable<BlockPiece> {
  private closed = false;

  constructor(
    readonly blockId: string,
    private readonly data: FileHandle,
    private readonly meta: FileHandle,
    /** First byte of the first piece (chunk-aligned). */
    readonly start: number,
    /** End of the last piece. */
    readonly end: number,
    private readonly chunkBytes: number,
    private readonly packetBytes: number,
  ) {}

  /** Bytes of the piece that starts at `offset` (chunk-aligned, within [start, end)). */
  pieceBytesAt(offset: number): number {
    return Math.min(this.packetBytes, this.end - offset);
  }

  /**
   * Reads the piece at `offset` into `into` from `at` on: its CRCs, then its data, so a
   * caller that leaves room in front for a packet header sends the whole packet as one
   * buffer, and can reuse `into` for the next one.
   */
  async readPieceInto(offset: number, into: Buffer, at: number): Promise<BlockPiece> {
    const bytes = this.pieceBytesAt(offset);
    const crcBytes = chunkCount(bytes, this.chunkBytes) * CRC_BYTES;
    return this.readPieceTo(offset, into.subarray(at + crcBytes, at + crcBytes + bytes), into.subarray(at, at + crcBytes));
  }

  private readPiece(offset: number): Promise<BlockPiece> {
    const bytes = this.pieceBytesAt(offset);
    return this.readPieceTo(offset, Buffer.allocUnsafe(bytes), Buffer.allocUnsafe(chunkCount(bytes, this.chunkBytes) * CRC_BYTES));
  }

  private async readPieceTo(offset: number, data: Buffer, crcs: Buffer): Promise<BlockPiece> {
    if (this.closed) throw new TandemError('INVALID_ARGUMENT', `the reader of ${this.blockId} is closed`);
    const [dataRead, crcsRead] = await Promise.all([
      readFully(this.data, data, offset),
      readFully(this.meta, crcs, META_HEADER_BYTES + (offset / this.chunkBytes) * CRC_BYTES),
    ]);
    if (dataRead !== data.length || crcsRead !== crcs.length) {
      throw new TandemError('BLOCK_NOT_FOUND', `replica ${this.blockId} shrank while being read (at ${offset})`);
    }
    return { offset, data, crcs };
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<BlockPiece> {
    try {
      // One piece read ahead, so the disk works while the caller sends the previous one.
      let next = this.start < this.end ? this.readPiece(this.start) : null;
      while (next !== null && !this.closed) {
        const piece = await next;
        const following = piece.offset + piece.data.length;
        next = following < this.end ? this.readPiece(following) : null;
        // A rejected read-ahead is awaited (and thrown) on the next turn; keep it from being unhandled meanwhile.
        next?.catch(() => undefined);
        yield piece;
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.data.close(), this.meta.close()]);
  }
}
