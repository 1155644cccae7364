// `tandem bench verify`: every path in an ack log must exist. An acknowledged create that
// is missing after a crash and restart is a lost write.
import { readFile } from 'node:fs/promises';
import type { TandemClient } from '../client/tandem-client.js';
import { runWindow } from './window.js';

export interface VerifyResult {
  checked: number;
  missing: number;
  /** The first few missing paths, for the operator. */
  missingSample: string[];
}

export async function verifyAckLog(client: TandemClient, ackLogPath: string): Promise<VerifyResult> {
  const paths = (await readFile(ackLogPath, 'utf8')).split('\n').filter((line) => line.length > 0);
  const missingSample: string[] = [];
  let missing = 0;
  const result = await runWindow(paths.length, 256, async (i) => {
    const path = paths[i]!;
    if (await client.getFileInfo(path)) return;
    missing++;
    if (missingSample.length < 10) missingSample.push(path);
  });
  if (result.errors > 0) throw new Error(`verify could not check ${result.errors} paths: ${result.firstError}`);
  return { checked: paths.length, missing, missingSample };
}
