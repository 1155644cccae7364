// File names in a shard's storage directory, and the one fsync that makes renames durable.
//
//   edits_inprogress_<first>    the segment being written (at most one per live writer)
//   edits_<first>-<last>        a finalized segment holding exactly txids first..last
//   fsimage_<txid>              an image of the state after txid
//   *.tmp                       a file being written; never trusted, deleted at load
//
// Txids are zero-padded to 19 digits (as HDFS does) so a plain name sort is txid order.

import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const TXID_DIGITS = 19;
export const TEMP_SUFFIX = '.tmp';
export const LOCK_FILE = 'in_use.lock';

const IN_PROGRESS_RE = /^edits_inprogress_(\d{19})$/;
const FINALIZED_RE = /^edits_(\d{19})-(\d{19})$/;
const IMAGE_RE = /^fsimage_(\d{19})$/;

export function formatTxid(txid: number): string {
  if (!Number.isSafeInteger(txid) || txid < 0) throw new Error(`invariant broken: txid ${txid} is not a count`);
  return String(txid).padStart(TXID_DIGITS, '0');
}

function parseTxid(digits: string): number | null {
  const txid = Number(digits);
  return Number.isSafeInteger(txid) ? txid : null;
}

export function inProgressSegmentName(firstTxid: number): string {
  return `edits_inprogress_${formatTxid(firstTxid)}`;
}

export function finalizedSegmentName(firstTxid: number, lastTxid: number): string {
  return `edits_${formatTxid(firstTxid)}-${formatTxid(lastTxid)}`;
}

export function imageName(txid: number): string {
  return `fsimage_${formatTxid(txid)}`;
}

export interface SegmentFile {
  name: string;
  path: string;
  firstTxid: number;
  /** Known from the name for a finalized segment; null while in progress. */
  lastTxid: number | null;
  inProgress: boolean;
}

export interface ImageFile {
  name: string;
  path: string;
  txid: number;
}

export function parseSegmentName(dir: string, name: string): SegmentFile | null {
  const inProgress = IN_PROGRESS_RE.exec(name);
  if (inProgress?.[1] !== undefined) {
    const firstTxid = parseTxid(inProgress[1]);
    if (firstTxid === null) return null;
    return { name, path: join(dir, name), firstTxid, lastTxid: null, inProgress: true };
  }
  const finalized = FINALIZED_RE.exec(name);
  if (finalized?.[1] !== undefined && finalized[2] !== undefined) {
    const firstTxid = parseTxid(finalized[1]);
    const lastTxid = parseTxid(finalized[2]);
    if (firstTxid === null || lastTxid === null) return null;
    return { name, path: join(dir, name), firstTxid, lastTxid, inProgress: false };
  }
  return null;
}

export function parseImageName(dir: string, name: string): ImageFile | null {
  const match = IMAGE_RE.exec(name);
  if (match?.[1] === undefined) return null;
  const txid = parseTxid(match[1]);
  return txid === null ? null : { name, path: join(dir, name), txid };
}

/** Every edit segment in the directory, by first txid (finalized before in-progress on a tie). */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const segments: SegmentFile[] = [];
  for (const name of await readdir(dir)) {
    const segment = parseSegmentName(dir, name);
    if (segment) segments.push(segment);
  }
  return segments.sort((a, b) => a.firstTxid - b.firstTxid || Number(a.inProgress) - Number(b.inProgress));
}

/** Every image in the directory, oldest (lowest txid) first. */
export async function listImages(dir: string): Promise<ImageFile[]> {
  const images: ImageFile[] = [];
  for (const name of await readdir(dir)) {
    const image = parseImageName(dir, name);
    if (image) images.push(image);
  }
  return images.sort((a, b) => a.txid - b.txid);
}

export async function listTempFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith(TEMP_SUFFIX)).sort();
}

/** Makes creations, renames and deletions in `dir` durable: without it a crash can undo them. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** writeFully's synchronous twin, for small writes on the event loop (a group commit batch). */
export function writeFullySync(fd: number, buffer: Buffer, position: number): number {
  let offset = 0;
  while (offset < buffer.length) {
    const bytesWritten = writeSync(fd, buffer, offset, buffer.length - offset, position + offset);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} bytes`);
    offset += bytesWritten;
  }
  return offset;
}

/**
 * Writes every byte of `buffers` at `position`. A file write may be partial (a full disk,
 * a signal); a journal that assumed otherwise would fsync a hole and call it durable.
 */
export async function writeFully(handle: FileHandle, buffers: readonly Buffer[], position: number): Promise<number> {
  let written = 0;
  for (const buffer of buffers) {
    let offset = 0;
    while (offset < buffer.length) {
      const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset, position + written);
      if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} bytes`);
      offset += bytesWritten;
      written += bytesWritten;
    }
  }
  return written;
}

/**
 * Replaces `dir/name` atomically and durably: temp file, fsync, rename, fsync of the
 * directory. A crash leaves either the old file or the new one, never a mix.
 */
export async function writeFileDurably(dir: string, name: string, buffers: Buffer | readonly Buffer[]): Promise<number> {
  const finalPath = join(dir, name);
  const tempPath = finalPath + TEMP_SUFFIX;
  const handle = await open(tempPath, 'w');
  let bytes: number;
  try {
    bytes = await writeFully(handle, Buffer.isBuffer(buffers) ? [buffers] : buffers, 0);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tempPath).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(tempPath, finalPath);
  await fsyncDirectory(dir);
  return bytes;
}

/** Cuts a file to `length` bytes and fsyncs it (a torn tail at recovery, an uncommitted tail on a standby). */
export function truncateFileSync(path: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
