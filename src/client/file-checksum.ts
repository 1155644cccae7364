// HDFS's file checksum, MD5MD5CRC32FileChecksum with CRC32C (what WebHDFS GETFILECHECKSUM
// answers): per block, the MD5 of the block's chunk CRC32Cs (each a big-endian u32, one per
// `bytesPerCrc` bytes, the last chunk shorter); for the file, the MD5 of the blocks' MD5s.
// Its bytes are u32 bytesPerCrc | u64 crcPerBlock | the 16-byte MD5, 28 in all, where
// crcPerBlock is the first block's CRC count for a file of more than one block, else 0 (as
// DFSClient.getFileChecksum sets it). Pure: bytes in, checksum out.

import { createHash, type Hash } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import { TandemError } from '../errors.js';

/** HDFS's default dfs.bytes-per-checksum. */
export const HDFS_BYTES_PER_CRC = 512;

/** WebHDFS's FileChecksum JSON object. */
export interface FileChecksum {
  /** "MD5-of-<crcPerBlock>MD5-of-<bytesPerCrc>CRC32C". */
  algorithm: string;
  /** Hex of the 28 bytes. */
  bytes: string;
  length: number;
}

/**
 * The checksum of a file whose blocks have `blockLengths`, from its bytes in order (pieces
 * of any size; each may be reused by the producer once the next is asked for). Fails when
 * the bytes do not add up to the blocks.
 */
export async function fileChecksumOf(blockLengths: readonly number[], bytes: AsyncIterable<Buffer>, bytesPerCrc = HDFS_BYTES_PER_CRC): Promise<FileChecksum> {
  const fileMd5 = createHash('md5');
  const chunk = Buffer.alloc(bytesPerCrc);
  const crcBytes = Buffer.alloc(4);
  let block = 0;
  let leftInBlock = blockLengths[0] ?? 0;
  let chunkFill = 0;
  let blockMd5: Hash = createHash('md5');
  const endChunk = (): void => {
    if (chunkFill === 0) return;
    crcBytes.writeUInt32BE(crc32c(chunk.subarray(0, chunkFill)) >>> 0);
    blockMd5.update(crcBytes);
    chunkFill = 0;
  };
  // Blocks of length 0 end at once (their MD5 is of no CRC at all, as a datanode's would be).
  const endFinishedBlocks = (): void => {
    while (block < blockLengths.length && leftInBlock === 0) {
      endChunk();
      fileMd5.update(blockMd5.digest());
      blockMd5 = createHash('md5');
      block++;
      leftInBlock = blockLengths[block] ?? 0;
    }
  };
  endFinishedBlocks();
  for await (const piece of bytes) {
    let at = 0;
    while (at < piece.length) {
      if (block >= blockLengths.length) throw new TandemError('INTERNAL', `file checksum: more bytes than the ${blockLengths.length} blocks hold`);
      const take = Math.min(piece.length - at, leftInBlock, bytesPerCrc - chunkFill);
      piece.copy(chunk, chunkFill, at, at + take);
      chunkFill += take;
      at += take;
      leftInBlock -= take;
      if (chunkFill === bytesPerCrc) endChunk();
      endFinishedBlocks();
    }
  }
  if (block < blockLengths.length) throw new TandemError('INTERNAL', `file checksum: the bytes ended inside block ${block} of ${blockLengths.length}`);
  const crcPerBlock = blockLengths.length > 1 ? Math.ceil(blockLengths[0]! / bytesPerCrc) : 0;
  const out = Buffer.alloc(28);
  out.writeUInt32BE(bytesPerCrc, 0);
  out.writeBigUInt64BE(BigInt(crcPerBlock), 4);
  fileMd5.digest().copy(out, 12);
  return { algorithm: `MD5-of-${crcPerBlock}MD5-of-${bytesPerCrc}CRC32C`, bytes: out.toString('hex'), length: out.length };
}
