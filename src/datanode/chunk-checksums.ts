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

/**
 * findBadChunk over data given as consecutive parts (views of the socket reads a packet
 * arrived in), so a packet need not be copied into one buffer to be checked: a chunk that
 * spans two parts has its CRC32C carried from one to the next.
 */
export function findBadChunkInParts(parts: readonly Buffer[], crcs: Buffer, chunkBytes: number): number {
  let chunk = 0;
  let inChunk = 0;
  let crc = 0;
  for (const part of parts) {
    for (let pos = 0; pos < part.length; ) {
      const take = Math.min(chunkBytes - inChunk, part.length - pos);
      crc = crc32c(pos === 0 && take === part.length ? part : part.subarray(pos, pos + take), crc);
      inChunk += take;
      pos += take;
      if (inChunk === chunkBytes) {
        if (crc !== crcs.readUInt32BE(chunk * CRC_BYTES)) return chunk;
        chunk++;
        inChunk = 0;
        crc = 0;
      }
    }
  }
  if (inChunk > 0 && crc !== crcs.readUInt32BE(chunk * CRC_BYTES)) return chunk;
  return -1;
}

/** Total bytes of `parts`. */
export function partsBytes(parts: readonly Buffer[]): number {
  let bytes = 0;
  for (const part of parts) bytes += part.length;
  return bytes;
}
