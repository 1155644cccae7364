// `tandem fs …`: file-system commands for people (aligned text) and scripts (--json).
import type { Command } from 'commander';
import { TandemError } from '../errors.js';
import type { FileStatus } from '../namespace/ops.js';
import type { TandemClient } from '../client/tandem-client.js';
import { clusterOptions, parsePositiveInt, printJson, withClient, type ClientFlags } from './common.js';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { crc32c } from '@node-rs/crc32';
import { Progress, formatBytes } from './progress.js';
import { registerFileOps } from './fs-file-ops.js';

interface FsFlags extends ClientFlags {
  json?: boolean;
}

export function modeString(status: Pick<FileStatus, 'type' | 'permission'>): string {
  const bits = status.permission;
  const rwx = (shift: number): string =>
    ((bits >> shift) & 4 ? 'r' : '-') + ((bits >> shift) & 2 ? 'w' : '-') + ((bits >> shift) & 1 ? 'x' : '-');
  const sticky = bits & 0o1000 ? 't' : '';
  return (status.type === 'directory' ? 'd' : '-') + rwx(6) + rwx(3) + rwx(0) + sticky;
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** One `ls -l`-style line, as `hdfs dfs -ls` prints it. */
export function formatListingLine(status: FileStatus, path: string): string {
  const replication = status.type === 'file' ? String(status.replication) : '-';
  return [
    modeString(status),
    replication.padStart(3),
    status.owner.padEnd(10),
    status.group.padEnd(10),
    String(status.length).padStart(12),
    formatTime(status.mtime),
    path + (status.underConstruction ? '  (open)' : ''),
  ].join(' ');
}

function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

async function mustExist(client: TandemClient, path: string): Promise<FileStatus> {
  const status = await client.getFileInfo(path);
  if (!status) throw new TandemError('NOT_FOUND', `${path}: no such file or directory`);
  return status;
}

/**
 * Writes a new file as HDFS's `put` does: into `<path>._COPYING_`, renamed to `path` once
 * complete, so a copy that fails half way never leaves a partial file under the target name
 * (the temporary one is deleted; if even that fails, lease recovery closes it later).
 */
async function copyInto(
  client: TandemClient,
  path: string,
  opts: { force: boolean; replication: number; blockSize?: number },
  source: NodeJS.ReadableStream,
  progress: Progress | null = null,
): Promise<number> {
  if (!opts.force && (await client.getFileInfo(path)) !== null) throw new TandemError('FILE_EXISTS', `${path} exists (use -f to overwrite it)`);
  const temporary = `${path}._COPYING_`;
  const writer = await client.createFile(temporary, { overwrite: true, replication: opts.replication, ...(opts.blockSize ? { blockSize: opts.blockSize } : {}) });
  try {
    await (progress ? pipeline(source, progress.meter(), writer) : pipeline(source, writer));
    if (opts.force) await client.delete(path);
    if (!(await client.rename(temporary, path))) throw new TandemError('FILE_EXISTS', `${path} appeared while it was being copied; the copy is in ${temporary}`);
  } catch (err) {
    if (!(err instanceof TandemError && err.code === 'FILE_EXISTS')) await client.delete(temporary).catch(() => undefined);
    throw err;
  }
  return writer.length ?? 0;
}

async function localSize(local: string): Promise<number> {
  try {
    return (await stat(local)).size;
  } catch (err) {
    throw new TandemError('NOT_FOUND', `cannot read local file ${local}: ${(err as Error).message}`);
  }
}

function parseMode(text: string): number {
  if (!/^[0-7]{3,4}$/.test(text)) throw new TandemError('INVALID_ARGUMENT', `mode must be octal like 755 or 1777, got "${text}"`);
  return parseInt(text, 8);
}

export function registerFs(program: Command): void {
  const fs = clusterOptions(program.command('fs').description('file-system commands against the cluster'))
    .option('--user <name>', 'act as this user (default: the OS user)')
    .option('--json', 'print JSON for scripts instead of text')
    .option('--deadline-ms <ms>', 'give up on a call after this long, retries included');

  // The subcommands' actions run with the `fs` command's own flags (--master, --json, …).
  const withFsClient = (body: (client: TandemClient, f: FsFlags) => Promise<void>) => () => {
    const f = fs.opts<FsFlags>();
    return withClient(f, (client) => body(client, f));
  };

  registerFileOps(fs, withFsClient);

  fs.command('ls')
    .argument('[path]', 'directory or file', '/')
    .description('list a directory (or show one file)')
    .action((path: string) =>
      withFsClient(async (client, f) => {
        const target = await mustExist(client, path);
        const entries: Array<{ path: string; status: FileStatus }> = [];
        if (target.type === 'file') entries.push({ path, status: target });
        else for await (const status of client.listAll(path)) entries.push({ path: joinPath(path, status.name), status });
        if (f.json) return printJson(entries.map((e) => ({ path: e.path, ...e.status })));
        if (target.type === 'directory') process.stdout.write(`Found ${entries.length} items\n`);
        for (const e of entries) process.stdout.write(formatListingLine(e.status, e.path) + '\n');
      })(),
    );

  fs.command('mkdir')
    .argument('<paths...>')
    .description('make directories, with their parents')
    .action((paths: string[]) =>
      withFsClient(async (client, f) => {
        const results = [];
        for (const path of paths) results.push({ path, created: await client.mkdirs(path) });
        if (f.json) printJson(results);
      })(),
    );

  fs.command('touch')
    .argument('<paths...>')
    .description('create empty files, or update the mtime of existing ones')
    .action((paths: string[]) =>
      withFsClient(async (client, f) => {
        const results = [];
        for (const path of paths) {
          const existing = await client.getFileInfo(path);
          if (existing) {
            await client.setTimes(path, { mtime: Date.now() });
            results.push({ path, created: false });
          } else {
            const { fileId } = await client.create(path);
            await client.complete(path, fileId, 0);
            results.push({ path, created: true, fileId });
          }
        }
        if (f.json) printJson(results);
      })(),
    );

  fs.command('rm')
    .argument('<paths...>')
    .option('-r, --recursive', 'delete directories and their contents')
    .description('delete files or directories')
    .action((paths: string[], opts: { recursive?: boolean }) =>
      withFsClient(async (client, f) => {
        const results = [];
        for (const path of paths) {
          const deleted = await client.delete(path, { recursive: Boolean(opts.recursive) });
          if (!deleted && !f.json) throw new TandemError('NOT_FOUND', `${path}: no such file or directory`);
          results.push({ path, deleted });
          if (!f.json) process.stdout.write(`Deleted ${path}\n`);
        }
        if (f.json) printJson(results);
      })(),
    );

  fs.command('mv')
    .argument('<src>')
    .argument('<dst>')
    .description('rename a file or directory (into dst if dst is a directory)')
    .action((src: string, dst: string) =>
      withFsClient(async (client, f) => {
        const renamed = await client.rename(src, dst);
        if (f.json) return printJson({ src, dst, renamed });
        if (!renamed) throw new TandemError('INVALID_ARGUMENT', `mv ${src} ${dst} failed: the source is missing, or the destination exists or has no parent`);
      })(),
    );

  fs.command('stat')
    .argument('<path>')
    .description('show one inode')
    .action((path: string) =>
      withFsClient(async (client, f) => {
        const s = await mustExist(client, path);
        if (f.json) return printJson({ path, ...s });
        const lines = [
          ['path', path],
          ['type', s.type + (s.underConstruction ? ' (under construction)' : '')],
          ['fileId', s.fileId],
          ['permission', `${modeString(s)} (${s.permission.toString(8).padStart(4, '0')})`],
          ['owner', `${s.owner}:${s.group}`],
          ['length', s.length],
          ['replication', s.replication],
          ['blockSize', s.blockSize],
          ['pool', s.pool],
          ['mtime', new Date(s.mtime).toISOString()],
          ['atime', new Date(s.atime).toISOString()],
          ...(s.type === 'directory' ? [['children', s.childrenCount]] : []),
        ];
        for (const [k, v] of lines) process.stdout.write(`${String(k).padEnd(12)} ${String(v)}\n`);
      })(),
    );

  fs.command('du')
    .argument('[path]', 'file or directory', '/')
    .description('total length, files and directories under a path')
    .action((path: string) =>
      withFsClient(async (client, f) => {
        const summary = await client.contentSummary(path);
        if (f.json) return printJson({ path, ...summary });
        process.stdout.write(`${summary.length}  ${summary.fileCount} files  ${summary.directoryCount} directories  ${path}\n`);
      })(),
    );

  fs.command('chmod')
    .argument('<mode>', 'octal mode, e.g. 755')
    .argument('<paths...>')
    .description('set permission bits')
    .action((mode: string, paths: string[]) =>
      withFsClient(async (client) => {
        const permission = parseMode(mode);
        for (const path of paths) await client.setPermission(path, permission);
      })(),
    );

  fs.command('chown')
    .argument('<owner>', 'OWNER, OWNER:GROUP or :GROUP')
    .argument('<paths...>')
    .description('set owner and/or group')
    .action((spec: string, paths: string[]) =>
      withFsClient(async (client) => {
        const [owner, group] = spec.split(':');
        const change = { ...(owner ? { owner } : {}), ...(group ? { group } : {}) };
        if (!change.owner && !change.group) throw new TandemError('INVALID_ARGUMENT', `chown needs OWNER, OWNER:GROUP or :GROUP, got "${spec}"`);
        for (const path of paths) await client.setOwner(path, change);
      })(),
    );

  fs.command('put')
    .argument('<local>', 'local file ("-" for stdin)')
    .argument('<path>', 'where to store it in Tandem')
    .option('-f, --force', 'overwrite an existing file')
    .option('--replication <n>', 'replicas of each block', '3')
    .option('--block-size <bytes>', 'bytes per block (a multiple of 65536)')
    .description('copy a local file into Tandem')
    .action((local: string, path: string, o: { force?: boolean; replication: string; blockSize?: string }) =>
      withFsClient(async (client, f) => {
        const total = local === '-' ? null : await localSize(local);
        const source = local === '-' ? process.stdin : createReadStream(local, { highWaterMark: 1 << 20 });
        const progress = new Progress(`put ${path}`, total);
        const length = await copyInto(
          client,
          path,
          {
            force: o.force === true,
            replication: parsePositiveInt(o.replication, '--replication'),
            ...(o.blockSize ? { blockSize: parsePositiveInt(o.blockSize, '--block-size') } : {}),
          },
          source,
          progress,
        );
        const { seconds } = progress.finish();
        if (f.json) return printJson({ path, length, seconds });
        process.stdout.write(`${path}: ${formatBytes(length)} written in ${seconds.toFixed(1)} s (${formatBytes(length / Math.max(seconds, 0.001))}/s)\n`);
      })(),
    );

  fs.command('get')
    .argument('<path>', 'file in Tandem')
    .argument('<local>', 'local file to write')
    .description('copy a file out of Tandem')
    .action((path: string, local: string) =>
      withFsClient(async (client, f) => {
        const status = await mustExist(client, path);
        const progress = new Progress(`get ${path}`, status.length);
        await pipeline(await client.openFile(path), progress.meter(), createWriteStream(local));
        const { seconds } = progress.finish();
        if (f.json) return printJson({ path, local, length: status.length, seconds });
        process.stdout.write(`${local}: ${formatBytes(status.length)} read in ${seconds.toFixed(1)} s\n`);
      })(),
    );

  fs.command('cat')
    .argument('<path>', 'file in Tandem')
    .description('print a file')
    .action((path: string) =>
      withFsClient(async (client) => {
        await pipeline(await client.openFile(path), process.stdout, { end: false });
      })(),
    );

  fs.command('head')
    .argument('<path>', 'file in Tandem')
    .option('-c, --bytes <n>', 'bytes to print', '1024')
    .description('print the first bytes of a file')
    .action((path: string, o: { bytes: string }) =>
      withFsClient(async (client) => {
        await pipeline(await client.openFile(path, { offset: 0, length: parsePositiveInt(o.bytes, '--bytes') }), process.stdout, { end: false });
      })(),
    );

  fs.command('cp')
    .argument('<src>', 'file in Tandem')
    .argument('<dst>', 'new file in Tandem')
    .option('-f, --force', 'overwrite an existing file')
    .description('copy a file inside Tandem (its bytes go through this client)')
    .action((src: string, dst: string, o: { force?: boolean }) =>
      withFsClient(async (client, f) => {
        const status = await mustExist(client, src);
        if (status.type !== 'file') throw new TandemError('IS_DIRECTORY', `${src} is a directory`);
        const length = await copyInto(client, dst, { force: o.force === true, replication: status.replication, blockSize: status.blockSize }, await client.openFile(src));
        if (f.json) return printJson({ src, dst, length });
        process.stdout.write(`${src} -> ${dst}: ${formatBytes(length)}\n`);
      })(),
    );

  fs.command('checksum')
    .argument('<path>', 'file in Tandem')
    .option('--hdfs', "HDFS's MD5-of-MD5-of-CRC32C file checksum instead (what WebHDFS GETFILECHECKSUM answers)")
    .description("a file's CRC32C over all its bytes (each chunk is checked on the way)")
    .action((path: string, o: { hdfs?: boolean }) =>
      withFsClient(async (client, f) => {
        if (o.hdfs) {
          const sum = await client.getFileChecksum(path);
          if (f.json) return printJson({ path, ...sum });
          process.stdout.write(`${path}\t${sum.algorithm}\t${sum.bytes}\n`);
          return;
        }
        let crc = 0;
        let length = 0;
        for await (const chunk of await client.openFile(path)) {
          crc = crc32c(chunk as Buffer, crc);
          length += (chunk as Buffer).length;
        }
        const hex = (crc >>> 0).toString(16).padStart(8, '0');
        if (f.json) return printJson({ path, algorithm: 'CRC32C', checksum: hex, length });
        process.stdout.write(`${path}\tCRC32C\t${hex}\t${length}\n`);
      })(),
    );
}
