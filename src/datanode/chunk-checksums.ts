// Per-chunk CRC32C of block data (docs/data-path.md, "Block storage"): one big-endian u32
// per `chunkBytes` of data, the last chunk possibly short. The same bytes sit in a meta
// file after its header and in a packet after its header, so one helper serves the block
// store, the server and the client. CRCs are computed natively over subarray views: no
// copies, no per-byte JS.
import { crc32c } from '@node-rs/crc32';

export const CRC_BYTES = 4;

export function chunkCount(dataBytes: number, chunkBytes: number): number {
  return Math.ceil(dataBytes / chunkBytes);
}

/** The CRC32Cs of `data`'s chunks, big-endian u32 each. */
export function computeChunkCrcs(data: Buffer, chunkBytes: number): Buffer {
  const chunks = chunkCount(data.length, chunkBytes);
  const crcs = Buffer.allocUnsafe(chunks * CRC_BYTES);
  for (let i = 0; i < chunks; i++) {
    const start = i * chunkBytes;
    crcs.writeUInt32BE(crc32c(data.subarray(start, Math.min(start + chunkBytes, data.length))), i * CRC_BYTES);
  }
  return crcs;
}

/**
 * Index of the first chunk of `data` whose CRC32C differs from `crcs`, or -1 when all
 * match. The caller checked that `crcs` holds exactly one CRC per chunk.
 */
export function findBadChunk(data: Buffer, crcs: Buffer, chunkBytes: number): number {
  const chunks = chunkCount(data.length, chunkBytes);
  for (let i = 0; i < chunks; i++) {
    const start = i * chunkBytes;
    if (crc32c(data.subarray(start, Math.min(start + chunkBytes, data.length))) !== crcs.readUInt32BE(i * CRC_BYTES)) return i;
  }
  return -1;
}
