// `tandem fs setrep|append|truncate|concat`: the file operations beyond create, named and
// flagged as `hdfs dfs` names them (-setrep [-w], -appendToFile, -truncate [-w], -concat).

import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { TandemError } from '../errors.js';
import type { TandemClient } from '../client/tandem-client.js';
import { sleep } from '../client/backoff.js';
import { parseNonNegativeInt, parsePositiveInt, printJson } from './common.js';

type WithClient = (body: (client: TandemClient, f: { json?: boolean }) => Promise<void>) => () => Promise<void>;

/** How often -w looks again, and for how long at most. */
const WAIT_POLL_MS = 250;
const WAIT_MS_MAX = 10 * 60_000;

/** Polls `done` until it holds, or fails after WAIT_MS_MAX saying what it waited for. */
async function waitUntil(what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS_MAX;
  while (!(await done())) {
    if (Date.now() > deadline) throw new TandemError('DEADLINE_EXCEEDED', `gave up waiting after ${WAIT_MS_MAX} ms for ${what}`);
    await sleep(WAIT_POLL_MS);
  }
}

/** Every block of the file has exactly `replication` live replicas. */
async function replicatedAs(client: TandemClient, path: string, replication: number): Promise<boolean> {
  const located = await client.getBlockLocations(path);
  return located.blocks.every((block) => block.locations.length === replication);
}

export function registerFileOps(fs: Command, withFsClient: WithClient): void {
  fs.command('setrep')
    .argument('<replication>', 'replicas per block')
    .argument('<paths...>', 'files in Tandem')
    .option('-w, --wait', 'wait until every block has that many replicas')
    .description("change files' replication; copies are made or trimmed to follow")
    .action((text: string, paths: string[], o: { wait?: boolean }) =>
      withFsClient(async (client, f) => {
        const replication = parsePositiveInt(text, 'replication');
        const results = [];
        for (const path of paths) {
          if (!(await client.setReplication(path, replication))) throw new TandemError('IS_DIRECTORY', `${path} is a directory: setrep takes files`);
          if (!f.json) process.stdout.write(`Replication ${replication} set: ${path}\n`);
          if (o.wait) await waitUntil(`${path} to have ${replication} replicas of every block`, () => replicatedAs(client, path, replication));
          results.push({ path, replication });
        }
        if (f.json) printJson(results);
      })(),
    );

  fs.command('append')
    .argument('<local>', "local file ('-' for stdin)")
    .argument('<path>', 'existing file in Tandem')
    .description('append a local file to the end of a file in Tandem (hdfs dfs -appendToFile)')
    .action((local: string, path: string) =>
      withFsClient(async (client, f) => {
        const writer = await client.appendFile(path);
        await pipeline(local === '-' ? process.stdin : createReadStream(local), writer);
        if (f.json) printJson({ path, local, length: writer.length, appended: writer.bytesWritten });
        else process.stdout.write(`${path}: ${writer.bytesWritten} bytes appended, ${writer.length} in all\n`);
      })(),
    );

  fs.command('truncate')
    .argument('<length>', 'new length in bytes')
    .argument('<paths...>', 'files in Tandem')
    .option('-w, --wait', 'wait until a cut inside a block is done and the file is closed')
    .description('cut files to a length (not longer than they are)')
    .action((text: string, paths: string[], o: { wait?: boolean }) =>
      withFsClient(async (client, f) => {
        const newLength = parseNonNegativeInt(text, 'length');
        const results = [];
        for (const path of paths) {
          let done = await client.truncate(path, newLength);
          if (!done && o.wait) {
            await waitUntil(`${path} to close after its truncate`, async () => (await client.getFileInfo(path))?.underConstruction === false);
            done = true;
          }
          if (!f.json) process.stdout.write(done ? `Truncated ${path} to ${newLength} bytes\n` : `Truncating ${path} to ${newLength} bytes: its last block is being cut; the file closes when done (-w waits)\n`);
          results.push({ path, length: newLength, done });
        }
        if (f.json) printJson(results);
      })(),
    );

  fs.command('concat')
    .argument('<target>', 'existing file in Tandem')
    .argument('<sources...>', 'files whose bytes go to the end of target, in order; they are removed')
    .description('concatenate files into the target (hdfs dfs -concat)')
    .action((target: string, sources: string[]) =>
      withFsClient(async (client, f) => {
        await client.concat(target, sources);
        const status = await client.getFileInfo(target);
        if (f.json) printJson({ target, sources, length: status?.length ?? null });
        else process.stdout.write(`${target}: ${sources.length} files appended, ${status?.length ?? '?'} bytes in all\n`);
      })(),
    );
}
