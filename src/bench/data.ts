// `tandem bench data`: the data path's throughput next to the raw disk's, measured in the
// same run on the same disk (issue 4, item 9).
//
//   1. disk write: one file of files × size bytes written in 4 MiB pieces, fsynced once at
//      the end (`dd bs=4M conv=fsync`), in the directory of the cluster (cluster.json's),
//      which holds the datanodes' directories: the same disk;
//   2. F files of M MiB written with replication 1, then F with replication 3, one file at
//      a time, each a stream of 1 MiB pieces (every block is fsynced once, at finalize);
//   3. the page cache dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`, when allowed);
//      disk read: the disk file read back in 4 MiB pieces; then every file read back
//      through the cluster and compared byte for byte with what was written (readMBps,
//      readMBps1: readFileReusing, which reuses its buffers as dd does), and the
//      replication-3 files once more through openFile's Readable (readMBpsStream).
//
// When the cache cannot be dropped (not root, a container), both reads come from the page
// cache (everything was just written, and a replica or the disk file is read the same
// way), so the two read figures stay comparable: they then measure the data path against
// memory rather than against the disk. `cacheDropped` says which.
//
// Bytes: 1 MB here is 2^20 bytes (MiB). writeMBps3 counts file bytes; the disk wrote three
// times as many (diskRatioWrite3 = writeMBps3 × 3 / diskWriteMBps).
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TandemClient } from '../client/tandem-client.js';
import { TandemError } from '../errors.js';
import { noteMachine, startCpuMeter, type CpuReport, type MachineNote } from './cpu.js';

/** Bytes the benchmark hands the writer at a time (a FileWriter takes any size; 1 MiB is one packet). */
const PIECE_BYTES = 1 << 20;
/** Bytes per write and read of the raw-disk measurement, as `dd bs=4M`. */
const DISK_IO_BYTES = 4 << 20;
const MiB = 1 << 20;
/** Each piece begins with (run, file, piece) so no two pieces alike and a misplaced one is caught. */
const STAMP_BYTES = 16;

export interface DataBenchOptions {
  client: TandemClient;
  /** Where the raw-disk file goes: a directory on the datanodes' disk. */
  diskDir: string;
  /** The datanodes' directories (to check they share the disk file's device). */
  datanodeDirs: string[];
  sizeBytes: number;
  files: number;
  blockBytes: number;
  /** Processes whose CPU use is reported per phase (cluster.json's). */
  pids?: ReadonlyMap<string, number>;
  /** Leave the files in the cluster afterwards. */
  keep?: boolean;
  /** Drop the page cache before the reads (default true; tests keep it: it is global to the machine). */
  dropCache?: boolean;
  progress?: (line: string) => void;
}

export interface PhaseFigure {
  bytes: number;
  ms: number;
  MBps: number;
  cpu: CpuReport | null;
  /** CPU time the cluster and the benchmark spent per MiB moved (ms): steady when other work slows the phase. */
  cpuMsPerMiB: number | null;
}

export interface DataBenchResult {
  writeMBps1: number;
  writeMBps3: number;
  /** Reading the replication-3 files (one replica of each block). */
  readMBps: number;
  /** Reading the replication-1 files. */
  readMBps1: number;
  /** Reading the replication-3 files through openFile's Readable (a fresh buffer per piece). */
  readMBpsStream: number;
  diskWriteMBps: number;
  diskReadMBps: number;
  /** writeMBps3 × 3 / diskWriteMBps: the share of the disk's write speed the pipeline reached. */
  diskRatioWrite3: number;
  /** readMBps / diskReadMBps. */
  diskRatioRead: number;
  files: number;
  sizeMB: number;
  blockMB: number;
  /** The page cache was dropped before both reads (else both read from memory). */
  cacheDropped: boolean;
  /** Every datanode directory is on the disk file's device. */
  sameDevice: boolean;
  /** Bytes read back and found equal to what was written. */
  verifiedBytes: number;
  runId: string;
  machine: MachineNote;
  phases: Record<'diskWrite' | 'write1' | 'write3' | 'diskRead' | 'read3' | 'read1' | 'read3Stream', PhaseFigure>;
}

/** The deterministic content of the benchmark's files: a random seed piece, stamped per piece. */
export class BenchContent {
  readonly seed: Buffer;
  constructor(
    private readonly run: number,
    readonly pieceBytes = PIECE_BYTES,
  ) {
    this.seed = randomBytes(pieceBytes);
  }

  stamp(file: number, piece: number): Buffer {
    const stamp = Buffer.allocUnsafe(STAMP_BYTES);
    stamp.writeUInt32BE(this.run, 0);
    stamp.writeUInt32BE(file, 4);
    stamp.writeDoubleBE(piece, 8);
    return stamp;
  }

