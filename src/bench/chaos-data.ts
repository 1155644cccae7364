// The data workload of `tandem bench chaos` (src/bench/chaos.ts): small files with random
// bytes written through the client's data path (NS create, FMS addBlock/complete, datanode
// pipelines, NS complete), and read back at the check, each compared with the SHA-256 and
// length its worker kept (judgeContent, src/bench/chaos-judge.ts).

import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileWriter } from '../client/file-writer.js';
import type { TandemClient } from '../client/tandem-client.js';
import { TandemError } from '../errors.js';
import type { ContentRecord, SeenContent } from './chaos-judge.js';
import { withTimeout } from './chaos-kill.js';

/** A data slot's file holds this many random bytes, at least and at most (uniform). */
export const FILE_BYTES_MIN = 4 * 1024;
export const FILE_BYTES_MAX = 200 * 1024;
/** Small blocks, so that a larger file has two: its second addBlock completes the first. */
export const DATA_BLOCK_BYTES = 128 * 1024;
/** A write (every FMS call, the pipelines, the completes) must end within this; then its writer is destroyed and the write is in doubt. */
const WRITE_DEADLINE_MS = 60_000;
/** Files read back at once at the check. */
const READS_IN_FLIGHT = 4;
/** One file's read back must end within this. */
const READ_DEADLINE_MS = 60_000;

/** Fresh random content for a data slot, with what the check compares it with. */
export function freshContent(): { data: Buffer; bytes: number; sha256: string } {
  const data = randomBytes(randomInt(FILE_BYTES_MIN, FILE_BYTES_MAX + 1));
  return { data, bytes: data.length, sha256: sha256(data) };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** NS.create for a data file; the writer then takes its bytes. The client's pool map must already be known, so nothing else can fail after the create. */
export function createForWrite(client: TandemClient, path: string, replication: number): Promise<FileWriter> {
  return client.createFile(path, { replication, blockSize: DATA_BLOCK_BYTES });
}

/** Streams `data` into `writer` and completes the file (FMS, then NS); rejects, with the writer destroyed, on any failure or after WRITE_DEADLINE_MS. */
export async function writeContent(writer: FileWriter, data: Buffer): Promise<void> {
  try {
    await withTimeout(pipeline(Readable.from([data]), writer), WRITE_DEADLINE_MS, 'the write');
  } finally {
    // A write that failed or timed out leaves its pipeline and its lease renewals behind otherwise.
    if (writer.length === null) writer.destroy();
  }
  if (writer.length !== data.length) {
    throw new TandemError('INTERNAL', `the file was completed at ${writer.length} bytes, ${data.length} were written`);
  }
}

/** A file found at a slot's place, to read back, and what its worker wrote (null: no writer). */
export interface ContentToCheck {
  path: string;
  expected: ContentRecord | null;
}

export interface ReadBack {
  item: ContentToCheck;
  seen: SeenContent;
}

/** Reads back every file (a few at a time): each as complete (its bytes' length and SHA-256), under construction, or unreadable. */
export async function readBackAll(client: TandemClient, items: readonly ContentToCheck[]): Promise<{ results: ReadBack[]; filesRead: number; bytesRead: number }> {
  const results: ReadBack[] = [];
  let filesRead = 0;
  let bytesRead = 0;
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      const seen = await withTimeout(readBack(client, item.path), READ_DEADLINE_MS, `reading ${item.path} back`).catch(
        (err: unknown): SeenContent => ({ state: 'unreadable', code: err instanceof TandemError ? `${err.code}: ${err.message}` : String(err) }),
      );
      if (seen.state === 'complete') {
        filesRead++;
        bytesRead += seen.bytes;
      }
      results.push({ item, seen });
    }
  };
  await Promise.all(Array.from({ length: READS_IN_FLIGHT }, reader));
  return { results, filesRead, bytesRead };
}

async function readBack(client: TandemClient, path: string): Promise<SeenContent> {
  const info = await client.getFileInfo(path);
  if (info === null) throw new TandemError('NOT_FOUND', `${path} was listed but is gone`);
  if (info.underConstruction) return { state: 'underConstruction' };
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of await client.openFile(path)) {
    hash.update(piece as Buffer);
    bytes += (piece as Buffer).length;
  }
  return { state: 'complete', bytes, sha256: hash.digest('hex') };
}
