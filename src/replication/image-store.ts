// fsimage files (DESIGN §3, "Images"): the whole state after some txid.
//
//   fsimage_<txid> = header (32 bytes) | msgpack payload | u32be crc32c(payload)
//   header         = "TNDMIMG1" | u32be version (1) | u32be reserved (0) | u64be txid | u64be payload length
//
// An image is written to a temp file, fsynced and renamed, so `fsimage_<txid>` is either
// absent or complete; the CRC catches what the disk does to it afterwards. A payload can
// be ~100 MB for a million files: it is packed once, written without concatenation, read
// into one Buffer, and checksummed and unpacked as slices of it.

import { performance } from 'node:perf_hooks';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { Packr } from 'msgpackr';
import { TandemError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { fsyncDirectory, imageName, listImages, listTempFiles, writeFileDurably } from './storage-layout.js';

const packr = new Packr({ useRecords: false });

export const IMAGE_MAGIC = 'TNDMIMG1';
export const IMAGE_FORMAT_VERSION = 1;
export const IMAGE_HEADER_BYTES = 32;
const IMAGE_TRAILER_BYTES = 4;

export interface WrittenImage {
  file: string;
  bytes: number;
  ms: number;
}

export interface LoadedImage {
  txid: number;
  payload: unknown;
  file: string;
}

/** Writes `fsimage_<txid>` atomically: temp file, fsync, rename, fsync of the directory. */
export async function writeImage(dir: string, txid: number, payload: unknown, log: Logger): Promise<WrittenImage> {
  const startedMs = performance.now();
  const name = imageName(txid);
  const body = packr.pack(payload);
  const header = Buffer.alloc(IMAGE_HEADER_BYTES);
  header.write(IMAGE_MAGIC, 0, 'ascii');
  header.writeUInt32BE(IMAGE_FORMAT_VERSION, 8);
  header.writeUInt32BE(0, 12);
  header.writeBigUInt64BE(BigInt(txid), 16);
  header.writeBigUInt64BE(BigInt(body.length), 24);
  const trailer = Buffer.alloc(IMAGE_TRAILER_BYTES);
  trailer.writeUInt32BE(crc32c(body), 0);

  const bytes = await writeFileDurably(dir, name, [header, body, trailer]);
  const ms = Math.round(performance.now() - startedMs);
  log.info({ file: name, txid, bytes, ms }, `saved image ${name} (${bytes} bytes in ${ms} ms)`);
  return { file: name, bytes, ms };
}

/**
 * Validates a whole image file's bytes. Returns the decoded image or why it is invalid.
 * `expectedTxid` is the txid the file name claims.
 */
export function decodeImage(buf: Buffer, expectedTxid?: number): { ok: true; txid: number; payload: unknown } | { ok: false; why: string } {
  const checked = checkImageBytes(buf, expectedTxid);
  if (!checked.ok) return checked;
  try {
    return { ok: true, txid: checked.txid, payload: packr.unpack(buf.subarray(IMAGE_HEADER_BYTES, buf.length - IMAGE_TRAILER_BYTES)) };
  } catch (err) {
    return { ok: false, why: `payload does not decode: ${(err as Error).message}` };
  }
}

/**
 * Checks an image file's header, length and CRC without decoding the payload: what an
 * image transfer verifies before it stores the bytes (the loader decodes them later).
 */
export function checkImageBytes(buf: Buffer, expectedTxid?: number): { ok: true; txid: number } | { ok: false; why: string } {
  if (buf.length < IMAGE_HEADER_BYTES + IMAGE_TRAILER_BYTES) {
    return { ok: false, why: `short file: ${buf.length} bytes, a header and checksum need ${IMAGE_HEADER_BYTES + IMAGE_TRAILER_BYTES}` };
  }
  if (buf.toString('ascii', 0, 8) !== IMAGE_MAGIC) return { ok: false, why: 'bad magic (not a Tandem image)' };
  const version = buf.readUInt32BE(8);
  if (version !== IMAGE_FORMAT_VERSION) return { ok: false, why: `unsupported image format version ${version}` };
  const txid = Number(buf.readBigUInt64BE(16));
  if (expectedTxid !== undefined && txid !== expectedTxid) {
    return { ok: false, why: `header txid ${txid} does not match the file name's ${expectedTxid}` };
  }
  const payloadLength = buf.readBigUInt64BE(24);
  const expectedLength = BigInt(IMAGE_HEADER_BYTES + IMAGE_TRAILER_BYTES) + payloadLength;
  if (BigInt(buf.length) !== expectedLength) {
    return { ok: false, why: `length mismatch: header says ${expectedLength} bytes in all, file has ${buf.length}` };
  }
  const payloadEnd = buf.length - IMAGE_TRAILER_BYTES;
  const body = buf.subarray(IMAGE_HEADER_BYTES, payloadEnd);
  const storedCrc = buf.readUInt32BE(payloadEnd);
  const actualCrc = crc32c(body);
  if (storedCrc !== actualCrc) {
    return { ok: false, why: `crc mismatch: crc32c ${actualCrc.toString(16)} != stored ${storedCrc.toString(16)}` };
  }
  return { ok: true, txid };
}

/**
 * Loads the newest image that is valid, falling back to older ones (each rejection is
 * logged). Deletes leftover temp files first. Null when there are no images at all;
 * IMAGE_CORRUPT when there are some but none is valid.
 */
export async function loadNewestValidImage(dir: string, log: Logger): Promise<LoadedImage | null> {
  const temps = await listTempFiles(dir);
  for (const name of temps) {
    // A temp file is an image (or upload) interrupted before its rename: never trusted.
    await unlink(join(dir, name));
    log.warn({ file: name }, `deleted leftover temp file ${name}`);
  }
  if (temps.length > 0) await fsyncDirectory(dir);

  const images = (await listImages(dir)).reverse();
  const rejected: string[] = [];
  for (const image of images) {
    const decoded = decodeImage(await readFile(image.path), image.txid);
    if (decoded.ok) {
      log.info({ file: image.name, txid: image.txid, rejected: rejected.length }, `loaded image ${image.name}`);
      return { txid: decoded.txid, payload: decoded.payload, file: image.name };
    }
    rejected.push(`${image.name} (${decoded.why})`);
    log.warn({ file: image.name, why: decoded.why }, `image ${image.name} is corrupt (${decoded.why}), trying an older one`);
  }
  if (images.length === 0) return null;
  throw new TandemError('IMAGE_CORRUPT', `no valid image in ${dir}: ${rejected.join('; ')}`);
}