  /** A fresh buffer per piece: the writer holds it until the pipeline acknowledged it. */
  *pieces(file: number, bytes: number): Generator<Buffer> {
    for (let piece = 0, done = 0; done < bytes; piece++) {
      const length = Math.min(this.pieceBytes, bytes - done);
      const buf = Buffer.allocUnsafe(length);
      this.seed.copy(buf, 0, 0, length);
      this.stamp(file, piece).copy(buf, 0, 0, Math.min(STAMP_BYTES, length));
      done += length;
      yield buf;
    }
  }

  /**
   * Checks bytes read at `offset` of file `file` against the content, without building it:
   * each part is compared (memcmp) with the seed or the piece's stamp. Throws on a difference.
   */
  verify(file: number, offset: number, data: Buffer): void {
    let pos = 0;
    while (pos < data.length) {
      const at = offset + pos;
      const piece = Math.floor(at / this.pieceBytes);
      const within = at - piece * this.pieceBytes;
      const length = Math.min(data.length - pos, this.pieceBytes - within);
      const got = data.subarray(pos, pos + length);
      let ok: boolean;
      if (within >= STAMP_BYTES) {
        ok = got.equals(this.seed.subarray(within, within + length));
      } else {
        const stamped = Math.min(length, STAMP_BYTES - within);
        ok =
          got.subarray(0, stamped).equals(this.stamp(file, piece).subarray(within, within + stamped)) &&
          got.subarray(stamped).equals(this.seed.subarray(within + stamped, within + length));
      }
      if (!ok) throw new TandemError('CHECKSUM_MISMATCH', `file ${file}: the bytes read at [${at}, ${at + length}) differ from what was written`);
      pos += length;
    }
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** `sync`, then drop clean page-cache pages. False when the kernel does not let us. */
export async function dropPageCache(): Promise<boolean> {
  syncDisks();
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

/** Flushes every dirty page (so one phase's writeback does not run during the next). */
function syncDisks(): void {
  try {
    execFileSync('sync', { stdio: 'ignore' });
  } catch {
    // No sync(1): the phases then overlap some writeback, as they would on a busy machine.
  }
}

/** Runs a phase; its time is the wall time, or what `body` says it spent when it returns a number of ms. */
async function timed(bytes: number, pids: ReadonlyMap<string, number> | undefined, body: () => Promise<void | number>): Promise<PhaseFigure> {
  const meter = pids ? startCpuMeter(pids) : null;
  const started = performance.now();
  const spent = await body();
  const ms = typeof spent === 'number' ? spent : performance.now() - started;
  const cpu = meter?.stop() ?? null;
  return { bytes, ms: Math.round(ms), MBps: round1(bytes / MiB / (ms / 1000)), cpu, cpuMsPerMiB: cpu === null ? null : round3(cpu.watchedCpuMs / (bytes / MiB)) };
}

/** `dd if=/dev/zero of=FILE bs=4M count=N conv=fsync`, with the benchmark's (incompressible) content. */
async function diskWrite(path: string, bytes: number, content: BenchContent): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const buf = Buffer.allocUnsafe(DISK_IO_BYTES);
    for (let i = 0; i < DISK_IO_BYTES; i += content.pieceBytes) content.seed.copy(buf, i);
    for (let done = 0; done < bytes; ) {
      const length = Math.min(DISK_IO_BYTES, bytes - done);
      let written = 0;
      while (written < length) written += (await handle.write(buf, written, length - written, done + written)).bytesWritten;
      done += length;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `dd if=FILE of=/dev/null bs=4M`. */
async function diskRead(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(DISK_IO_BYTES);
    let total = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, DISK_IO_BYTES, total);
      if (bytesRead === 0) return total;
      total += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

export async function runDataBench(opts: DataBenchOptions): Promise<DataBenchResult> {
  const { client, sizeBytes, files } = opts;
  const progress = opts.progress ?? (() => undefined);
  const run = randomBytes(4).readUInt32BE(0);
  const runId = run.toString(16).padStart(8, '0');
  const root = `/bench-data/${runId}`;
  const diskFile = join(opts.diskDir, `bench-disk-${runId}`);
  const content = new BenchContent(run);
  const totalBytes = sizeBytes * files;
  const machine = noteMachine();

  const device = (await stat(opts.diskDir)).dev;
  const devices = await Promise.all(opts.datanodeDirs.map(async (d) => (await stat(d)).dev));
  const sameDevice = devices.every((d) => d === device);
  if (!sameDevice) progress(`warning: some datanode directories are not on the device of ${opts.diskDir}: the disk figures are not theirs`);

  const pathOf = (replication: number, file: number): string => `${root}/r${replication}/f${file}`;
  const fileIndex = (replication: number, file: number): number => replication * 1_000_000 + file;
  let verifiedBytes = 0;

  /**
   * Writes the files one after the other and returns the time spent writing. A file's
   * pieces are made before its clock starts: producing data is the application's cost, not
   * the file system's (dd's source is a buffer in memory too).
   */
  const writeFiles = async (replication: number): Promise<number> => {
    let ms = 0;
    for (let f = 0; f < files; f++) {
      const pieces = [...content.pieces(fileIndex(replication, f), sizeBytes)];
      const started = performance.now();
      const writer = await client.createFile(pathOf(replication, f), { replication, blockSize: opts.blockBytes });
      await pipeline(Readable.from(pieces), writer);
      ms += performance.now() - started;
      if (writer.length !== sizeBytes) throw new TandemError('INTERNAL', `${pathOf(replication, f)} was closed at ${writer.length} bytes, not ${sizeBytes}`);
    }
    return ms;
  };

  /**
   * Reads the files back, comparing every piece. `reusing`: through readFileReusing — each
   * piece is compared before the next is asked for, so the reader reuses its buffers as dd
   * does; else through openFile, the Readable that hands out a fresh buffer per piece.
   */
  const readFiles = (replication: number, reusing = true): Promise<void> =>
    (async () => {
      for (let f = 0; f < files; f++) {
        let offset = 0;
        const pieces: AsyncIterable<Buffer> = reusing ? client.readFileReusing(pathOf(replication, f)) : await client.openFile(pathOf(replication, f));
        for await (const piece of pieces) {
          content.verify(fileIndex(replication, f), offset, piece);
          offset += piece.length;
        }
        if (offset !== sizeBytes) throw new TandemError('INTERNAL', `${pathOf(replication, f)} read back ${offset} bytes, not ${sizeBytes}`);
        verifiedBytes += offset;
      }
    })();

  try {
    await client.mkdirs(`${root}/r1`);
    await client.mkdirs(`${root}/r3`);
    // The same process writes the disk file and the files, so JIT and allocation warm-up is
    // not charged to the first phase: one small untimed file first.
    await client.writeFile(`${root}/warm-up`, Buffer.concat([...content.pieces(0, 2 * MiB)]), { replication: 1 });
    syncDisks();

    progress(`disk: writing ${totalBytes / MiB} MiB to ${diskFile} in ${DISK_IO_BYTES / MiB} MiB pieces, fsync at the end`);
    const phaseDiskWrite = await timed(totalBytes, opts.pids, () => diskWrite(diskFile, totalBytes, content));
    syncDisks();
    progress(`writing ${files} × ${sizeBytes / MiB} MiB with replication 1`);
    const write1 = await timed(totalBytes, opts.pids, () => writeFiles(1));
    syncDisks();
    progress(`writing ${files} × ${sizeBytes / MiB} MiB with replication 3`);
    const write3 = await timed(totalBytes, opts.pids, () => writeFiles(3));

    let cacheDropped = false;
    if (opts.dropCache === false) syncDisks();
    else cacheDropped = await dropPageCache();
    progress(
      cacheDropped
        ? 'page cache dropped: reads come from the disk'
        : `page cache ${opts.dropCache === false ? 'kept (as asked)' : 'not dropped (not allowed)'}: both reads below come from memory`,
    );
    const phaseDiskRead = await timed(totalBytes, opts.pids, async () => {
      const read = await diskRead(diskFile);
      if (read !== totalBytes) throw new TandemError('INTERNAL', `the disk file read back ${read} bytes, not ${totalBytes}`);
    });
    progress(`reading back (and comparing) the replication-3 files`);
    const read3 = await timed(totalBytes, opts.pids, () => readFiles(3));
    if (cacheDropped) await dropPageCache();
    progress(`reading back (and comparing) the replication-1 files`);
    const read1 = await timed(totalBytes, opts.pids, () => readFiles(1));
    if (cacheDropped) await dropPageCache();
    progress(`reading back (and comparing) the replication-3 files again, through the Readable of openFile`);
    const read3Stream = await timed(totalBytes, opts.pids, () => readFiles(3, false));

    const phases = { diskWrite: phaseDiskWrite, write1, write3, diskRead: phaseDiskRead, read3, read1, read3Stream };
    return {
      writeMBps1: write1.MBps,
      writeMBps3: write3.MBps,
      readMBps: read3.MBps,
      readMBps1: read1.MBps,
      readMBpsStream: read3Stream.MBps,
      diskWriteMBps: phaseDiskWrite.MBps,
      diskReadMBps: phaseDiskRead.MBps,
      diskRatioWrite3: round3((write3.MBps * 3) / phaseDiskWrite.MBps),
      diskRatioRead: round3(read3.MBps / phaseDiskRead.MBps),
      files,
      sizeMB: sizeBytes / MiB,
      blockMB: opts.blockBytes / MiB,
      cacheDropped,
      sameDevice,
      verifiedBytes,
      runId,
      machine: machine.finish(),
      phases,
    };
  } finally {
    await rm(diskFile, { force: true });
    if (!opts.keep) await client.delete(root, { recursive: true }).catch((err: unknown) => progress(`could not delete ${root}: ${(err as Error).message}`));
  }
}
