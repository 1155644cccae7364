// Shared pieces of the `tandem` subcommands: client construction, printing, exit codes.
import { TandemError } from '../errors.js';
import { TandemClient } from '../client/tandem-client.js';

export interface ClientFlags {
  master: string;
  user?: string;
  deadlineMs?: string;
}

export function clientFrom(flags: ClientFlags): TandemClient {
  return new TandemClient({
    masters: flags.master.split(',').map((s) => s.trim()).filter(Boolean),
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags.deadlineMs ? { deadlineMs: Number(flags.deadlineMs) } : {}),
  });
}

/** Runs a command body; a TandemError becomes one readable line on stderr and exit code 1. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof TandemError) {
      process.stderr.write(`tandem: ${err.code}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

/** Runs a command body with a client that is closed afterwards, errors as runCommand prints them. */
export function withClient(flags: ClientFlags, body: (client: TandemClient) => Promise<void>): Promise<void> {
  return runCommand(async () => {
    const client = clientFrom(flags);
    try {
      await body(client);
    } finally {
      client.close();
    }
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

export function parsePositiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new TandemError('INVALID_ARGUMENT', `${what} must be a positive integer, got "${text}"`);
  return n;
}

export function parseNonNegativeInt(text: string, what: string): number {
  return text === '0' ? 0 : parsePositiveInt(text, what);
}
