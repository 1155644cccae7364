// Content and checks for data-path tests: seeded pseudo-random file content with its
// SHA-256, a source stream that runs a fault (a kill) once the writer has taken N bytes,
// whole-file reads hashed, and what a datanode holds on disk.
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** 1 MiB pieces of a seeded pseudo-random stream, and their SHA-256. */
export function content(bytes: number): { pieces: Buffer[]; sha256: string } {
  const seed = randomBytes(1 << 20);
  const pieces: Buffer[] = [];
  const hash = createHash('sha256');
  for (let done = 0, i = 0; done < bytes; i++) {
    const piece = Buffer.from(seed.subarray(0, Math.min(seed.length, bytes - done)));
    piece.writeUInt32BE(i, 0); // no two pieces alike
    pieces.push(piece);
    hash.update(piece);
    done += piece.length;
  }
  return { pieces, sha256: hash.digest('hex') };
}

/**
 * The pieces, in order; once `taken()` (the writer's bytesWritten) reaches `atBytes`, runs
 * `fault` and waits for it before the next piece: the writer goes on meanwhile with what it
 * holds (its buffer, the packets in flight), so the fault lands in the middle of a transfer,
 * at most a buffer's worth past `atBytes`. `fired()` tells whether it ran.
 */
export function faultAt(pieces: Buffer[], taken: () => number, atBytes: number, fault: () => Promise<unknown>): { source: AsyncGenerator<Buffer>; fired: () => boolean } {
  let fired = false;
  async function* source(): AsyncGenerator<Buffer> {
    for (const piece of pieces) {
      if (!fired && taken() >= atBytes) {
        fired = true;
        await fault();
      }
      yield piece;
    }
  }
  return { source: source(), fired: () => fired };
}

/** SHA-256 and length of everything a stream yields. */
export async function digest(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of stream) {
    hash.update(piece as Buffer);
    bytes += (piece as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Whether a datanode holds a finalized replica of `blockId` at `genStamp` (its meta file names the genStamp). */
export async function holdsFinalized(dir: string, blockId: string, genStamp: number): Promise<boolean> {
  const names = await readdir(join(dir, 'finalized')).catch(() => [] as string[]);
  return names.includes(blockId) && names.includes(`${blockId}_${genStamp}.meta`);
}
